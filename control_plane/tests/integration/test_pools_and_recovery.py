"""Warm pools, the reconcile after a crash and a kill -9 in the middle of a load run, on the real
engine and the real MariaDB."""

from __future__ import annotations

import subprocess
import threading
import time
from typing import Any

import httpx
import pytest

from tests.integration.conftest import EXECUTOR_IMAGE, ControlPlane, docker_inspect, ensure_template, new_session, run
from tests.support import HEADERS_A

pytestmark = pytest.mark.docker


def wait_until(check: Any, within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {within} s")


def test_a_warm_container_serves_a_create_with_its_variables(start_control_plane: Any) -> None:
    plane: ControlPlane = start_control_plane("plane-pool", SBX_CP_POOL_REFILL_INTERVAL_S="0.5")
    with httpx.Client(base_url=plane.url, headers=HEADERS_A, timeout=60) as client:
        template = ensure_template(client, "it-pool")
        pool = client.post("/api/v1/pools", json={"template_id": template, "min_size": 1, "max_size": 2}).json()
        wait_until(lambda: client.get(f"/api/v1/pools/{pool['id']}").json()["warm"] >= 1, 60, "a warm container")
        created = client.post("/api/v1/sessions", json={"template_id": template, "env": {"GREETING": "warm hello"}})
        assert created.status_code == 201, created.text
        session = created.json()
        assert (session["state"], session["pool_id"]) == ("ready", pool["id"])
        result = run(client, session["id"], "import os\nprint(os.environ['GREETING'])")
        assert result["stdout"] == "warm hello\n", result
        # The container's limits are the pool's shape; it was started as any session's is.
        info = docker_inspect(f"sbx-cp-ses-{session['id']}")
        assert info is not None
        assert info["HostConfig"]["Memory"] == 256 * 1024 * 1024
        assert info["Config"]["User"] == "1000:1000"
        # The keeper starts a replacement.
        wait_until(lambda: client.get(f"/api/v1/pools/{pool['id']}").json()["warm"] >= 1, 60, "a replacement")
        client.delete(f"/api/v1/sessions/{session['id']}")
        assert client.delete(f"/api/v1/pools/{pool['id']}").status_code == 204

        def members_gone() -> bool:
            listed = subprocess.run(
                ["docker", "ps", "-q", "--filter", "label=ai.oneclick.sandbox.managed-by=sbx-cp"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            warm = client.get("/api/v1/pools").json()["items"]
            return not any(item["id"] == pool["id"] for item in warm) and all(
                (docker_inspect(container) or {}).get("Config", {}).get("Labels", {}).get("ai.oneclick.sandbox.session")
                != session["id"]
                for container in listed
            )

        wait_until(members_gone, 30, "the pool's containers removed")
    plane.stop()


def test_after_a_crash_orphans_are_removed_and_sessions_without_a_container_fail(start_control_plane: Any) -> None:
    plane: ControlPlane = start_control_plane("plane-reconcile", SBX_CP_ORPHAN_SWEEP_INTERVAL_S="1")
    with httpx.Client(base_url=plane.url, headers=HEADERS_A, timeout=60) as client:
        template = ensure_template(client, "it-python")
        # A container with our labels and no session (its instance died between start and record).
        orphan = subprocess.run(
            [
                "docker", "run", "-d", "--network", "none", "--user", "1000:1000",
                "--label", "ai.oneclick.sandbox.managed-by=sbx-cp",
                "--label", "ai.oneclick.sandbox.session=ses_0000000000orphan0000000000",
                "--entrypoint", "sleep", EXECUTOR_IMAGE, "600",
            ],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        session = new_session(client, template)
        # Its container removed behind the control plane's back (SIGKILL: the executor cannot report).
        subprocess.run(["docker", "rm", "-f", f"sbx-cp-ses-{session['id']}"], capture_output=True, check=True)
        wait_until(lambda: docker_inspect(orphan) is None, 30, "the orphan removed")
        failed = wait_until(
            lambda: (got := client.get(f"/api/v1/sessions/{session['id']}").json())["state"] == "failed" and got,
            30,
            "the session failed",
        )
        assert failed["state_reason"] == "container_lost"
    plane.stop()


def test_a_kill_in_the_middle_of_a_load_run_loses_no_session_or_execution(start_control_plane: Any) -> None:
    crashing: ControlPlane = start_control_plane("plane-load")
    accepted: list[tuple[str, str]] = []
    errors: list[str] = []
    stop = threading.Event()
    with httpx.Client(base_url=crashing.url, headers=HEADERS_A, timeout=60) as client:
        template = ensure_template(client, "it-python")
        sessions = [new_session(client, template)["id"] for _ in range(4)]

    def load(session_id: str, url: str) -> None:
        with httpx.Client(base_url=url, headers=HEADERS_A, timeout=10) as http:
            index = 0
            while not stop.is_set():
                index += 1
                try:
                    response = http.post(
                        f"/api/v1/sessions/{session_id}/executions",
                        json={"code": f"import time\ntime.sleep(0.2)\nprint({index})"},
                    )
                except httpx.HTTPError:
                    return  # the instance is gone: what it accepted is what counts
                if response.status_code == 202:
                    accepted.append((session_id, response.json()["id"]))
                else:
                    errors.append(response.text)
                time.sleep(0.05)

    threads = [threading.Thread(target=load, args=(sid, crashing.url)) for sid in sessions]
    for thread in threads:
        thread.start()
    time.sleep(4)
    crashing.kill()  # SIGKILL under load
    stop.set()
    for thread in threads:
        thread.join(15)
    assert not errors, errors[:3]
    assert len(accepted) >= 8, "the load run submitted too little to mean anything"

    restarted: ControlPlane = start_control_plane("plane-load-restarted")
    with httpx.Client(base_url=restarted.url, headers=HEADERS_A, timeout=60) as client:
        for session_id in sessions:
            assert client.get(f"/api/v1/sessions/{session_id}").json()["state"] in ("ready", "running")
        for session_id, execution_id in accepted:
            found = client.get(f"/api/v1/sessions/{session_id}/executions/{execution_id}", params={"wait_s": 30})
            assert found.status_code == 200, found.text
            body = found.json()
            deadline = time.monotonic() + 120
            while body["status"] in ("pending", "running") and time.monotonic() < deadline:
                body = client.get(
                    f"/api/v1/sessions/{session_id}/executions/{execution_id}", params={"wait_s": 20}
                ).json()
            assert body["status"] == "completed", body
        for session_id in sessions:
            client.delete(f"/api/v1/sessions/{session_id}")
    restarted.stop()
