"""The contract suite: the real app and the real MariaDB, a runtime that starts nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sandbox_control_plane.config.settings import Settings
from tests.fakes import GOOD_IMAGE, FakeRuntime
from tests.support import HEADERS_A, S3Server, ThreadServer, make_settings, thread_server


@pytest.fixture(scope="session")
def fake_runtime() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture(scope="session")
def server(migrated: None, runtime_dir: Path, fake_runtime: FakeRuntime, s3_server: S3Server) -> Iterator[ThreadServer]:
    settings = make_settings(
        runtime_dir,
        heartbeat_timeout_s=1.0,
        monitor_interval_s=0.2,
        poll_interval_s=0.05,
        max_code_bytes=4096,
        max_request_bytes=64 * 1024,
        pool_refill_interval_s=0.2,
        orphan_sweep_interval_s=0.5,
        stats_interval_s=0.5,
        file_max_bytes=256 * 1024,
        **s3_server.settings(),
    )
    with thread_server(settings, lambda: fake_runtime) as running:
        yield running


@pytest.fixture(scope="session")
def server_settings(server: ThreadServer) -> Settings:
    return server.apps.settings


@pytest.fixture
def client(server: ThreadServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


def template_body(name: str, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": name,
        "image": GOOD_IMAGE,
        "languages": ["python", "bash"],
        "default_resources": {"cpu": 0.5, "memory": "256Mi", "disk": "1Gi"},
        "max_resources": {"cpu": 2, "memory": "2Gi", "disk": "10Gi"},
    }
    body.update(overrides)
    return body


@pytest.fixture
def template_id(client: httpx.Client, request: pytest.FixtureRequest) -> str:
    name = "t-" + request.node.name.lower().replace("_", "-")[:50].strip("-")
    found = client.get("/api/v1/templates", headers=HEADERS_A, params={"limit": 100}).json()["items"]
    for item in found:
        if item["name"] == name:
            return str(item["id"])
    response = client.post("/api/v1/templates", json=template_body(name), headers=HEADERS_A)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])
