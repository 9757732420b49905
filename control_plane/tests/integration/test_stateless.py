"""No state in the API process: a restart loses nothing, a second instance serves the same sessions."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.integration.conftest import ControlPlane, new_session, run
from tests.support import HEADERS_A, HEADERS_B

pytestmark = pytest.mark.docker


def test_a_second_instance_serves_the_same_sessions(
    start_control_plane: Any, plane: ControlPlane, python_template: str
) -> None:
    second: ControlPlane = start_control_plane("plane-b")
    with (
        httpx.Client(base_url=plane.url, headers=HEADERS_A, timeout=60) as first_client,
        httpx.Client(base_url=second.url, headers=HEADERS_A, timeout=60) as second_client,
    ):
        shared = new_session(first_client, python_template)
        assert second_client.get(f"/api/v1/sessions/{shared['id']}").json()["state"] == "ready"
        result = run(second_client, shared["id"], "print('served by either')")
        assert result["stdout"] == "served by either\n"
        listed = first_client.get(f"/api/v1/sessions/{shared['id']}/executions").json()["items"]
        assert result["id"] in {item["id"] for item in listed}
        other_tenant = httpx.get(f"{second.url}/api/v1/sessions/{shared['id']}", headers=HEADERS_B)
        assert other_tenant.status_code == 404
        deleted = second_client.delete(f"/api/v1/sessions/{shared['id']}")
        assert deleted.json()["state"] == "terminated"
        assert first_client.get(f"/api/v1/sessions/{shared['id']}").json()["state"] == "terminated"
    second.stop()


def test_a_restart_of_the_control_plane_loses_no_session_or_execution(
    start_control_plane: Any, python_template: str
) -> None:
    crashing: ControlPlane = start_control_plane("plane-crash")
    with httpx.Client(base_url=crashing.url, headers=HEADERS_A, timeout=60) as client:
        survivor = new_session(client, python_template)
        before = run(client, survivor["id"], "open('/workspace/state', 'w').write('before the crash')")
        in_flight = client.post(
            f"/api/v1/sessions/{survivor['id']}/executions",
            json={"code": "import time\ntime.sleep(4)\nprint(open('/workspace/state').read())", "timeout": 60},
        ).json()
        queued = client.post(
            f"/api/v1/sessions/{survivor['id']}/executions", json={"code": "print('queued before the crash')"}
        ).json()
        deadline = time.monotonic() + 30
        url = f"/api/v1/sessions/{survivor['id']}/executions/{in_flight['id']}"
        while client.get(url).json()["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.1)
    crashing.kill()  # SIGKILL in the middle of a run: no shutdown, no cleanup

    restarted: ControlPlane = start_control_plane("plane-restarted")
    with httpx.Client(base_url=restarted.url, headers=HEADERS_A, timeout=60) as client:
        assert client.get(f"/api/v1/sessions/{survivor['id']}").json()["state"] in ("ready", "running")
        finished = client.get(url, params={"wait_s": 30}).json()
        assert (finished["status"], finished["stdout"]) == ("completed", "before the crash\n"), finished
        later = client.get(f"/api/v1/sessions/{survivor['id']}/executions/{queued['id']}", params={"wait_s": 30}).json()
        assert later["stdout"] == "queued before the crash\n"
        listed = {item["id"] for item in client.get(f"/api/v1/sessions/{survivor['id']}/executions").json()["items"]}
        assert {before["id"], in_flight["id"], queued["id"]} <= listed
        assert run(client, survivor["id"], "print('after')")["stdout"] == "after\n"
        client.delete(f"/api/v1/sessions/{survivor['id']}")


def test_the_request_id_reaches_the_executors_calls(
    plane: ControlPlane, client: httpx.Client, session: dict[str, Any]
) -> None:
    submitted = client.post(
        f"/api/v1/sessions/{session['id']}/executions",
        json={"code": "print('traced')"},
        headers={"X-Request-ID": "trace-integration-7"},
    ).json()
    done = client.get(f"/api/v1/sessions/{session['id']}/executions/{submitted['id']}", params={"wait_s": 30}).json()
    assert done["status"] == "completed"
    records = plane.log_records()
    assert all("unparsed" not in record for record in records), [r for r in records if "unparsed" in r][:3]
    internal = [
        record
        for record in records
        if record.get("api") == "internal" and record.get("request_id") == "trace-integration-7"
    ]
    assert any(record["path"].endswith(f"{submitted['id']}/result") for record in internal), internal
    assert any(
        record.get("event") == "execution_finished" and record.get("request_id") == "trace-integration-7"
        for record in records
    )


def test_no_secret_reaches_the_logs(plane: ControlPlane) -> None:
    text = plane.log_path.read_text()
    for secret in ("token-tenant-a", "token-tenant-b", "internal-token", "SBX_CP_DATABASE_URL"):
        assert secret not in text
    from tests.support import database_url

    url = database_url() or ""
    password = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    assert password not in text
