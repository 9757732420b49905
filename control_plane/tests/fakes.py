"""A runtime that starts nothing: the contract tests exercise the API and the database, and play
the executor through the internal API themselves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from sandbox_control_plane.container_scheduler.base import (
    ContainerHandle,
    ContainerRuntime,
    ContainerSpec,
    ContainerStats,
    ContainerStatus,
    ImageInfo,
    ManagedContainer,
    RuntimeError_,
)
from sandbox_executor.protocol import EXECUTOR_LABEL

GOOD_IMAGE = "sbx-test/python:1"
ROOT_IMAGE = "sbx-test/root:1"
PLAIN_IMAGE = "sbx-test/plain:1"  # no executor inside
BROKEN_IMAGE = "sbx-test/broken:1"  # the engine refuses to start it

IMAGES = {
    GOOD_IMAGE: ImageInfo(exists=True, user="1000:1000", labels={EXECUTOR_LABEL: "1"}),
    ROOT_IMAGE: ImageInfo(exists=True, user="", labels={EXECUTOR_LABEL: "1"}),
    PLAIN_IMAGE: ImageInfo(exists=True, user="1000", labels={}),
    BROKEN_IMAGE: ImageInfo(exists=True, user="1000:1000", labels={EXECUTOR_LABEL: "1"}),
}


class FakeRuntime(ContainerRuntime):
    name = "fake"

    def __init__(self) -> None:
        self.specs: dict[str, ContainerSpec] = {}
        self.removed: list[str] = []
        self.statuses: dict[str, ContainerStatus] = {}
        self.answers = True
        self.unsampled: set[str] = set()  # sessions the runtime has no usage figures of (no metrics API)

    async def create(self, spec: ContainerSpec) -> ContainerHandle:
        if spec.image == BROKEN_IMAGE:
            raise RuntimeError_("docker refused to start the session's container: broken")
        self.specs[spec.session_id] = spec
        return ContainerHandle(f"fake-{spec.session_id}", "fake-node")

    async def status(self, handle: ContainerHandle) -> ContainerStatus:
        return self.statuses.get(handle.container_id, ContainerStatus(exists=True, running=True))

    async def remove(self, session_id: str, handle: ContainerHandle | None) -> None:
        self.removed.append(session_id)

    async def inspect_image(self, image: str) -> ImageInfo:
        return IMAGES.get(image, ImageInfo(exists=False))

    async def stats(self, handle: ContainerHandle) -> ContainerStats | None:
        session_id = handle.container_id.removeprefix("fake-")
        if session_id in self.removed or session_id in self.unsampled:
            return None
        return ContainerStats(cpu_percent=1.5, memory_bytes=32 << 20, memory_limit_bytes=256 << 20)

    async def list_managed(self) -> list[ManagedContainer]:
        return [
            ManagedContainer(session_id, ContainerHandle(f"fake-{session_id}", "fake-node"), running=True)
            for session_id in self.specs
            if session_id not in self.removed
        ]

    async def put_archive(self, handle: ContainerHandle, path: str, tar: AsyncIterator[bytes]) -> None:
        async for _chunk in tar:
            pass

    async def get_archive(self, handle: ContainerHandle, path: str) -> AsyncIterator[bytes]:
        raise RuntimeError_(f"no file {path} in the fake runtime")
        yield b""  # pragma: no cover - makes this an async generator

    async def ping(self) -> bool:
        return self.answers

    async def close(self) -> None:
        return None
