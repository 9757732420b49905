"""The integration suite: real control-plane processes, the real MariaDB, the real Docker engine.

Each control plane is a ``sandbox-control-plane serve`` process (settings in its environment,
never on its command line) logging JSON to a file the tests read.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import HEADERS_A, INTERNAL_TOKEN, TENANTS, database_url, free_port

EXECUTOR_IMAGE = os.environ.get("SBX_CP_TEST_EXECUTOR_IMAGE", "")


class ControlPlane:
    def __init__(self, runtime_dir: Path, log_path: Path, name: str, **settings: str) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.name = name
        self.env = {
            **os.environ,
            "SBX_CP_DATABASE_URL": database_url() or "",
            "SBX_CP_API_TOKENS": json.dumps(TENANTS),
            "SBX_CP_INTERNAL_API_TOKEN": INTERNAL_TOKEN,
            "SBX_CP_RUNTIME_DIR": str(runtime_dir),
            "SBX_CP_PORT": str(self.port),
            "SBX_CP_INSTANCE_ID": name,
            "SBX_CP_HEARTBEAT_INTERVAL_S": "1",
            "SBX_CP_HEARTBEAT_TIMEOUT_S": "6",
            "SBX_CP_MONITOR_INTERVAL_S": "0.5",
            "SBX_CP_POLL_INTERVAL_S": "0.1",
            "PYTHONDONTWRITEBYTECODE": "1",
            **settings,
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ControlPlane:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sandbox_control_plane", "serve"], env=self.env, stdout=log, stderr=log
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"control plane {self.name} exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"control plane {self.name} did not get ready")

    def kill(self) -> None:
        """As a crash: no shutdown at all."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_records(self) -> list[dict[str, Any]]:
        records = []
        for line in self.log_path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                records.append({"unparsed": line})
        return records


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("control-plane-logs")


@pytest.fixture(scope="session")
def start_control_plane(migrated: None, runtime_dir: Path, logs_dir: Path) -> Iterator[Any]:
    if not EXECUTOR_IMAGE:
        pytest.fail("SBX_CP_TEST_EXECUTOR_IMAGE is not set: run through `make control-plane`")
    started: list[ControlPlane] = []

    def start(name: str, **settings: str) -> ControlPlane:
        plane = ControlPlane(runtime_dir, logs_dir / f"{name}.log", name, **settings).start()
        started.append(plane)
        return plane

    yield start
    for plane in started:
        plane.stop()


@pytest.fixture(scope="session")
def plane(start_control_plane: Any) -> ControlPlane:
    started: ControlPlane = start_control_plane("plane-a")
    return started


@pytest.fixture
def client(plane: ControlPlane) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=plane.url, headers=HEADERS_A, timeout=60) as http:
        yield http


def ensure_template(client: httpx.Client, name: str, **overrides: Any) -> str:
    body: dict[str, Any] = {
        "name": name,
        "image": EXECUTOR_IMAGE,
        "languages": ["python", "bash"],
        "default_resources": {"cpu": 0.5, "memory": "256Mi", "disk": "1Gi"},
        "max_resources": {"cpu": 2, "memory": "1Gi", "disk": "2Gi"},
        **overrides,
    }
    response = client.post("/api/v1/templates", json=body)
    if response.status_code == 409:
        items = client.get("/api/v1/templates", params={"limit": 100}).json()["items"]
        found = next(item for item in items if item["name"] == name)
        response = client.put(f"/api/v1/templates/{found['id']}", json=body)
    assert response.status_code in (200, 201), response.text
    return str(response.json()["id"])


@pytest.fixture(scope="session")
def python_template(plane: ControlPlane) -> str:
    with httpx.Client(base_url=plane.url, headers=HEADERS_A, timeout=60) as http:
        return ensure_template(http, "it-python")


@pytest.fixture(scope="session")
def bridge_template(plane: ControlPlane) -> str:
    with httpx.Client(base_url=plane.url, headers=HEADERS_A, timeout=60) as http:
        return ensure_template(http, "it-python-bridge", network="bridge")


def new_session(client: httpx.Client, template_id: str, **extra: Any) -> dict[str, Any]:
    created = client.post("/api/v1/sessions", json={"template_id": template_id, **extra})
    assert created.status_code == 201, created.text
    ready: dict[str, Any] = client.get(f"/api/v1/sessions/{created.json()['id']}", params={"wait_s": 30}).json()
    assert ready["state"] == "ready", ready
    return ready


def run(client: httpx.Client, session_id: str, code: str, **extra: Any) -> dict[str, Any]:
    submitted = client.post(f"/api/v1/sessions/{session_id}/executions", json={"code": code, **extra})
    assert submitted.status_code == 202, submitted.text
    execution_id = submitted.json()["id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found: dict[str, Any] = client.get(
            f"/api/v1/sessions/{session_id}/executions/{execution_id}", params={"wait_s": 20}
        ).json()
        if found["status"] not in ("pending", "running"):
            return found
    raise AssertionError(f"execution {execution_id} did not finish")


@pytest.fixture(scope="session")
def session(plane: ControlPlane, python_template: str) -> Iterator[dict[str, Any]]:
    """One Python session shared by the tests that only run code in it."""
    with httpx.Client(base_url=plane.url, headers=HEADERS_A, timeout=60) as http:
        created = new_session(http, python_template)
        yield created
        http.delete(f"/api/v1/sessions/{created['id']}")


def docker_inspect(name: str) -> dict[str, Any] | None:
    result = subprocess.run(["docker", "inspect", name], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return None
    found: list[dict[str, Any]] = json.loads(result.stdout)
    return found[0]
