"""A runtime that starts nothing: the contract tests exercise the API and the database, and play
the executor through the internal API themselves.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
from collections.abc import AsyncGenerator, AsyncIterator

from sandbox_control_plane.container_scheduler.base import (
    ContainerHandle,
    ContainerRuntime,
    ContainerSpec,
    ContainerStats,
    ContainerStatus,
    ImageInfo,
    ManagedContainer,
    PathNotFoundError,
    RuntimeError_,
    workspace_path,
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
        # Each container's /workspace, as tar members and contents (Docker's archive semantics).
        self.workspaces: dict[str, dict[str, tuple[tarfile.TarInfo, bytes]]] = {}
        self.archives_fail: set[str] = set()  # container ids whose archive calls fail

    async def create(self, spec: ContainerSpec) -> ContainerHandle:
        if spec.image == BROKEN_IMAGE:
            raise RuntimeError_("docker refused to start the session's container: broken")
        self.specs[spec.session_id] = spec
        return ContainerHandle(f"fake-{spec.session_id}", "fake-node")

    async def status(self, handle: ContainerHandle) -> ContainerStatus:
        return self.statuses.get(handle.container_id, ContainerStatus(exists=True, running=True))

    async def remove(self, session_id: str, handle: ContainerHandle | None) -> None:
        self.removed.append(session_id)
        self.workspaces.pop(f"fake-{session_id}", None)

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
        base = workspace_path(path).removeprefix("/workspace").strip("/")
        data = b"".join([chunk async for chunk in tar])
        if handle.container_id in self.archives_fail:
            raise RuntimeError_("docker refused the upload: fake failure")
        files = self.workspaces.setdefault(handle.container_id, {})
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            for member in archive:
                name = posixpath.join(base, member.name) if base else member.name
                content = archive.extractfile(member).read() if member.isreg() else b""  # type: ignore[union-attr]
                member.name = name
                files[name] = (member, content)

    async def get_archive(self, handle: ContainerHandle, path: str) -> AsyncGenerator[bytes, None]:
        if handle.container_id in self.archives_fail:
            raise RuntimeError_("docker refused the download: fake failure")
        session_id = handle.container_id.removeprefix("fake-")
        if session_id not in self.specs or session_id in self.removed:
            raise RuntimeError_("docker refused the download: No such container")
        target = workspace_path(path).removeprefix("/workspace").strip("/")
        files = self.workspaces.get(handle.container_id, {})
        root = target.rsplit("/", 1)[-1] if target else "workspace"
        chosen = {
            name: entry
            for name, entry in files.items()
            if not target or name == target or name.startswith(target + "/")
        }
        if target and not chosen:
            raise PathNotFoundError("the path is not in the workspace")
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:", format=tarfile.PAX_FORMAT) as archive:
            if not target:
                folder = tarfile.TarInfo("workspace")
                folder.type = tarfile.DIRTYPE
                archive.addfile(folder)
            for name, (member, content) in sorted(chosen.items()):
                copy = tarfile.TarInfo(root + name[len(target) :] if target else f"workspace/{name}")
                copy.type, copy.mode, copy.size, copy.uid, copy.gid = (
                    member.type,
                    member.mode,
                    len(content),
                    member.uid,
                    member.gid,
                )
                copy.linkname = member.linkname
                archive.addfile(copy, io.BytesIO(content) if member.isreg() else None)
        data = buffer.getvalue()
        for start in range(0, len(data), 1000):  # in pieces, as an engine streams it
            yield data[start : start + 1000]

    async def ping(self) -> bool:
        return self.answers

    async def close(self) -> None:
        return None
