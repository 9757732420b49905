"""Helpers the three suites share: the test bed's settings, tokens, a server in a thread."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import SecretStr

from sandbox_control_plane.api.app import Apps
from sandbox_control_plane.config.logging import configure_logging
from sandbox_control_plane.config.settings import Settings
from sandbox_control_plane.container_scheduler.base import ContainerRuntime

TOKEN_A = "token-tenant-a-0123456789"
TOKEN_B = "token-tenant-b-0123456789"
INTERNAL_TOKEN = "internal-token-0123456789abcdef"
TENANTS = {"tenant-a": TOKEN_A, "tenant-b": TOKEN_B}
HEADERS_A = {"Authorization": f"Bearer {TOKEN_A}"}
HEADERS_B = {"Authorization": f"Bearer {TOKEN_B}"}
HEADERS_INTERNAL = {"Authorization": f"Bearer {INTERNAL_TOKEN}"}


def database_url() -> str | None:
    """The test bed's database (control_plane/scripts/testbed.sh db-up writes it to a 0600 file)."""
    if os.environ.get("SBX_CP_DATABASE_URL"):
        return os.environ["SBX_CP_DATABASE_URL"]
    env_file = os.environ.get("SBX_CP_TESTBED_ENV_FILE")
    if not env_file or not Path(env_file).is_file():
        return None
    for line in Path(env_file).read_text().splitlines():
        key, _, value = line.partition("=")
        if key == "SBX_CP_DATABASE_URL":
            return value
    return None


def make_settings(runtime_dir: Path, **overrides: Any) -> Settings:
    url = database_url()
    if url is None:
        raise RuntimeError("no test database: run control_plane/scripts/testbed.sh db-up (make control-plane does)")
    values: dict[str, Any] = {
        "database_url": SecretStr(url),
        "api_tokens": {tenant: SecretStr(token) for tenant, token in TENANTS.items()},
        "internal_api_token": SecretStr(INTERNAL_TOKEN),
        "runtime_dir": runtime_dir,
        "port": 0,
        "log_level": "warning",
    }
    values.update(overrides)
    return Settings(**values)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ThreadServer:
    """The public app served by uvicorn on a loopback port, in a thread with its own event loop."""

    def __init__(self, settings: Settings, runtime_factory: Callable[[], ContainerRuntime] | None = None) -> None:
        configure_logging(settings.log_level)
        self.port = free_port()
        self.apps = Apps(settings.model_copy(update={"port": self.port}), runtime_factory=runtime_factory)
        self.server = uvicorn.Server(
            uvicorn.Config(self.apps.public, host="127.0.0.1", port=self.port, log_config=None, loop="asyncio")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the control plane did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@contextmanager
def thread_server(
    settings: Settings, runtime_factory: Callable[[], ContainerRuntime] | None = None
) -> Iterator[ThreadServer]:
    server = ThreadServer(settings, runtime_factory).start()
    try:
        yield server
    finally:
        server.stop()


S3_BUCKET = "sbx-workspaces-test"


class S3Server:
    """moto's S3 server (a real HTTP server speaking the S3 API) on a loopback port, one bucket."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per S3 request otherwise
        self.port = free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._server.start()
        self.client().create_bucket(Bucket=S3_BUCKET)

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="test-key",
            aws_secret_access_key="test-secret",
        )

    def settings(self) -> dict[str, Any]:
        return {
            "s3_endpoint_url": self.endpoint,
            "s3_bucket": S3_BUCKET,
            "s3_access_key_id": SecretStr("test-key"),
            "s3_secret_access_key": SecretStr("test-secret"),
        }

    def stop(self) -> None:
        self._server.stop()
