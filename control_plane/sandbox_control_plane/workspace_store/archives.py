"""Tar streams in and out of a session's workspace, whatever the runtime.

Runtimes speak tar (Docker's archive API, ``tar`` through Kubernetes' exec). Clients speak files:
one upload becomes a tar stream with its parent folders, one download is read out of the tar
stream a runtime answers, and a saved workspace is a tar whose names are relative to the
workspace. Every entry written into a workspace belongs to the sandbox user; nothing here trusts
an archive's names.
"""

from __future__ import annotations

import posixpath
import tarfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import IO

BLOCK = 512
CHUNK = 64 * 1024
MAX_PATH = 1024
MAX_PART = 255
SANDBOX_UID = 1000


class ArchiveError(Exception):
    """An archive is not what was expected (a folder where a file was asked, a broken stream)."""


@dataclass(frozen=True)
class PathProblem:
    value: str
    message: str


def clean_path(path: str) -> str | PathProblem:
    """A client's path as a normalised path relative to the workspace, or what is wrong with it.

    ``/workspace/a/b`` and ``a/b`` name the same file; ``..``, NUL, empty parts above the workspace
    and over-long names are refused, not repaired.
    """
    shown = path[:200]
    if not path or "\x00" in path or len(path) > MAX_PATH:
        return PathProblem(shown, f"a path of 1 to {MAX_PATH} characters without NUL")
    relative = path
    for prefix in ("/workspace/", "workspace/"):
        if relative.startswith(prefix):
            relative = relative[len(prefix) :]
            break
    if relative.startswith("/"):
        return PathProblem(shown, "a path inside the workspace: relative, or under /workspace/")
    parts = relative.split("/")
    if any(part == ".." for part in parts):
        return PathProblem(shown, "a path without '..' parts")
    normal = posixpath.normpath(relative)
    if normal in ("", "."):
        return PathProblem(shown, "a file's path, not the workspace itself")
    if any(len(part) > MAX_PART for part in normal.split("/")):
        return PathProblem(shown, f"path parts of at most {MAX_PART} characters")
    return normal


def _header(info: tarfile.TarInfo) -> bytes:
    info.uid = info.gid = SANDBOX_UID
    info.uname = info.gname = ""
    return info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape")


async def file_archive(path: str, size: int, source: AsyncIterator[bytes], mode: int = 0o644) -> AsyncIterator[bytes]:
    """One file as a tar stream: its parent folders first (the sandbox user's, 0755), then the file.

    ``source`` must yield exactly ``size`` bytes; a short source is padded with nothing and ends in
    an ``ArchiveError`` (the runtime then unpacks nothing usable, and the caller reports it).
    """
    now = int(time.time())
    parents = path.split("/")[:-1]
    for depth in range(1, len(parents) + 1):
        folder = tarfile.TarInfo("/".join(parents[:depth]))
        folder.type = tarfile.DIRTYPE
        folder.mode = 0o755
        folder.mtime = now
        yield _header(folder)
    info = tarfile.TarInfo(path)
    info.size = size
    info.mode = mode
    info.mtime = now
    yield _header(info)
    sent = 0
    async for chunk in source:
        sent += len(chunk)
        if sent > size:
            raise ArchiveError("the upload is longer than it said")
        yield chunk
    if sent != size:
        raise ArchiveError("the upload ended early")
    yield b"\x00" * ((BLOCK - size % BLOCK) % BLOCK) + b"\x00" * (2 * BLOCK)


class _Reader:
    """Exact reads from a stream of chunks of any size."""

    def __init__(self, stream: AsyncIterator[bytes]) -> None:
        self._stream = stream
        self._buffer = bytearray()

    async def _fill(self, wanted: int) -> None:
        while len(self._buffer) < wanted:
            chunk = await anext(self._stream, None)
            if chunk is None:
                raise ArchiveError("the archive ended early")
            self._buffer += chunk

    async def read(self, size: int) -> bytes:
        await self._fill(size)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    async def pieces(self, size: int) -> AsyncIterator[bytes]:
        """``size`` bytes, as they come (at most ``CHUNK`` at a time)."""
        left = size
        while left > 0:
            if not self._buffer:
                await self._fill(1)
            take = min(left, len(self._buffer), CHUNK)
            data = bytes(self._buffer[:take])
            del self._buffer[:take]
            left -= take
            yield data


@dataclass(frozen=True)
class FileEntry:
    name: str
    size: int
    mode: int
    mtime: int


async def first_file(stream: AsyncIterator[bytes]) -> tuple[FileEntry, AsyncIterator[bytes]]:
    """The first entry of a tar stream, which must be a regular file, and its content as a stream.

    Extended headers (PAX ``x``, GNU long names) before it are read through; a folder, link or
    device is an ``ArchiveError`` naming what it is.
    """
    reader = _Reader(stream)
    long_name: str | None = None
    while True:
        block = await reader.read(BLOCK)
        if block == b"\x00" * BLOCK:
            raise ArchiveError("the archive is empty")
        try:
            info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
        except tarfile.TarError as error:
            raise ArchiveError(f"not a tar header: {error}") from error
        padded = info.size + (BLOCK - info.size % BLOCK) % BLOCK
        if info.type in (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK):
            payload = (await reader.read(padded))[: info.size]
            if info.type == tarfile.GNUTYPE_LONGNAME:
                long_name = payload.rstrip(b"\x00").decode("utf-8", "surrogateescape")
            elif info.type == tarfile.XHDTYPE:
                long_name = _pax_path(payload) or long_name
            continue
        break
    if info.isdir():
        raise ArchiveError("is a folder")
    if info.issym() or info.islnk():
        raise ArchiveError("is a link")
    if not info.isreg():
        raise ArchiveError("is not a regular file")
    entry = FileEntry(long_name or info.name, info.size, info.mode, int(info.mtime))
    return entry, reader.pieces(info.size)


def _pax_path(payload: bytes) -> str | None:
    """The ``path`` record of a PAX extended header ("<length> path=<value>\\n" records)."""
    position = 0
    while position < len(payload):
        space = payload.find(b" ", position)
        if space < 0:
            return None
        try:
            length = int(payload[position:space])
        except ValueError:
            return None
        record = payload[space + 1 : position + length - 1]
        key, _, value = record.partition(b"=")
        if key == b"path":
            return value.decode("utf-8", "surrogateescape")
        position += length
    return None


@dataclass(frozen=True)
class RebaseReport:
    entries: int
    bytes: int
    skipped: int


def rebase(source: IO[bytes], target: IO[bytes], strip: str) -> RebaseReport:
    """Copy a workspace tar, making every name relative to the workspace and every entry safe.

    ``strip`` is the first component the runtime put in front of each name (``workspace`` when it
    packed ``/workspace``; empty for an archive already relative). Left out, and counted in
    ``skipped``: absolute names, ``..``, devices and FIFOs, hard links to outside the archive, and
    anything below a symbolic link (unpacking through a link could write outside the workspace).
    Owners become the sandbox user. Runs synchronously: call it from a thread.
    """
    entries = size = skipped = 0
    links: list[str] = []
    seen: set[str] = set()
    with (
        tarfile.open(fileobj=source, mode="r|") as inbound,
        tarfile.open(fileobj=target, mode="w|", format=tarfile.PAX_FORMAT) as outbound,
    ):
        for member in inbound:
            name = member.name
            if strip:
                if name.rstrip("/") == strip:
                    continue
                if not name.startswith(strip + "/"):
                    skipped += 1
                    continue
                name = name[len(strip) + 1 :]
            name = name.rstrip("/")
            while name.startswith("./"):
                name = name[2:]
            parts = name.split("/")
            unsafe = (
                not name
                or name == "."
                or name.startswith("/")
                or ".." in parts
                or not (member.isreg() or member.isdir() or member.issym() or member.islnk())
                or any(name.startswith(link + "/") for link in links)
            )
            if member.islnk():
                linked = member.linkname
                if strip:
                    linked = linked[len(strip) + 1 :] if linked.startswith(strip + "/") else ""
                unsafe = unsafe or linked not in seen
                member.linkname = linked
            if unsafe:
                skipped += 1
                continue
            member.name = name
            member.uid = member.gid = SANDBOX_UID
            member.uname = member.gname = ""
            member.mode &= 0o777
            if member.issym():
                links.append(name)
            seen.add(name)
            if member.isreg():
                outbound.addfile(member, inbound.extractfile(member))
                size += member.size
            else:
                outbound.addfile(member)
            entries += 1
    return RebaseReport(entries, size, skipped)
