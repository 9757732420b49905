"""Sessions: create from a template, get (optionally waiting for it to settle), list, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from sandbox_control_plane.api.deps import Ctx, Tenant
from sandbox_control_plane.api.errors import documented
from sandbox_control_plane.api.schemas import ResourceId, SessionBody, SessionList, SessionOut
from sandbox_control_plane.domain import SessionState, parse_quantity
from sandbox_control_plane.session_manager.service import SessionRequest
from sandbox_control_plane.utils.ids import ID_PATTERN

router = APIRouter(prefix="/sessions", tags=["sessions"])
SessionIdPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=32)]
WaitQuery = Annotated[
    float,
    Query(ge=0, le=300, description="Seconds to wait for the session to leave 'creating' (0: answer now)."),
]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SessionOut,
    responses=documented(401, 404, 413, 422, 503),
)
async def create_session(body: SessionBody, ctx: Ctx, tenant: Tenant) -> SessionOut:
    """Start a session: from a warm pool of this template and shape when one has a container ready
    (answered `ready`, with its `pool_id`), else a cold start (`creating` until its executor reports
    ready; `GET ...?wait_s=` waits for that). With `workspace`, the saved workspace is in /workspace
    before the answer (409 while another live session holds it)."""
    override = body.resources
    request = SessionRequest(
        template_id=body.template_id,
        cpu_millis=round(override.cpu * 1000) if override and override.cpu is not None else None,
        memory_mib=parse_quantity(override.memory) if override and override.memory else None,
        disk_mib=parse_quantity(override.disk) if override and override.disk else None,
        timeout_s=body.timeout,
        env=body.env,
        idle_timeout_s=body.idle_timeout,
        workspace=body.workspace,
    )
    return SessionOut.of(await ctx.sessions.create(tenant, request))


@router.get("", response_model=SessionList, responses=documented(401, 422, 503))
async def list_sessions(
    ctx: Ctx,
    tenant: Tenant,
    state: Annotated[list[SessionState] | None, Query(description="Only these states (repeatable).")] = None,
    template_id: Annotated[ResourceId | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[ResourceId | None, Query()] = None,
) -> SessionList:
    page = await ctx.sessions.list(tenant, states=state, template_id=template_id, limit=limit, cursor=cursor)
    return SessionList(items=[SessionOut.of(item) for item in page.items], next_cursor=page.next_cursor)


@router.get("/{session_id}", response_model=SessionOut, responses=documented(401, 404, 422, 503))
async def get_session(session_id: SessionIdPath, ctx: Ctx, tenant: Tenant, wait_s: WaitQuery = 0) -> SessionOut:
    wait = min(wait_s, ctx.settings.max_wait_s)
    return SessionOut.of(await ctx.sessions.get(tenant, session_id, wait))


@router.delete("/{session_id}", response_model=SessionOut, responses=documented(401, 404, 409, 422, 503))
async def delete_session(session_id: SessionIdPath, ctx: Ctx, tenant: Tenant) -> SessionOut:
    """End a session: cancel its executions, remove its container and workspace. 409 if already ended."""
    return SessionOut.of(await ctx.sessions.delete(tenant, session_id))
