"""Files in a session's workspace (upload, download) and workspaces saved to S3 (save, restore).

Everything moves as a stream with a spool file in between where a size must be known first (a
tar header carries it) or a format rewritten: never a whole file in memory. Paths are checked
here (``archives.clean_path``) and again by the runtime (``workspace_path``).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import IO

from sandbox_control_plane.config.logging import get_logger
from sandbox_control_plane.config.settings import Settings
from sandbox_control_plane.container_scheduler.base import (
    ContainerHandle,
    ContainerRuntime,
    PathNotFoundError,
    RuntimeError_,
)
from sandbox_control_plane.db.engine import Database
from sandbox_control_plane.db.repositories import sessions as sessions_repo
from sandbox_control_plane.db.repositories import workspaces as workspaces_repo
from sandbox_control_plane.domain import SessionRecord, SessionState
from sandbox_control_plane.utils.errors import (
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    RuntimeUnavailableError,
    SessionNotReadyError,
    WorkspaceInUseError,
    WorkspaceStoreUnavailableError,
)
from sandbox_control_plane.workspace_store.archives import (
    CHUNK,
    ArchiveError,
    FileEntry,
    PathProblem,
    RebaseReport,
    clean_path,
    file_archive,
    first_file,
    rebase,
)
from sandbox_control_plane.workspace_store.s3 import StoredWorkspace, StoreError, WorkspaceStore

log = get_logger(__name__)

SPOOL_IN_MEMORY = 1024 * 1024
# What the runtime names the entries of an archive of the whole workspace (``/workspace``).
WORKSPACE_ENTRY = "workspace"
HAS_FILES = frozenset({SessionState.READY, SessionState.RUNNING})


def spool(settings: Settings) -> IO[bytes]:
    """A temporary file (in memory up to 1 MiB), gone when closed."""
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, dir=settings.spool_dir or None)


async def read_chunks(source: IO[bytes]) -> AsyncIterator[bytes]:
    while True:
        chunk = await asyncio.to_thread(source.read, CHUNK)
        if not chunk:
            return
        yield chunk


def checked_path(path: str) -> str:
    cleaned = clean_path(path)
    if isinstance(cleaned, PathProblem):
        raise InvalidInputError.field("path", cleaned.value, cleaned.message, "not a path inside the workspace")
    return cleaned


def too_large(limit: int, size: int | None = None) -> PayloadTooLargeError:
    detail: dict[str, object] = {"field": "body", "limit_bytes": limit}
    if size is not None:
        detail["size_bytes"] = size
    return PayloadTooLargeError(f"The file is larger than {limit} bytes (SBX_CP_FILE_MAX_BYTES).", detail)


@dataclass(frozen=True)
class Download:
    path: str
    entry: FileEntry
    content: AsyncIterator[bytes]


class FileService:
    def __init__(self, settings: Settings, db: Database, runtime: ContainerRuntime) -> None:
        self._settings = settings
        self._db = db
        self._runtime = runtime

    async def _session_handle(self, tenant_id: str, session_id: str) -> ContainerHandle:
        async with self._db.transaction() as conn:
            session = await sessions_repo.get(conn, session_id, tenant_id)
        if session is None or session.state is SessionState.WARM:
            raise NotFoundError(f"No session {session_id} for this token.", {"session_id": session_id})
        if session.state not in HAS_FILES or session.container_id is None:
            raise SessionNotReadyError(
                f"The session {session_id} is '{session.state}'; files can be moved while it is ready or running.",
                {"session_id": session_id, "state": str(session.state), "allowed": sorted(HAS_FILES)},
            )
        return ContainerHandle(session.container_id, session.node or "local")

    async def upload(
        self, tenant_id: str, session_id: str, path: str, body: AsyncIterator[bytes], declared: int | None
    ) -> tuple[str, int]:
        """Write one file (its folders made as needed); answers its path and size. Replaces a file there."""
        target = checked_path(path)
        limit = self._settings.file_max_bytes
        if declared is not None and declared > limit:
            raise too_large(limit, declared)
        handle = await self._session_handle(tenant_id, session_id)
        with spool(self._settings) as held:
            size = 0
            async for chunk in body:
                size += len(chunk)
                if size > limit:
                    raise too_large(limit)
                await asyncio.to_thread(held.write, chunk)
            held.seek(0)
            try:
                await self._runtime.put_archive(handle, "", file_archive(target, size, read_chunks(held)))
            except RuntimeError_ as error:
                raise RuntimeUnavailableError(
                    "The file could not be written into the session.", {"path": target, "cause": str(error)}
                ) from error
        log.info("file_uploaded", session_id=session_id, path=target, size_bytes=size)
        return target, size

    async def download(self, tenant_id: str, session_id: str, path: str) -> Download:
        """One file of the workspace as a stream (its size known before the first byte)."""
        target = checked_path(path)
        handle = await self._session_handle(tenant_id, session_id)
        stream = self._runtime.get_archive(handle, target)
        try:
            entry, content = await first_file(stream)
        except PathNotFoundError as error:
            await stream.aclose()
            raise NotFoundError(
                f"The session has no file {target}.", {"field": "path", "value": target, "session_id": session_id}
            ) from error
        except ArchiveError as error:
            await stream.aclose()
            raise InvalidInputError.field("path", target, "the path of a regular file", f"{target} {error}") from error
        except RuntimeError_ as error:
            await stream.aclose()
            raise RuntimeUnavailableError(
                "The file could not be read from the session.", {"path": target, "cause": str(error)}
            ) from error
        if entry.size > self._settings.file_max_bytes:
            await stream.aclose()
            raise too_large(self._settings.file_max_bytes, entry.size)

        async def body() -> AsyncIterator[bytes]:
            try:
                async for piece in content:
                    yield piece
            finally:
                await stream.aclose()

        return Download(target, entry, body())


class WorkspaceMover:
    """A session's whole workspace to and from the bucket."""

    def __init__(self, settings: Settings, runtime: ContainerRuntime, store: WorkspaceStore) -> None:
        self._settings = settings
        self._runtime = runtime
        self.store = store

    async def save(self, session: SessionRecord, name: str) -> RebaseReport:
        """Pack the workspace and put it in the bucket (replacing the saved one only once complete)."""
        assert session.container_id is not None  # noqa: S101 - callers save sessions with a container
        handle = ContainerHandle(session.container_id, session.node or "local")
        with spool(self._settings) as packed, spool(self._settings) as clean:
            async for chunk in self._runtime.get_archive(handle, ""):
                await asyncio.to_thread(packed.write, chunk)
            packed.seek(0)
            report = await asyncio.to_thread(rebase, packed, clean, WORKSPACE_ENTRY)
            clean.seek(0)
            await self.store.upload(session.tenant_id, name, clean)
        log.info(
            "workspace_saved",
            session_id=session.id,
            workspace=name,
            entries=report.entries,
            size_bytes=report.bytes,
            skipped=report.skipped,
        )
        return report

    async def restore(self, session_id: str, tenant_id: str, handle: ContainerHandle, name: str) -> RebaseReport | None:
        """Unpack the saved workspace into a new session's; None when nothing was saved under the name."""
        if await self.store.size_of(tenant_id, name) is None:
            log.info("workspace_new", session_id=session_id, workspace=name)
            return None
        with spool(self._settings) as downloaded, spool(self._settings) as clean:
            await self.store.download(tenant_id, name, downloaded)
            downloaded.seek(0)
            report = await asyncio.to_thread(rebase, downloaded, clean, "")
            clean.seek(0)
            await self._runtime.put_archive(handle, "", read_chunks(clean))
        log.info(
            "workspace_restored",
            session_id=session_id,
            workspace=name,
            entries=report.entries,
            size_bytes=report.bytes,
            skipped=report.skipped,
        )
        return report


def store_unavailable(error: StoreError) -> WorkspaceStoreUnavailableError:
    return WorkspaceStoreUnavailableError("The workspace bucket could not be reached.", {"cause": str(error)})


def not_configured() -> NotFoundError:
    return NotFoundError(
        "This control plane keeps no workspaces (no bucket is configured).", {"setting": "SBX_CP_S3_BUCKET"}
    )


class WorkspaceCatalog:
    """A tenant's saved workspaces: listed from the bucket, with the live session holding each."""

    def __init__(self, db: Database, store: WorkspaceStore | None) -> None:
        self._db = db
        self._store = store

    async def list(self, tenant_id: str) -> list[tuple[StoredWorkspace, str | None]]:
        if self._store is None:
            raise not_configured()
        try:
            saved = await self._store.list(tenant_id)
        except StoreError as error:
            raise store_unavailable(error) from error
        async with self._db.transaction() as conn:
            return [(item, await workspaces_repo.holder(conn, tenant_id, item.name)) for item in saved]

    async def delete(self, tenant_id: str, name: str) -> None:
        """Delete a saved workspace; 409 while a live session holds it (it would be saved again)."""
        if self._store is None:
            raise not_configured()
        async with self._db.transaction() as conn:
            held = await workspaces_repo.holder(conn, tenant_id, name)
        if held is not None:
            raise WorkspaceInUseError(
                f"The workspace {name} is held by session {held}.",
                {"field": "name", "value": name, "session_id": held},
            )
        try:
            if await self._store.size_of(tenant_id, name) is None:
                raise NotFoundError(f"No saved workspace {name} for this token.", {"name": name})
            await self._store.delete(tenant_id, name)
        except StoreError as error:
            raise store_unavailable(error) from error
