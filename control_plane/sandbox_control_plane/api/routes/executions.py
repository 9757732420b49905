"""Executions of a session: submit (202), get (optionally waiting for the end), list, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from sandbox_control_plane.api.deps import Ctx, RequestId, Tenant
from sandbox_control_plane.api.errors import documented
from sandbox_control_plane.api.schemas import ExecutionBody, ExecutionList, ExecutionOut, ResourceId
from sandbox_control_plane.domain import ExecutionStatus
from sandbox_control_plane.utils.ids import ID_PATTERN

router = APIRouter(prefix="/sessions/{session_id}/executions", tags=["executions"])
SessionIdPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=32)]
ExecutionIdPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=32)]


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ExecutionOut,
    responses=documented(401, 404, 409, 413, 422, 503),
)
async def submit_execution(
    session_id: SessionIdPath, body: ExecutionBody, ctx: Ctx, tenant: Tenant, request_id: RequestId
) -> ExecutionOut:
    """Queue code to run in the session; executions of one session run one after another."""
    record = await ctx.executions.submit(
        tenant,
        session_id,
        code=body.code,
        language=body.language,
        timeout_s=body.timeout,
        request_id=request_id,
    )
    return ExecutionOut.of(record)


@router.get("", response_model=ExecutionList, responses=documented(401, 404, 422, 503))
async def list_executions(
    session_id: SessionIdPath,
    ctx: Ctx,
    tenant: Tenant,
    status_: Annotated[
        list[ExecutionStatus] | None, Query(alias="status", description="Only these (repeatable).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[ResourceId | None, Query()] = None,
) -> ExecutionList:
    page = await ctx.executions.list(tenant, session_id, statuses=status_, limit=limit, cursor=cursor)
    return ExecutionList(items=[ExecutionOut.of(item) for item in page.items], next_cursor=page.next_cursor)


@router.get("/{execution_id}", response_model=ExecutionOut, responses=documented(401, 404, 422, 503))
async def get_execution(
    session_id: SessionIdPath,
    execution_id: ExecutionIdPath,
    ctx: Ctx,
    tenant: Tenant,
    wait_s: Annotated[float, Query(ge=0, le=300, description="Seconds to wait for a final status (0: now).")] = 0,
) -> ExecutionOut:
    wait = min(wait_s, ctx.settings.max_wait_s)
    return ExecutionOut.of(await ctx.executions.get(tenant, session_id, execution_id, wait))


@router.post(
    "/{execution_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ExecutionOut,
    responses=documented(401, 404, 409, 422, 503),
)
async def cancel_execution(
    session_id: SessionIdPath, execution_id: ExecutionIdPath, ctx: Ctx, tenant: Tenant
) -> ExecutionOut:
    """Cancel a pending execution at once, a running one within a heartbeat. 409 once it has ended."""
    return ExecutionOut.of(await ctx.executions.cancel(tenant, session_id, execution_id))
