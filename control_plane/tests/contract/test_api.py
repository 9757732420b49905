"""The API's behaviour against its contract: tenants, errors, the state machine, the internal API."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from sandbox_control_plane.utils.tokens import session_token
from tests.contract.conftest import template_body
from tests.fakes import BROKEN_IMAGE, PLAIN_IMAGE, ROOT_IMAGE, FakeRuntime
from tests.support import HEADERS_A, HEADERS_B, HEADERS_INTERNAL, INTERNAL_TOKEN

ERROR_KEYS = {"error_code", "description", "error_detail", "solution", "request_id"}


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == ERROR_KEYS
    assert body["error_code"] == code
    assert body["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    return body


def create_session(client: httpx.Client, template_id: str, **extra: Any) -> dict[str, Any]:
    response = client.post("/api/v1/sessions", json={"template_id": template_id, **extra}, headers=HEADERS_A)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def executor_ready(client: httpx.Client, session_id: str) -> None:
    token = session_token(INTERNAL_TOKEN, session_id)
    response = client.post(
        f"/internal/v1/sessions/{session_id}/ready",
        json={"protocol": 1},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text


def submit(client: httpx.Client, session_id: str, code: str = "print(1)", **extra: Any) -> dict[str, Any]:
    response = client.post(f"/api/v1/sessions/{session_id}/executions", json={"code": code, **extra}, headers=HEADERS_A)
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


# --- authentication and tenants -----------------------------------------------------------------------
def test_no_token_is_401_with_the_error_shape(client: httpx.Client) -> None:
    body = assert_error(client.get("/api/v1/sessions"), 401, "UNAUTHENTICATED")
    assert "Bearer" in body["solution"]


def test_unknown_token_is_401(client: httpx.Client) -> None:
    response = client.get("/api/v1/templates", headers={"Authorization": "Bearer not-a-token-at-all"})
    assert_error(response, 401, "UNAUTHENTICATED")
    assert response.headers["www-authenticate"] == "Bearer"


def test_another_tenant_gets_404_for_a_session_and_its_executions(client: httpx.Client, template_id: str) -> None:
    session = create_session(client, template_id)
    execution = submit(client, session["id"])
    base = f"/api/v1/sessions/{session['id']}"
    assert client.get(base, headers=HEADERS_A).status_code == 200
    assert_error(client.get(base, headers=HEADERS_B), 404, "NOT_FOUND")
    assert_error(client.delete(base, headers=HEADERS_B), 404, "NOT_FOUND")
    assert_error(client.get(f"{base}/executions", headers=HEADERS_B), 404, "NOT_FOUND")
    assert_error(client.get(f"{base}/executions/{execution['id']}", headers=HEADERS_B), 404, "NOT_FOUND")
    response = client.post(f"{base}/executions", json={"code": "print(2)"}, headers=HEADERS_B)
    assert_error(response, 404, "NOT_FOUND")
    listed = client.get("/api/v1/sessions", headers=HEADERS_B, params={"limit": 100}).json()["items"]
    assert session["id"] not in {item["id"] for item in listed}
    assert_error(client.get(f"/api/v1/templates/{template_id}", headers=HEADERS_B), 404, "NOT_FOUND")


# --- validation: every bad input is named -------------------------------------------------------------
def test_out_of_range_resources_name_field_value_and_allowed(client: httpx.Client, template_id: str) -> None:
    response = client.post(
        "/api/v1/sessions",
        json={"template_id": template_id, "resources": {"cpu": 8, "memory": "16Gi"}, "timeout": 10},
        headers=HEADERS_A,
    )
    errors = {item["field"]: item for item in assert_error(response, 422, "INVALID_INPUT")["error_detail"]["errors"]}
    assert errors["resources.cpu"]["value"] == 8
    assert errors["resources.cpu"]["allowed"] == "<= 4.0"
    assert errors["timeout"]["value"] == 10
    assert "60" in errors["timeout"]["allowed"]


def test_memory_outside_the_specification_is_refused_by_the_service(client: httpx.Client, template_id: str) -> None:
    response = client.post(
        "/api/v1/sessions",
        json={"template_id": template_id, "resources": {"memory": "9Gi"}},
        headers=HEADERS_A,
    )
    (error,) = assert_error(response, 422, "INVALID_INPUT")["error_detail"]["errors"]
    assert error == {
        "field": "resources.memory",
        "value": "9Gi",
        "allowed": "256Mi to 8Gi",
        "message": "memory 9Gi is outside 256Mi to 8Gi",
    }


def test_resources_above_the_templates_maximum_are_refused(client: httpx.Client, template_id: str) -> None:
    response = client.post(
        "/api/v1/sessions", json={"template_id": template_id, "resources": {"cpu": 3}}, headers=HEADERS_A
    )
    (error,) = assert_error(response, 422, "INVALID_INPUT")["error_detail"]["errors"]
    assert error["field"] == "resources.cpu"
    assert error["allowed"].startswith("at most 2")


def test_environment_values_are_never_echoed(client: httpx.Client, template_id: str) -> None:
    secret = "s3cr3t-value-" + "x" * 5000
    response = client.post(
        "/api/v1/sessions",
        json={"template_id": template_id, "env": {"API_KEY": secret, "SBX_SESSION_ID": "x"}},
        headers=HEADERS_A,
    )
    body = assert_error(response, 422, "INVALID_INPUT")
    assert "s3cr3t" not in response.text
    assert {error["field"] for error in body["error_detail"]["errors"]} >= {"env.API_KEY"}


def test_reserved_environment_names_are_refused(client: httpx.Client, template_id: str) -> None:
    response = client.post(
        "/api/v1/sessions", json={"template_id": template_id, "env": {"SBX_SESSION_ID": "x"}}, headers=HEADERS_A
    )
    (error,) = assert_error(response, 422, "INVALID_INPUT")["error_detail"]["errors"]
    assert error["field"] == "env.SBX_SESSION_ID"
    assert "SBX_" in error["allowed"]


def test_unknown_fields_and_bad_enums_are_named(client: httpx.Client, template_id: str) -> None:
    session = create_session(client, template_id)
    response = client.post(
        f"/api/v1/sessions/{session['id']}/executions",
        json={"code": "1", "language": "cobol", "timeout": 0, "extra": 1},
        headers=HEADERS_A,
    )
    errors = {item["field"]: item for item in assert_error(response, 422, "INVALID_INPUT")["error_detail"]["errors"]}
    assert errors["language"]["value"] == "cobol"
    assert "python" in errors["language"]["allowed"]
    assert errors["timeout"]["allowed"] == ">= 1"
    assert errors["extra"]["allowed"].startswith("no such field")


def test_code_size_is_limited(client: httpx.Client, template_id: str) -> None:
    session = create_session(client, template_id)
    response = client.post(f"/api/v1/sessions/{session['id']}/executions", json={"code": "#" * 5000}, headers=HEADERS_A)
    (error,) = assert_error(response, 422, "INVALID_INPUT")["error_detail"]["errors"]
    assert error["field"] == "code"
    assert error["allowed"] == "at most 4096 bytes"


def test_an_oversized_body_is_413(client: httpx.Client, template_id: str) -> None:
    response = client.post(
        f"/api/v1/sessions/{'ses_' + '0' * 26}/executions", content=b"{" + b" " * 70000 + b"}", headers=HEADERS_A
    )
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


def test_malformed_json_is_422(client: httpx.Client) -> None:
    response = client.post(
        "/api/v1/templates", content=b"{not json", headers={**HEADERS_A, "content-type": "application/json"}
    )
    assert_error(response, 422, "INVALID_INPUT")


def test_unknown_route_and_method_use_the_error_shape(client: httpx.Client) -> None:
    assert_error(client.get("/api/v1/nothing-here", headers=HEADERS_A), 404, "NOT_FOUND")
    assert_error(client.patch("/api/v1/sessions", headers=HEADERS_A), 405, "METHOD_NOT_ALLOWED")


def test_a_callers_request_id_is_kept_and_a_bad_one_replaced(client: httpx.Client) -> None:
    kept = client.get("/health", headers={"X-Request-ID": "my-trace-42"})
    assert kept.headers["x-request-id"] == "my-trace-42"
    replaced = client.get("/health", headers={"X-Request-ID": "bad id with spaces"})
    assert replaced.headers["x-request-id"].startswith("req_")


# --- templates ------------------------------------------------------------------------------------------
def test_template_crud(client: httpx.Client) -> None:
    created = client.post("/api/v1/templates", json=template_body("crud-me"), headers=HEADERS_A)
    if created.status_code == 409:  # left by an interrupted run against the same database
        listed = client.get("/api/v1/templates", headers=HEADERS_A, params={"limit": 100}).json()["items"]
        stale = next(item for item in listed if item["name"] == "crud-me")
        assert client.delete(f"/api/v1/templates/{stale['id']}", headers=HEADERS_A).status_code == 204
        created = client.post("/api/v1/templates", json=template_body("crud-me"), headers=HEADERS_A)
    assert created.status_code == 201, created.text
    template = created.json()
    assert template["network"] == "none"
    url = f"/api/v1/templates/{template['id']}"
    assert client.get(url, headers=HEADERS_A).json() == template
    duplicate = client.post("/api/v1/templates", json=template_body("crud-me"), headers=HEADERS_A)
    assert_error(duplicate, 409, "CONFLICT")
    replaced = client.put(url, json=template_body("crud-me", network="bridge", description="d"), headers=HEADERS_A)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["network"] == "bridge"
    assert client.delete(url, headers=HEADERS_A).status_code == 204
    assert_error(client.get(url, headers=HEADERS_A), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"privileged": True}, "INSECURE_TEMPLATE", "privileged"),
        ({"cap_add": ["SYS_ADMIN"]}, "INSECURE_TEMPLATE", "cap_add"),
        ({"image": ROOT_IMAGE}, "INSECURE_TEMPLATE", "image"),
        ({"image": PLAIN_IMAGE}, "IMAGE_NOT_USABLE", "image"),
        ({"image": "sbx-test/absent:1"}, "IMAGE_NOT_USABLE", "image"),
        ({"network": "host"}, "INVALID_INPUT", "network"),
        ({"default_resources": {"cpu": 3, "memory": "256Mi", "disk": "1Gi"}}, "INVALID_INPUT", "default_resources.cpu"),
    ],
)
def test_templates_that_add_privileges_or_cannot_run_are_refused(
    client: httpx.Client, overrides: dict[str, Any], code: str, field: str
) -> None:
    response = client.post("/api/v1/templates", json=template_body("refused", **overrides), headers=HEADERS_A)
    body = assert_error(response, 422, code)
    assert field in {error["field"] for error in body["error_detail"]["errors"]}


def test_a_template_in_use_cannot_be_deleted(client: httpx.Client, template_id: str) -> None:
    create_session(client, template_id)
    assert_error(client.delete(f"/api/v1/templates/{template_id}", headers=HEADERS_A), 409, "TEMPLATE_IN_USE")


# --- the session state machine ------------------------------------------------------------------------------
def test_session_lifecycle_and_invalid_transitions(
    client: httpx.Client, template_id: str, fake_runtime: FakeRuntime
) -> None:
    session = create_session(client, template_id, env={"GREETING": "hi"}, resources={"memory": "512Mi"})
    assert session["state"] == "creating"
    assert session["env_keys"] == ["GREETING"]
    assert session["resources"] == {"cpu": 0.5, "memory": "512Mi", "disk": "1Gi"}
    spec = fake_runtime.specs[session["id"]]
    assert spec.resources.memory_mib == 512
    assert spec.secret_files["token"] == session_token(INTERNAL_TOKEN, session["id"]).encode()
    assert INTERNAL_TOKEN not in str(spec.env)

    executor_ready(client, session["id"])
    url = f"/api/v1/sessions/{session['id']}"
    assert client.get(url, headers=HEADERS_A).json()["state"] == "ready"

    deleted = client.delete(url, headers=HEADERS_A)
    assert deleted.status_code == 200
    assert deleted.json()["state"] == "terminated"
    assert deleted.json()["state_reason"] == "deleted"
    assert session["id"] in fake_runtime.removed

    again = assert_error(client.delete(url, headers=HEADERS_A), 409, "INVALID_STATE_TRANSITION")
    assert again["error_detail"]["current_state"] == "terminated"
    assert "ready" in again["error_detail"]["allowed_from"]
    refused = client.post(f"{url}/executions", json={"code": "1"}, headers=HEADERS_A)
    assert_error(refused, 409, "SESSION_NOT_ACCEPTING_EXECUTIONS")
    token = session_token(INTERNAL_TOKEN, session["id"])
    late_ready = client.post(
        f"/internal/v1/sessions/{session['id']}/ready",
        json={"protocol": 1},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert_error(late_ready, 409, "INVALID_STATE_TRANSITION")


def test_a_container_that_cannot_start_fails_the_session(client: httpx.Client) -> None:
    created = client.post(
        "/api/v1/templates", json=template_body("broken-image", image=BROKEN_IMAGE), headers=HEADERS_A
    )
    template_id = created.json()["id"] if created.status_code == 201 else None
    if template_id is None:
        listed = client.get("/api/v1/templates", headers=HEADERS_A, params={"limit": 100}).json()["items"]
        template_id = next(item["id"] for item in listed if item["name"] == "broken-image")
    response = client.post("/api/v1/sessions", json={"template_id": template_id}, headers=HEADERS_A)
    body = assert_error(response, 503, "RUNTIME_UNAVAILABLE")
    failed = client.get(f"/api/v1/sessions/{body['error_detail']['session_id']}", headers=HEADERS_A).json()
    assert failed["state"] == "failed"


def test_list_sessions_filters_and_pages(client: httpx.Client, template_id: str) -> None:
    ids = {create_session(client, template_id)["id"] for _ in range(3)}
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, "template_id": template_id, "state": ["creating"]}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/sessions", headers=HEADERS_A, params=params).json()
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        assert all(item["state"] == "creating" for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert ids <= set(seen)
    assert seen == sorted(seen)
    empty = client.get(
        "/api/v1/sessions", headers=HEADERS_A, params={"state": "terminated", "template_id": template_id}
    )
    assert not ids & {item["id"] for item in empty.json()["items"]}


# --- executions through the internal API (the test plays the executor) -------------------------------
def test_execution_flow_result_and_request_id_reach_the_executor(client: httpx.Client, template_id: str) -> None:
    session = create_session(client, template_id)
    sid = session["id"]
    executor_ready(client, sid)
    submitted = client.post(
        f"/api/v1/sessions/{sid}/executions",
        json={"code": "print(sum(range(10)))", "timeout": 5},
        headers={**HEADERS_A, "X-Request-ID": "trace-submit-1"},
    )
    assert submitted.status_code == 202
    execution = submitted.json()
    assert execution["status"] == "pending"

    auth = {"Authorization": f"Bearer {session_token(INTERNAL_TOKEN, sid)}"}
    claimed = client.post(f"/internal/v1/sessions/{sid}/executions/claim", json={"wait_s": 2}, headers=auth).json()
    assert claimed["execution"]["id"] == execution["id"]
    assert claimed["execution"]["request_id"] == "trace-submit-1"
    assert client.get(f"/api/v1/sessions/{sid}", headers=HEADERS_A).json()["state"] == "running"

    base = f"/internal/v1/sessions/{sid}/executions/{execution['id']}"
    beat = client.post(f"{base}/heartbeat", headers=auth).json()
    assert beat == {"status": "running", "cancel": False}
    result = {"status": "completed", "exit_code": 0, "stdout": "45\n", "duration_ms": 12}
    assert client.post(f"{base}/result", json=result, headers=auth).json() == {"recorded": True, "status": "completed"}
    repeated = client.post(f"{base}/result", json={**result, "stdout": "other"}, headers=auth).json()
    assert repeated == {"recorded": False, "status": "completed"}

    done = client.get(f"/api/v1/sessions/{sid}/executions/{execution['id']}", headers=HEADERS_A).json()
    assert (done["status"], done["stdout"], done["exit_code"]) == ("completed", "45\n", 0)
    assert client.get(f"/api/v1/sessions/{sid}", headers=HEADERS_A).json()["state"] == "ready"
    cancel_done = client.post(f"/api/v1/sessions/{sid}/executions/{execution['id']}/cancel", headers=HEADERS_A)
    assert_error(cancel_done, 409, "INVALID_STATE_TRANSITION")


def test_waiting_get_returns_when_the_result_arrives(client: httpx.Client, template_id: str) -> None:
    session = create_session(client, template_id)
    sid = session["id"]
    executor_ready(client, sid)
    execution = submit(client, sid)
    auth = {"Authorization": f"Bearer {session_token(INTERNAL_TOKEN, sid)}"}
    client.post(f"/internal/v1/sessions/{sid}/executions/claim", json={"wait_s": 1}, headers=auth)
    started = time.monotonic()
    with httpx.Client(base_url=str(client.base_url), timeout=10) as other:
        import threading

        def report() -> None:
            time.sleep(0.5)
            other.post(
                f"/internal/v1/sessions/{sid}/executions/{execution['id']}/result",
                json={"status": "completed", "exit_code": 0, "duration_ms": 1},
                headers=auth,
            )

        thread = threading.Thread(target=report)
        thread.start()
        done = client.get(
            f"/api/v1/sessions/{sid}/executions/{execution['id']}", params={"wait_s": 5}, headers=HEADERS_A
        ).json()
        thread.join()
    assert done["status"] == "completed"
    assert 0.4 < time.monotonic() - started < 3


def test_cancel_pending_at_once_and_running_through_the_heartbeat(client: httpx.Client, template_id: str) -> None:
    session = create_session(client, template_id)
    sid = session["id"]
    executor_ready(client, sid)
    first, second = submit(client, sid), submit(client, sid)
    auth = {"Authorization": f"Bearer {session_token(INTERNAL_TOKEN, sid)}"}
    claimed = client.post(f"/internal/v1/sessions/{sid}/executions/claim", json={"wait_s": 1}, headers=auth).json()
    assert claimed["execution"]["id"] == first["id"]

    pending = client.post(f"/api/v1/sessions/{sid}/executions/{second['id']}/cancel", headers=HEADERS_A)
    assert (pending.status_code, pending.json()["status"], pending.json()["reason"]) == (202, "cancelled", "cancelled")
    running = client.post(f"/api/v1/sessions/{sid}/executions/{first['id']}/cancel", headers=HEADERS_A)
    assert (running.status_code, running.json()["status"]) == (202, "running")
    beat = client.post(f"/internal/v1/sessions/{sid}/executions/{first['id']}/heartbeat", headers=auth).json()
    assert beat["cancel"] is True


def test_an_execution_whose_heartbeats_stop_is_failed_with_that_reason(client: httpx.Client, template_id: str) -> None:
    session = create_session(client, template_id)
    sid = session["id"]
    executor_ready(client, sid)
    execution = submit(client, sid)
    auth = {"Authorization": f"Bearer {session_token(INTERNAL_TOKEN, sid)}"}
    client.post(f"/internal/v1/sessions/{sid}/executions/claim", json={"wait_s": 1}, headers=auth)
    # heartbeat_timeout_s is 1 s in this suite and nobody beats: the monitor gives it up.
    done = client.get(
        f"/api/v1/sessions/{sid}/executions/{execution['id']}", params={"wait_s": 10}, headers=HEADERS_A
    ).json()
    assert (done["status"], done["reason"]) == ("failed", "heartbeat_lost")
    assert client.get(f"/api/v1/sessions/{sid}", headers=HEADERS_A).json()["state"] == "ready"
    metrics = client.get("/metrics").text
    assert 'sbx_executions_finished_total{reason="heartbeat_lost",status="failed"}' in metrics


# --- the internal API's own guard -----------------------------------------------------------------------------
def test_internal_api_tokens_are_scoped_to_their_session(client: httpx.Client, template_id: str) -> None:
    one, two = create_session(client, template_id), create_session(client, template_id)
    own = {"Authorization": f"Bearer {session_token(INTERNAL_TOKEN, one['id'])}"}
    assert client.post(f"/internal/v1/sessions/{one['id']}/ready", json={"protocol": 1}, headers=own).status_code == 200
    other = client.post(f"/internal/v1/sessions/{two['id']}/ready", json={"protocol": 1}, headers=own)
    assert_error(other, 403, "FORBIDDEN")
    assert_error(client.post(f"/internal/v1/sessions/{two['id']}/ready", json={"protocol": 1}), 401, "UNAUTHENTICATED")
    master = client.post(f"/internal/v1/sessions/{two['id']}/ready", json={"protocol": 1}, headers=HEADERS_INTERNAL)
    assert master.status_code == 200
    tenant_token = client.post(f"/internal/v1/sessions/{two['id']}/ready", json={"protocol": 1}, headers=HEADERS_A)
    assert_error(tenant_token, 403, "FORBIDDEN")


# --- health and readiness ----------------------------------------------------------------------------------------
def test_health_ready_and_metrics(client: httpx.Client, fake_runtime: FakeRuntime) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready", "database": True, "runtime": True}
    fake_runtime.answers = False
    try:
        body = assert_error(client.get("/ready"), 503, "NOT_READY")
        assert body["error_detail"] == {"database": True, "runtime": False}
    finally:
        fake_runtime.answers = True
    time.sleep(0.5)  # one monitor sweep refreshes the gauge
    metrics = client.get("/metrics").text
    assert 'sbx_sessions{state="creating"}' in metrics
    assert "sbx_http_request_duration_seconds_bucket" in metrics
