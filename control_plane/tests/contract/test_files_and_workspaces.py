"""Files in a session and workspaces saved to S3, against the real app, MariaDB and moto's S3 server.

The runtime is the fake (``tests/fakes.py``, Docker's archive semantics in memory); the Docker
engine's own archive API is exercised in ``tests/integration/test_files.py``.
"""

from __future__ import annotations

import io
import tarfile
import uuid
from typing import Any

import httpx

from tests.contract.test_api import assert_error, create_session, executor_ready
from tests.contract.test_pools import eventually
from tests.fakes import FakeRuntime
from tests.support import HEADERS_A, HEADERS_B, S3_BUCKET, S3Server

# Unique per run: the test database and the session-wide fake outlive one test.
RUN = uuid.uuid4().hex[:8]
PROJ_SAVE, PROJ_RETRY, PROJ_RESTORE = f"save-{RUN}", f"retry-{RUN}", f"restore-{RUN}"


def ready_session(client: httpx.Client, template_id: str, **extra: Any) -> dict[str, Any]:
    session = create_session(client, template_id, **extra)
    executor_ready(client, session["id"])
    return session


def files_url(session_id: str) -> str:
    return f"/api/v1/sessions/{session_id}/files"


def put(client: httpx.Client, session_id: str, path: str, content: bytes, **kwargs: Any) -> httpx.Response:
    return client.put(files_url(session_id), params={"path": path}, content=content, headers=HEADERS_A, **kwargs)


def saved_members(s3_server: S3Server, name: str, tenant: str = "tenant-a") -> dict[str, tarfile.TarInfo]:
    body = s3_server.client().get_object(Bucket=S3_BUCKET, Key=f"workspaces/{tenant}/{name}.tar")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        return {member.name: member for member in archive}


def test_a_file_goes_in_and_comes_out_with_its_folders_owned_by_the_sandbox_user(
    client: httpx.Client, template_id: str, fake_runtime: FakeRuntime
) -> None:
    sid = ready_session(client, template_id)["id"]
    content = bytes(range(256)) * 400  # 100 KiB, binary
    written = put(client, sid, "/workspace/data/in/blob.bin", content)
    assert written.status_code == 200, written.text
    assert written.json() == {"path": "data/in/blob.bin", "size_bytes": len(content)}
    stored = fake_runtime.workspaces[f"fake-{sid}"]
    assert {name: (info.uid, info.gid, info.type) for name, (info, _) in stored.items()} == {
        "data": (1000, 1000, tarfile.DIRTYPE),
        "data/in": (1000, 1000, tarfile.DIRTYPE),
        "data/in/blob.bin": (1000, 1000, tarfile.REGTYPE),
    }

    got = client.get(files_url(sid), params={"path": "data/in/blob.bin"}, headers=HEADERS_A)
    assert got.status_code == 200, got.text
    assert got.content == content
    assert got.headers["content-length"] == str(len(content))
    assert got.headers["content-type"] == "application/octet-stream"
    assert "blob.bin" in got.headers["content-disposition"]

    # Streamed in pieces (no Content-Length): the same file.
    def pieces() -> Any:
        yield content[:1000]
        yield content[1000:]

    again = client.put(files_url(sid), params={"path": "copy.bin"}, content=pieces(), headers=HEADERS_A)
    assert again.status_code == 200, again.text
    assert client.get(files_url(sid), params={"path": "copy.bin"}, headers=HEADERS_A).content == content
    client.delete(f"/api/v1/sessions/{sid}", headers=HEADERS_A)


def test_paths_outside_the_workspace_and_folders_are_refused_naming_the_path(
    client: httpx.Client, template_id: str
) -> None:
    sid = ready_session(client, template_id)["id"]
    for bad in ("../etc/passwd", "a/../../x", "/etc/passwd", "/workspace", "."):
        body = assert_error(put(client, sid, bad, b"x"), 422, "INVALID_INPUT")
        problem = body["error_detail"]["errors"][0]
        assert problem["field"] == "path"
        assert problem["value"] == bad
        assert problem["allowed"]
    assert put(client, sid, "dir/f.txt", b"x").status_code == 200
    folder = assert_error(client.get(files_url(sid), params={"path": "dir"}, headers=HEADERS_A), 422, "INVALID_INPUT")
    assert "folder" in folder["error_detail"]["errors"][0]["message"]
    missing = assert_error(client.get(files_url(sid), params={"path": "nope.txt"}, headers=HEADERS_A), 404, "NOT_FOUND")
    assert missing["error_detail"]["value"] == "nope.txt"
    client.delete(f"/api/v1/sessions/{sid}", headers=HEADERS_A)


def test_file_size_is_limited_both_ways_and_sessions_are_the_tenants(
    client: httpx.Client, template_id: str, fake_runtime: FakeRuntime
) -> None:
    sid = ready_session(client, template_id)["id"]
    limit = 256 * 1024  # file_max_bytes of the contract server; its request limit is 64 KiB
    assert put(client, sid, "at-limit.bin", b"a" * limit).status_code == 200
    declared = assert_error(put(client, sid, "big.bin", b"a" * (limit + 1)), 413, "PAYLOAD_TOO_LARGE")
    assert declared["error_detail"]["limit_bytes"] == limit

    def endless() -> Any:
        for _ in range(limit // 4096 + 2):
            yield b"b" * 4096

    streamed = client.put(files_url(sid), params={"path": "big.bin"}, content=endless(), headers=HEADERS_A)
    assert_error(streamed, 413, "PAYLOAD_TOO_LARGE")
    assert "big.bin" not in fake_runtime.workspaces[f"fake-{sid}"]  # nothing half-written
    # A file grown in the session past the limit cannot be downloaded through the API.
    info = tarfile.TarInfo("grown.bin")
    info.size = limit + 1
    fake_runtime.workspaces[f"fake-{sid}"]["grown.bin"] = (info, b"c" * (limit + 1))
    assert_error(client.get(files_url(sid), params={"path": "grown.bin"}, headers=HEADERS_A), 413, "PAYLOAD_TOO_LARGE")
    # Another tenant's session does not exist for this token.
    other = client.put(files_url(sid), params={"path": "x"}, content=b"x", headers=HEADERS_B)
    assert_error(other, 404, "NOT_FOUND")
    client.delete(f"/api/v1/sessions/{sid}", headers=HEADERS_A)


def test_files_need_a_ready_session(client: httpx.Client, template_id: str) -> None:
    creating = create_session(client, template_id)
    body = assert_error(put(client, creating["id"], "f", b"x"), 409, "SESSION_NOT_READY")
    assert body["error_detail"]["state"] == "creating"
    executor_ready(client, creating["id"])
    client.delete(f"/api/v1/sessions/{creating['id']}", headers=HEADERS_A)
    ended = client.get(files_url(creating["id"]), params={"path": "f"}, headers=HEADERS_A)
    assert_error(ended, 409, "SESSION_NOT_READY")


def test_a_workspace_is_saved_when_the_session_ends_and_restored_into_the_next(
    client: httpx.Client, template_id: str, fake_runtime: FakeRuntime, s3_server: S3Server
) -> None:
    first = ready_session(client, template_id, workspace=PROJ_SAVE)
    assert first["workspace"] == PROJ_SAVE
    assert put(client, first["id"], "notes/todo.txt", b"keep me").status_code == 200
    assert put(client, first["id"], "model.bin", b"\x00\x01" * 5000).status_code == 200
    # Something the session made itself, with a link pointing out of the workspace and a file
    # below it (as a hostile workspace would): the link is kept, nothing below it is.
    link = tarfile.TarInfo("escape")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc"
    below = tarfile.TarInfo("escape/passwd")
    below.size = 1
    fake_runtime.workspaces[f"fake-{first['id']}"].update({"escape": (link, b""), "escape/passwd": (below, b"x")})

    # Held while the session lives: another create naming it is refused, nothing is started.
    held = client.post("/api/v1/sessions", json={"template_id": template_id, "workspace": PROJ_SAVE}, headers=HEADERS_A)
    body = assert_error(held, 409, "WORKSPACE_IN_USE")
    assert body["error_detail"]["session_id"] == first["id"]
    of_template = client.get("/api/v1/sessions", params={"template_id": template_id}, headers=HEADERS_A).json()
    assert max(item["id"] for item in of_template["items"]) == first["id"]  # ids are time-ordered: none begun since
    listed = client.get("/api/v1/workspaces", headers=HEADERS_A).json()["items"]
    assert PROJ_SAVE not in {item["name"] for item in listed}  # not saved yet

    ended = client.delete(f"/api/v1/sessions/{first['id']}", headers=HEADERS_A)
    assert ended.status_code == 200, ended.text
    saved = saved_members(s3_server, PROJ_SAVE)
    assert set(saved) == {"notes", "notes/todo.txt", "model.bin", "escape"}
    assert all((member.uid, member.gid) == (1000, 1000) for member in saved.values())
    listed = client.get("/api/v1/workspaces", headers=HEADERS_A).json()["items"]
    entry = next(item for item in listed if item["name"] == PROJ_SAVE)
    assert entry["session_id"] is None
    assert entry["size_bytes"] > 10000
    # Tenants do not see each other's workspaces.
    assert PROJ_SAVE not in {i["name"] for i in client.get("/api/v1/workspaces", headers=HEADERS_B).json()["items"]}

    second = create_session(client, template_id, workspace=PROJ_SAVE)
    restored = fake_runtime.workspaces[f"fake-{second['id']}"]
    assert restored["notes/todo.txt"][1] == b"keep me"
    assert "escape/passwd" not in restored
    executor_ready(client, second["id"])
    got = client.get(files_url(second["id"]), params={"path": "model.bin"}, headers=HEADERS_A)
    assert got.content == b"\x00\x01" * 5000
    held_now = client.get("/api/v1/workspaces", headers=HEADERS_A).json()["items"]
    assert next(item for item in held_now if item["name"] == PROJ_SAVE)["session_id"] == second["id"]
    assert_error(client.delete("/api/v1/workspaces/" + PROJ_SAVE, headers=HEADERS_A), 409, "WORKSPACE_IN_USE")
    client.delete(f"/api/v1/sessions/{second['id']}", headers=HEADERS_A)
    assert client.delete("/api/v1/workspaces/" + PROJ_SAVE, headers=HEADERS_A).status_code == 204
    assert_error(client.delete("/api/v1/workspaces/" + PROJ_SAVE, headers=HEADERS_A), 404, "NOT_FOUND")


def test_a_failed_save_keeps_the_container_and_is_retried(
    client: httpx.Client, template_id: str, fake_runtime: FakeRuntime, s3_server: S3Server
) -> None:
    session = ready_session(client, template_id, workspace=PROJ_RETRY)
    put(client, session["id"], "result.txt", b"hours of work")
    container = f"fake-{session['id']}"
    fake_runtime.archives_fail.add(container)
    failed = client.delete(f"/api/v1/sessions/{session['id']}", headers=HEADERS_A)
    assert_error(failed, 503, "RUNTIME_UNAVAILABLE")
    state = client.get(f"/api/v1/sessions/{session['id']}", headers=HEADERS_A).json()["state"]
    assert state == "terminating"
    assert session["id"] not in fake_runtime.removed  # the container, and the work in it, stays
    fake_runtime.archives_fail.discard(container)
    # The monitor finishes the termination, the save included.
    eventually(
        lambda: client.get(f"/api/v1/sessions/{session['id']}", headers=HEADERS_A).json()["state"] == "terminated"
    )
    assert "result.txt" in saved_members(s3_server, PROJ_RETRY)
    assert session["id"] in fake_runtime.removed


def test_a_failed_restore_ends_the_session_and_leaves_the_saved_workspace(
    client: httpx.Client, template_id: str, fake_runtime: FakeRuntime, s3_server: S3Server
) -> None:
    first = ready_session(client, template_id, workspace=PROJ_RESTORE)
    put(client, first["id"], "data.txt", b"v1")
    client.delete(f"/api/v1/sessions/{first['id']}", headers=HEADERS_A)
    original = s3_server.client().get_object(Bucket=S3_BUCKET, Key="workspaces/tenant-a/" + PROJ_RESTORE + ".tar")
    etag = original["ETag"]

    real_create = fake_runtime.create

    async def failing_create(spec: Any) -> Any:
        handle = await real_create(spec)
        fake_runtime.archives_fail.add(handle.container_id)
        return handle

    fake_runtime.create = failing_create  # type: ignore[method-assign]
    try:
        refused = client.post(
            "/api/v1/sessions", json={"template_id": template_id, "workspace": PROJ_RESTORE}, headers=HEADERS_A
        )
    finally:
        fake_runtime.create = real_create  # type: ignore[method-assign]
    body = assert_error(refused, 503, "RUNTIME_UNAVAILABLE")
    sid = body["error_detail"]["session_id"]
    assert client.get(f"/api/v1/sessions/{sid}", headers=HEADERS_A).json()["state"] == "failed"
    assert sid in fake_runtime.removed
    # The saved workspace is untouched, and free for the next session.
    after = s3_server.client().get_object(Bucket=S3_BUCKET, Key="workspaces/tenant-a/" + PROJ_RESTORE + ".tar")
    assert after["ETag"] == etag
    fake_runtime.archives_fail.clear()
    again = create_session(client, template_id, workspace=PROJ_RESTORE)
    assert fake_runtime.workspaces[f"fake-{again['id']}"]["data.txt"][1] == b"v1"
    client.delete(f"/api/v1/sessions/{again['id']}", headers=HEADERS_A)


def test_workspace_names_are_checked(client: httpx.Client, template_id: str) -> None:
    for bad in ("Upper", "../x", "a" * 64, "x.tar", ""):
        response = client.post(
            "/api/v1/sessions", json={"template_id": template_id, "workspace": bad}, headers=HEADERS_A
        )
        problem = assert_error(response, 422, "INVALID_INPUT")["error_detail"]["errors"][0]
        assert problem["field"].endswith("workspace"), problem
