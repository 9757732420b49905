"""Warm pools, idle limits, the health probe and the runtime reconcile, against the real MariaDB
with the fake runtime (the test plays each executor through the internal API)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from sandbox_control_plane.config.settings import Settings
from sandbox_control_plane.container_scheduler.base import ContainerSpec
from sandbox_control_plane.domain import Network, Resources
from sandbox_control_plane.utils.ids import new_id
from sandbox_control_plane.utils.tokens import session_token
from tests.contract.test_api import assert_error, create_session, executor_ready
from tests.fakes import FakeRuntime
from tests.support import HEADERS_A, HEADERS_B, INTERNAL_TOKEN, thread_server


def run_sql(settings: Settings, statement: str, **params: Any) -> list[Any]:
    async def run() -> list[Any]:
        engine = create_async_engine(settings.database_url.get_secret_value())
        try:
            async with engine.begin() as conn:
                result = await conn.execute(sa.text(statement), params)
                return list(result.all()) if result.returns_rows else []
        finally:
            await engine.dispose()

    return asyncio.run(run())


def eventually(check: Callable[[], Any], within: float = 15.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("not within the time allowed")
        time.sleep(0.05)


def members(fake: FakeRuntime, settings: Settings, pool_id: str) -> list[str]:
    rows = run_sql(settings, "SELECT id FROM sessions WHERE pool_id = :pool AND state = 'creating'", pool=pool_id)
    return [row[0] for row in rows if row[0] in fake.specs]


def warm_all(client: httpx.Client, fake: FakeRuntime, settings: Settings, pool_id: str, count: int) -> set[str]:
    """Wait for ``count`` members to be started, then answer ready for each as its executor would."""
    started = eventually(lambda: (found := members(fake, settings, pool_id)) and len(found) >= count and found)
    for session_id in started:
        executor_ready(client, session_id)
    return set(started)


def make_pool(client: httpx.Client, template_id: str, **body: Any) -> dict[str, Any]:
    response = client.post("/api/v1/pools", json={"template_id": template_id, **body}, headers=HEADERS_A)
    assert response.status_code == 201, response.text
    pool: dict[str, Any] = response.json()
    return pool


def test_pool_sizes_and_template_are_checked(client: httpx.Client, template_id: str) -> None:
    body = assert_error(
        client.post(
            "/api/v1/pools", json={"template_id": template_id, "min_size": 5, "max_size": 2}, headers=HEADERS_A
        ),
        422,
        "INVALID_INPUT",
    )
    assert body["error_detail"]["errors"][0]["field"] == "min_size"
    too_big = client.post("/api/v1/pools", json={"template_id": template_id, "max_size": 51}, headers=HEADERS_A)
    assert_error(too_big, 422, "INVALID_INPUT")
    assert too_big.json()["error_detail"]["errors"][0]["allowed"] == "1 to 50"
    memory = client.post(
        "/api/v1/pools", json={"template_id": template_id, "resources": {"memory": "4Gi"}}, headers=HEADERS_A
    )
    assert_error(memory, 422, "INVALID_INPUT")
    assert memory.json()["error_detail"]["errors"][0]["field"] == "resources.memory"
    missing = client.post("/api/v1/pools", json={"template_id": new_id("tpl")}, headers=HEADERS_A)
    assert_error(missing, 404, "NOT_FOUND")


def test_pool_crud_and_tenant_isolation(client: httpx.Client, template_id: str) -> None:
    pool = make_pool(client, template_id, min_size=0, max_size=2, resources={"memory": "512Mi"})
    assert pool["resources"] == {"cpu": 0.5, "memory": "512Mi", "disk": "1Gi"}
    assert (pool["min_size"], pool["max_size"], pool["target_size"]) == (0, 2, 0)
    again = client.post(
        "/api/v1/pools", json={"template_id": template_id, "resources": {"memory": "512Mi"}}, headers=HEADERS_A
    )
    assert_error(again, 409, "CONFLICT")
    assert_error(client.get(f"/api/v1/pools/{pool['id']}", headers=HEADERS_B), 404, "NOT_FOUND")
    listed = client.get("/api/v1/pools", headers=HEADERS_A, params={"limit": 100}).json()["items"]
    assert pool["id"] in [item["id"] for item in listed]
    resized = client.put(f"/api/v1/pools/{pool['id']}/size", json={"min_size": 1, "max_size": 3}, headers=HEADERS_A)
    assert resized.status_code == 200, resized.text
    assert (resized.json()["min_size"], resized.json()["max_size"]) == (1, 3)
    assert client.delete(f"/api/v1/pools/{pool['id']}", headers=HEADERS_A).status_code == 204
    assert_error(client.get(f"/api/v1/pools/{pool['id']}", headers=HEADERS_A), 404, "NOT_FOUND")


def test_a_matching_create_takes_a_warm_container_and_gets_its_variables(
    client: httpx.Client, template_id: str, fake_runtime: FakeRuntime, server_settings: Settings
) -> None:
    pool = make_pool(client, template_id, min_size=2, max_size=2)
    warm = warm_all(client, fake_runtime, server_settings, pool["id"], 2)
    # Unclaimed containers are no tenant's sessions.
    listed = client.get("/api/v1/sessions", headers=HEADERS_A, params={"template_id": template_id}).json()["items"]
    assert not warm & {item["id"] for item in listed}
    assert_error(client.get(f"/api/v1/sessions/{next(iter(warm))}", headers=HEADERS_A), 404, "NOT_FOUND")
    counted = eventually(
        lambda: (got := client.get(f"/api/v1/pools/{pool['id']}", headers=HEADERS_A).json())["warm"] == 2 and got
    )
    assert counted["starting"] == 0

    session = create_session(client, template_id, env={"GREETING": "hello"}, timeout=120)
    assert session["id"] in warm
    assert (session["state"], session["pool_id"]) == ("ready", pool["id"])
    assert session["env_keys"] == ["GREETING"]
    assert fake_runtime.specs[session["id"]].env == {}  # started before the session existed
    # The executor gets the session's variables with its execution.
    client.post(f"/api/v1/sessions/{session['id']}/executions", json={"code": "print(1)"}, headers=HEADERS_A)
    auth = {"Authorization": f"Bearer {session_token(INTERNAL_TOKEN, session['id'])}"}
    claimed = client.post(f"/internal/v1/sessions/{session['id']}/executions/claim", json={"wait_s": 2}, headers=auth)
    assert claimed.json()["execution"]["env"] == {"GREETING": "hello"}

    # Another shape is not served from this pool.
    other = create_session(client, template_id, resources={"memory": "512Mi"})
    assert (other["state"], other["pool_id"]) == ("creating", None)
    # The keeper replaces what was taken.
    eventually(lambda: len(members(fake_runtime, server_settings, pool["id"])) >= 1)


def test_fifty_concurrent_creates_on_two_instances_never_share_a_container(
    client: httpx.Client, template_id: str, fake_runtime: FakeRuntime, server_settings: Settings
) -> None:
    pool = make_pool(client, template_id, min_size=30, max_size=30)
    warm = warm_all(client, fake_runtime, server_settings, pool["id"], 30)
    assert len(warm) == 30
    # A second instance on the same database and the same engine.
    with (
        thread_server(server_settings.model_copy(update={"port": 0}), lambda: fake_runtime) as second,
        httpx.Client(base_url=second.url, timeout=30) as other_client,
    ):

        def create(index: int) -> dict[str, Any]:
            http = client if index % 2 else other_client
            response = http.post("/api/v1/sessions", json={"template_id": template_id}, headers=HEADERS_A)
            assert response.status_code == 201, response.text
            body: dict[str, Any] = response.json()
            return body

        with ThreadPoolExecutor(max_workers=50) as pool_threads:
            created = list(pool_threads.map(create, range(50)))
    ids = [item["id"] for item in created]
    assert len(set(ids)) == 50
    hits = [item["id"] for item in created if item["pool_id"]]
    assert len(hits) == len(set(hits)) == 30
    assert set(hits) == warm
    assert all(item["state"] == "ready" for item in created if item["pool_id"])
    assert all(item["state"] == "creating" for item in created if not item["pool_id"])
    rows = run_sql(
        server_settings,
        "SELECT COUNT(*) FROM sessions WHERE pool_id = :pool AND state = 'warm'",
        pool=pool["id"],
    )
    assert rows[0][0] == 0


def test_an_idle_session_is_ended_with_that_reason(
    client: httpx.Client, template_id: str, server_settings: Settings
) -> None:
    session = create_session(client, template_id, idle_timeout=60)
    assert session["idle_timeout"] == 60
    executor_ready(client, session["id"])
    # The clock of the database moves the session's last use back: 61 s without code running.
    run_sql(
        server_settings,
        "UPDATE sessions SET last_activity_at = UTC_TIMESTAMP(6) - INTERVAL 61 SECOND WHERE id = :id",
        id=session["id"],
    )
    ended = eventually(
        lambda: (
            (got := client.get(f"/api/v1/sessions/{session['id']}", headers=HEADERS_A).json())["state"] == "terminated"
            and got
        )
    )
    assert ended["state_reason"] == "session_idle"


def test_an_executor_that_stops_answering_fails_its_session(
    client: httpx.Client, template_id: str, server_settings: Settings
) -> None:
    session = create_session(client, template_id)
    executor_ready(client, session["id"])
    run_sql(
        server_settings,
        "UPDATE sessions SET executor_seen_at = UTC_TIMESTAMP(6) - INTERVAL 100 SECOND WHERE id = :id",
        id=session["id"],
    )
    failed = eventually(
        lambda: (
            (got := client.get(f"/api/v1/sessions/{session['id']}", headers=HEADERS_A).json())["state"] == "failed"
            and got
        )
    )
    assert failed["state_reason"] == "executor_unresponsive"


def test_reconcile_removes_orphans_and_fails_sessions_whose_container_is_gone(
    client: httpx.Client, template_id: str, fake_runtime: FakeRuntime
) -> None:
    orphan = new_id("ses")  # a container no session row owns (its instance died before writing it)
    fake_runtime.specs[orphan] = ContainerSpec(
        orphan, "tenant-a", "img", Resources(500, 256, 1024), Network.NONE, 64, {}, {}
    )
    session = create_session(client, template_id)
    executor_ready(client, session["id"])
    fake_runtime.removed.append(session["id"])  # removed behind the control plane's back
    eventually(lambda: orphan in fake_runtime.removed)
    lost = eventually(
        lambda: (
            (got := client.get(f"/api/v1/sessions/{session['id']}", headers=HEADERS_A).json())["state"] == "failed"
            and got
        )
    )
    assert lost["state_reason"] == "container_lost"


def test_containers_list_the_live_sessions_with_a_usage_sample(client: httpx.Client, template_id: str) -> None:
    session = create_session(client, template_id)
    executor_ready(client, session["id"])

    def sampled() -> dict[str, Any] | None:
        params: dict[str, Any] = {"limit": 100}
        while True:  # every page: the suite leaves many live sessions
            page = client.get("/api/v1/containers", headers=HEADERS_A, params=params).json()
            found = [item for item in page["items"] if item["session_id"] == session["id"]]
            if found or not page["next_cursor"]:
                return found[0] if found and found[0]["sampled_at"] else None
            params["cursor"] = page["next_cursor"]

    item = eventually(sampled)
    assert item["session_state"] == "ready"
    assert item["node"] == "fake-node"
    assert item["cpu_percent"] == 1.5
    assert item["memory_bytes"] == 32 << 20
    assert item["memory_limit_bytes"] == 256 << 20
    theirs = client.get("/api/v1/containers", headers=HEADERS_B, params={"limit": 100}).json()["items"]
    assert session["id"] not in [entry["session_id"] for entry in theirs]


def test_a_container_without_usage_figures_is_marked_sampled_not_asked_every_sweep(
    client: httpx.Client, template_id: str, fake_runtime: FakeRuntime
) -> None:
    session = create_session(client, template_id)
    fake_runtime.unsampled.add(session["id"])
    executor_ready(client, session["id"])

    def sampled() -> dict[str, Any] | None:
        params: dict[str, Any] = {"limit": 100}
        while True:  # every page: the suite leaves many live sessions
            page = client.get("/api/v1/containers", headers=HEADERS_A, params=params).json()
            found = [item for item in page["items"] if item["session_id"] == session["id"]]
            if found or not page["next_cursor"]:
                return found[0] if found and found[0]["sampled_at"] else None
            params["cursor"] = page["next_cursor"]

    # Before, an empty answer left the session first in line: the same batch was asked every sweep
    # and the others never.
    item = eventually(sampled)
    assert item["cpu_percent"] is None
    assert item["memory_bytes"] is None


@pytest.mark.parametrize("limit", [0, 101])
def test_containers_page_size_is_checked(client: httpx.Client, limit: int) -> None:
    assert_error(client.get("/api/v1/containers", headers=HEADERS_A, params={"limit": limit}), 422, "INVALID_INPUT")
