"""The Kubernetes archives' own logic, around a stand-in for the client's exec stream.

Only what this module does with the stream is proven here (the command it runs, what it feeds and
reads, how a failure is told): the emulator has no ``pods/exec``, and no real cluster was used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes import client as k8s

from sandbox_control_plane.config.settings import Settings
from sandbox_control_plane.container_scheduler.base import ContainerHandle, RuntimeError_
from sandbox_control_plane.container_scheduler.kubernetes_runtime import KubernetesRuntime

HANDLE = ContainerHandle("sbx-cp-ses-x", "kubernetes")


class FakeStream:
    """What ``kubernetes.stream.stream(..., _preload_content=False, binary=True)`` gives back."""

    def __init__(self, stdout: list[bytes], code: int = 0, stderr: bytes = b"") -> None:
        self.stdout = list(stdout)
        self.code = code
        self.stderr = stderr
        self.stdin = b""
        self.closed_channels: list[int] = []
        self.closed = False

    def write_stdin(self, data: bytes) -> None:
        self.stdin += data

    def close_channel(self, channel: int) -> None:
        self.closed_channels.append(channel)

    def is_open(self) -> bool:
        return bool(self.stdout)

    def update(self, timeout: float = 0) -> None:
        pass

    def read_stdout(self, timeout: float = 0) -> bytes:
        return self.stdout.pop(0) if self.stdout else b""

    def read_stderr(self, timeout: float = 0) -> bytes:
        return self.stderr

    def run_forever(self, timeout: float = 0) -> None:
        self.stdout.clear()

    @property
    def returncode(self) -> int:
        return self.code

    def close(self) -> None:
        self.closed = True


@pytest.fixture
async def runtime() -> AsyncIterator[KubernetesRuntime]:
    settings = Settings(runtime="kubernetes", executor_callback_url="http://10.0.0.7:8081")
    made = KubernetesRuntime(settings, k8s.Configuration(host="http://127.0.0.1:9"))
    yield made
    await made.close()


def plug(runtime: KubernetesRuntime, stream: FakeStream) -> list[tuple[str, list[str], bool]]:
    calls: list[tuple[str, list[str], bool]] = []

    def fake_exec(name: str, command: list[str], stdin: bool) -> Any:
        calls.append((name, command, stdin))
        return stream

    runtime._exec = fake_exec  # type: ignore[method-assign]
    return calls


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_an_upload_is_fed_to_tar_in_the_workspace(runtime: KubernetesRuntime) -> None:
    stream = FakeStream([])
    calls = plug(runtime, stream)
    await runtime.put_archive(HANDLE, "data/in", chunks(b"ab", b"cd"))
    assert calls == [("sbx-cp-ses-x", ["tar", "-x", "-f", "-", "-C", "/workspace/data/in"], True)]
    assert stream.stdin == b"abcd"
    assert stream.closed_channels == [0]  # stdin closed (v5 protocol)
    assert stream.closed


async def test_a_download_streams_what_tar_writes(runtime: KubernetesRuntime) -> None:
    calls = plug(runtime, FakeStream([b"part1", b"", b"part2"]))
    data = b"".join([chunk async for chunk in runtime.get_archive(HANDLE, "out/f.txt")])
    assert data == b"part1part2"
    assert calls == [("sbx-cp-ses-x", ["tar", "-c", "-f", "-", "-C", "/workspace/out", "f.txt"], False)]


async def test_tar_failing_in_the_pod_is_a_runtime_error(runtime: KubernetesRuntime) -> None:
    plug(runtime, FakeStream([], code=2, stderr=b"tar: missing: Cannot stat"))
    with pytest.raises(RuntimeError_, match="Cannot stat"):
        [chunk async for chunk in runtime.get_archive(HANDLE, "missing")]


async def test_archives_refuse_paths_outside_the_workspace(runtime: KubernetesRuntime) -> None:
    calls = plug(runtime, FakeStream([]))
    with pytest.raises(RuntimeError_, match="outside the workspace"):
        await runtime.put_archive(HANDLE, "../etc", chunks(b"x"))
    assert calls == []
