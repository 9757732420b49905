"""What every runtime does behind ``ContainerRuntime``, asked the same way of each (see conftest)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from sandbox_control_plane.container_scheduler.base import (
    ContainerReason,
    ContainerStats,
    PathNotFoundError,
    RuntimeError_,
)
from sandbox_control_plane.domain import Network
from sandbox_executor import protocol
from tests.conformance.conftest import MISSING_IMAGE, TOKEN, Harness


async def test_create_gives_a_handle_on_a_node(harness: Harness) -> None:
    handle = await harness.runtime.create(harness.spec())
    assert handle.container_id
    assert handle.node
    assert (await harness.runtime.status(handle)).exists


async def test_every_security_setting_is_applied(harness: Harness) -> None:
    spec = harness.spec()
    applied = await harness.applied(await harness.runtime.create(spec))
    assert applied.user == "1000:1000"
    assert applied.caps_dropped_all
    assert applied.no_new_privileges
    assert applied.read_only_root
    assert not applied.privileged
    assert applied.memory_bytes == spec.resources.memory_mib * 1024 * 1024
    assert applied.cpu_millis == spec.resources.cpu_millis
    assert applied.tmp_mib == 64
    assert applied.network_isolated
    assert applied.token_read_only
    ours = {
        "ai.oneclick.sandbox.managed-by": "sbx-cp",
        "ai.oneclick.sandbox.session": spec.session_id,
        "ai.oneclick.sandbox.tenant": spec.tenant_id,
    }
    assert ours.items() <= applied.labels.items()  # a container also shows its image's labels
    assert applied.env["CONFORMANCE"] == "1"
    assert applied.env[protocol.ENV_SESSION_ID] == spec.session_id
    assert TOKEN.decode() not in applied.env.values()  # a file only, never the environment


async def test_a_template_with_network_is_not_isolated(harness: Harness) -> None:
    applied = await harness.applied(await harness.runtime.create(harness.spec(network=Network.BRIDGE)))
    assert not applied.network_isolated
    assert applied.caps_dropped_all
    assert applied.read_only_root


async def test_a_started_container_is_running(harness: Harness) -> None:
    handle = await harness.runtime.create(harness.spec())
    await harness.started(handle)
    status = await harness.runtime.status(handle)
    assert (status.exists, status.running, status.oom_killed, status.reason) == (True, True, False, None)


async def test_list_managed_finds_it(harness: Harness) -> None:
    spec = harness.spec()
    handle = await harness.runtime.create(spec)
    await harness.started(handle)
    found = {item.session_id: item for item in await harness.runtime.list_managed()}
    assert found[spec.session_id].handle.container_id == handle.container_id
    assert found[spec.session_id].running


async def test_remove_leaves_nothing_and_can_be_repeated(harness: Harness) -> None:
    spec = harness.spec()
    handle = await harness.runtime.create(spec)
    await harness.runtime.remove(spec.session_id, handle)
    assert not (await harness.runtime.status(handle)).exists
    await harness.runtime.remove(spec.session_id, handle)  # already gone: fine
    await harness.runtime.remove(spec.session_id, None)  # by session alone: fine
    assert spec.session_id not in {item.session_id for item in await harness.runtime.list_managed()}


async def test_stats_of_a_running_container(harness: Harness) -> None:
    spec = harness.spec()
    handle = await harness.runtime.create(spec)
    await harness.started(handle)
    await harness.metrics(handle)
    # The engine's first sample of a container that has just started can be all zeros: wait a little.
    for _ in range(10):
        stats = await harness.runtime.stats(handle)
        if stats is not None and stats.memory_bytes > 0:
            break
        await asyncio.sleep(0.5)
    assert isinstance(stats, ContainerStats)
    assert isinstance(stats.cpu_percent, float)
    assert stats.cpu_percent >= 0
    assert isinstance(stats.memory_bytes, int)
    assert isinstance(stats.memory_limit_bytes, int)
    # (Docker: the test bed's dockerd 20.10 takes no samples itself, read=0001-01-01; the runtime then
    # reads the container's cgroups, and this proves it.)
    assert 0 < stats.memory_bytes <= stats.memory_limit_bytes
    assert stats.memory_limit_bytes == spec.resources.memory_mib * 1024 * 1024


async def test_stats_of_a_removed_container_are_none(harness: Harness) -> None:
    spec = harness.spec()
    handle = await harness.runtime.create(spec)
    await harness.runtime.remove(spec.session_id, handle)
    assert await harness.runtime.stats(handle) is None


async def test_a_missing_image_is_refused_or_reported(harness: Harness) -> None:
    """Docker refuses at create (nothing is pulled here); Kubernetes accepts the Pod and the
    kubelet reports it cannot pull the image: either way the caller learns it, with a reason."""
    assert not (await harness.runtime.inspect_image(MISSING_IMAGE)).exists
    spec = harness.spec(image=MISSING_IMAGE)
    try:
        handle = await harness.runtime.create(spec)
    except RuntimeError_:
        assert spec.session_id not in {item.session_id for item in await harness.runtime.list_managed()}
        return
    await harness.image_pull_fails(handle)
    status = await harness.wait_for(handle, lambda status: status.reason is not ContainerReason.STARTING, "failed")
    assert (status.exists, status.running, status.reason) == (True, False, ContainerReason.IMAGE_PULL_FAILED)


async def test_an_oom_kill_is_told_apart(harness: Harness) -> None:
    if harness.name == "docker":
        pytest.skip("proven on the real engine by tests/integration (a memory hog ends `oom_killed`, exit 137)")
    handle = await harness.runtime.create(harness.spec())
    await harness.started(handle)
    await harness.oom_killed(handle)
    status = await harness.runtime.status(handle)
    assert (status.running, status.oom_killed, status.exit_code) == (False, True, 137)
    assert status.reason == ContainerReason.OOM_KILLED


async def test_files_go_in_and_come_out_as_tar(harness: Harness) -> None:
    if harness.name == "kubernetes-emulator":
        pytest.skip("the emulator has no pods/exec: the Kubernetes archives have not run anywhere")
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        folder = tarfile.TarInfo("in")
        folder.type, folder.mode, folder.uid, folder.gid = tarfile.DIRTYPE, 0o755, 1000, 1000
        archive.addfile(folder)
        info = tarfile.TarInfo("in/hello.txt")
        info.size, info.uid, info.gid = 5, 1000, 1000
        archive.addfile(info, io.BytesIO(b"hello"))

    async def chunks() -> AsyncIterator[bytes]:
        yield buffer.getvalue()

    handle = await harness.runtime.create(harness.spec())
    await harness.started(handle)
    # Unpacked under an existing folder (here the workspace itself), the archive's folders made.
    await harness.runtime.put_archive(handle, "", chunks())
    data = b"".join([chunk async for chunk in harness.runtime.get_archive(handle, "in/hello.txt")])
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        member = archive.extractfile("hello.txt")  # named from the path's last part
        assert member is not None
        assert member.read() == b"hello"
        assert (archive.getmember("hello.txt").uid, archive.getmember("hello.txt").gid) == (1000, 1000)
    whole = b"".join([chunk async for chunk in harness.runtime.get_archive(handle, "")])
    with tarfile.open(fileobj=io.BytesIO(whole)) as archive:
        assert "workspace/in/hello.txt" in archive.getnames()
    with pytest.raises(PathNotFoundError):
        _ = [chunk async for chunk in harness.runtime.get_archive(handle, "in/missing.txt")]


async def test_ping_answers(harness: Harness) -> None:
    assert await harness.runtime.ping()
