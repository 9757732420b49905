"""Files and S3 workspaces on the real engine: Docker's archive API into a read-only container's
workspace volume, moto's S3 server as the bucket."""

from __future__ import annotations

import hashlib
import io
import tarfile
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.conftest import ControlPlane, new_session, run
from tests.support import HEADERS_A, S3_BUCKET, S3Server

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def files_plane(start_control_plane: Any, s3_server: S3Server) -> ControlPlane:
    settings = {
        f"SBX_CP_{name.upper()}": value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
        for name, value in s3_server.settings().items()
    }
    started: ControlPlane = start_control_plane("plane-files", SBX_CP_FILE_MAX_BYTES=str(8 * 1024 * 1024), **settings)
    return started


@pytest.fixture
def files_client(files_plane: ControlPlane) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=files_plane.url, headers=HEADERS_A, timeout=60) as http:
        yield http


def test_files_move_through_the_engine_and_the_workspace_survives_the_session(
    files_client: httpx.Client, python_template: str, s3_server: S3Server
) -> None:
    name = f"it-{uuid.uuid4().hex[:8]}"
    first = new_session(files_client, python_template, workspace=name)
    url = f"/api/v1/sessions/{first['id']}/files"
    payload = bytes(range(256)) * 4096  # 1 MiB, binary
    written = files_client.put(url, params={"path": "data/in/blob.bin"}, content=payload)
    assert written.status_code == 200, written.text

    # The executor (uid 1000, read-only root) sees the file and its folders as its own, and writes more.
    code = (
        "import os, hashlib\n"
        "p = '/workspace/data/in/blob.bin'\n"
        "st, d = os.stat(p), os.stat('/workspace/data/in')\n"
        "print(st.st_uid, st.st_gid, d.st_uid, st.st_size, hashlib.sha256(open(p, 'rb').read()).hexdigest())\n"
        "os.makedirs('/workspace/out', exist_ok=True)\n"
        "open('/workspace/out/result.txt', 'w').write('computed in session one')\n"
    )
    result = run(files_client, first["id"], code)
    assert result["status"] == "completed", result
    assert result["stdout"].split() == ["1000", "1000", "1000", str(len(payload)), hashlib.sha256(payload).hexdigest()]

    got = files_client.get(url, params={"path": "out/result.txt"})
    assert got.status_code == 200, got.text
    assert got.content == b"computed in session one"
    big = files_client.get(url, params={"path": "data/in/blob.bin"})
    assert big.content == payload
    assert files_client.get(url, params={"path": "no/such.txt"}).status_code == 404
    assert files_client.get(url, params={"path": "data"}).status_code == 422

    ended = files_client.delete(f"/api/v1/sessions/{first['id']}")
    assert ended.status_code == 200, ended.text
    stored = s3_server.client().get_object(Bucket=S3_BUCKET, Key=f"workspaces/tenant-a/{name}.tar")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(stored)) as archive:
        names = {member.name: member for member in archive}
    assert {"data/in/blob.bin", "out/result.txt"} <= set(names)
    assert all(not key.startswith("workspace") for key in names)

    second = new_session(files_client, python_template, workspace=name)
    code = (
        "import os\n"
        "p = '/workspace/out/result.txt'\n"
        "print(open(p).read(), os.stat(p).st_uid, os.path.getsize('/workspace/data/in/blob.bin'))\n"
        "open(p, 'a').write(' and two')\n"
    )
    again = run(files_client, second["id"], code)
    assert again["status"] == "completed", again
    assert again["stdout"].split() == ["computed", "in", "session", "one", "1000", str(len(payload))]
    files_client.delete(f"/api/v1/sessions/{second['id']}")
    assert files_client.delete(f"/api/v1/workspaces/{name}").status_code == 204
