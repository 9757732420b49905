"""The workspace archives' own logic: client paths, one-file tars, reading a file out of a stream,
and the rewrite that makes a saved workspace safe to unpack."""

from __future__ import annotations

import io
import tarfile
from collections.abc import AsyncIterator

import pytest

from sandbox_control_plane.workspace_store.archives import (
    ArchiveError,
    PathProblem,
    clean_path,
    file_archive,
    first_file,
    rebase,
)


async def chunks(data: bytes, size: int = 7) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def collect(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in stream])


@pytest.mark.parametrize(
    ("given", "expected"),
    [("a.txt", "a.txt"), ("/workspace/a/b.txt", "a/b.txt"), ("workspace/x", "x"), ("a//b/./c", "a/b/c")],
)
def test_paths_are_made_relative_to_the_workspace(given: str, expected: str) -> None:
    assert clean_path(given) == expected


@pytest.mark.parametrize(
    "given",
    ["", "..", "../x", "a/../../x", "a/..", "/etc/passwd", "/workspace", ".", "a\x00b", "x" * 1025, "a/" + "b" * 256],
)
def test_paths_that_leave_or_are_not_a_file_are_refused(given: str) -> None:
    problem = clean_path(given)
    assert isinstance(problem, PathProblem)
    assert problem.message


async def test_an_upload_becomes_a_tar_with_its_folders_all_the_sandbox_users() -> None:
    content = b"x" * 1500
    data = await collect(file_archive("deep/er/f.bin", len(content), chunks(content)))
    assert len(data) % 512 == 0
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        members = archive.getmembers()
        assert [(m.name, m.type, m.uid, m.gid) for m in members] == [
            ("deep", tarfile.DIRTYPE, 1000, 1000),
            ("deep/er", tarfile.DIRTYPE, 1000, 1000),
            ("deep/er/f.bin", tarfile.REGTYPE, 1000, 1000),
        ]
        extracted = archive.extractfile(members[-1])
        assert extracted is not None
        assert extracted.read() == content


async def test_an_upload_shorter_or_longer_than_declared_is_an_error() -> None:
    with pytest.raises(ArchiveError, match="early"):
        await collect(file_archive("f", 10, chunks(b"12345")))
    with pytest.raises(ArchiveError, match="longer"):
        await collect(file_archive("f", 2, chunks(b"12345")))


def tar_of(*members: tuple[tarfile.TarInfo, bytes | None], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as archive:
        for info, content in members:
            if content is not None:
                info.size = len(content)
            archive.addfile(info, io.BytesIO(content) if content is not None else None)
    return buffer.getvalue()


def entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.mode = 0o4755 if kind == tarfile.REGTYPE else 0o755
    return info


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
async def test_the_first_file_of_a_stream_is_read_with_a_long_name(fmt: int) -> None:
    name = "n" * 150 + ".txt"  # longer than a ustar name: a PAX or GNU header comes first
    data = tar_of((entry(name), b"hello" * 300), fmt=fmt)
    found, content = await first_file(chunks(data, 100))
    assert (found.name, found.size) == (name, 1500)
    assert await collect(content) == b"hello" * 300


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (entry("d", tarfile.DIRTYPE), "folder"),
        (entry("l", tarfile.SYMTYPE, "/etc"), "link"),
        (entry("p", tarfile.FIFOTYPE), "regular"),
    ],
)
async def test_a_stream_that_is_not_a_file_says_what_it_is(member: tarfile.TarInfo, message: str) -> None:
    with pytest.raises(ArchiveError, match=message):
        await first_file(chunks(tar_of((member, None))))


async def test_a_truncated_stream_is_an_error() -> None:
    data = tar_of((entry("f"), b"z" * 2000))
    _, content = await first_file(chunks(data[:1024]))
    with pytest.raises(ArchiveError, match="ended early"):
        await collect(content)


def test_a_saved_workspace_is_made_relative_and_safe() -> None:
    packed = tar_of(
        (entry("workspace", tarfile.DIRTYPE), None),
        (entry("workspace/src", tarfile.DIRTYPE), None),
        (entry("workspace/src/main.py"), b"print(1)"),
        (entry("workspace/hard", tarfile.LNKTYPE, "workspace/src/main.py"), None),
        (entry("workspace/outside", tarfile.LNKTYPE, "etc/shadow"), None),
        (entry("workspace/escape", tarfile.SYMTYPE, "/etc"), None),
        (entry("workspace/escape/passwd"), b"root::0"),
        (entry("workspace/../etc/x"), b"x"),
        (entry("other/file"), b"x"),
        (entry("workspace/dev", tarfile.CHRTYPE), None),
    )
    target = io.BytesIO()
    report = rebase(io.BytesIO(packed), target, "workspace")
    target.seek(0)
    with tarfile.open(fileobj=target) as archive:
        kept = {m.name: m for m in archive.getmembers()}
    assert set(kept) == {"src", "src/main.py", "hard", "escape"}
    assert kept["hard"].linkname == "src/main.py"
    assert all((m.uid, m.gid, m.uname) == (1000, 1000, "") for m in kept.values())
    assert kept["src/main.py"].mode == 0o755  # no set-id bits
    assert (report.entries, report.bytes, report.skipped) == (4, 8, 5)

    # Restoring reads an archive already relative: the same rules hold.
    again = io.BytesIO()
    target.seek(0)
    assert rebase(target, again, "").entries == 4
