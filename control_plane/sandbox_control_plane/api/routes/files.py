"""Files of a session's workspace: upload one (the body is the file), download one (streamed)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse

from sandbox_control_plane.api.deps import Ctx, Tenant
from sandbox_control_plane.api.errors import documented
from sandbox_control_plane.api.schemas import FileOut
from sandbox_control_plane.utils.ids import ID_PATTERN

router = APIRouter(prefix="/sessions", tags=["files"])
SessionIdPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=32)]
FilePath = Annotated[
    str,
    Query(
        min_length=1,
        max_length=1024,
        description="The file, relative to /workspace (or under /workspace/); no '..' parts.",
        examples=["data/input.csv"],
    ),
]


@router.put(
    "/{session_id}/files",
    response_model=FileOut,
    responses=documented(401, 404, 409, 413, 422, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def upload_file(session_id: SessionIdPath, path: FilePath, request: Request, ctx: Ctx, tenant: Tenant) -> FileOut:
    """Write the request body as one file of the workspace, owned by the sandbox user (folders made
    as needed, an existing file replaced). Streamed; at most SBX_CP_FILE_MAX_BYTES (413 above)."""
    declared = request.headers.get("content-length")
    written, size = await ctx.files.upload(
        tenant,
        session_id,
        path,
        request.stream(),
        int(declared) if declared and declared.isdigit() else None,
    )
    return FileOut(path=written, size_bytes=size)


@router.get(
    "/{session_id}/files",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
        **documented(401, 404, 409, 413, 422, 503),
    },
)
async def download_file(session_id: SessionIdPath, path: FilePath, ctx: Ctx, tenant: Tenant) -> StreamingResponse:
    """One file of the workspace, streamed, with its size as Content-Length. 422 for a folder or a
    link; 413 above SBX_CP_FILE_MAX_BYTES."""
    download = await ctx.files.download(tenant, session_id, path)
    name = download.path.rsplit("/", 1)[-1]
    return StreamingResponse(
        download.content,
        media_type="application/octet-stream",
        headers={
            "Content-Length": str(download.entry.size),
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
        },
    )
