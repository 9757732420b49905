"""Shared fixtures: a runtime folder the sandbox user can traverse, the migrated test database."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox_control_plane.db.migrate import upgrade
from tests.support import S3Server, make_settings


@pytest.fixture(scope="session")
def runtime_dir() -> Iterator[Path]:
    # Not pytest's tmp_path: its folders are 0700, and uid 1000 in containers must reach the sockets.
    path = Path(tempfile.mkdtemp(prefix="sbx-cp-test-"))
    os.chmod(path, 0o755)  # noqa: S103 - see above
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def migrated(runtime_dir: Path) -> None:
    upgrade(make_settings(runtime_dir))


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = S3Server()
    server.start()
    yield server
    server.stop()
