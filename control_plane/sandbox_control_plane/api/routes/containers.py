"""The containers of a tenant's live sessions: state, node, and the last usage sample."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from sandbox_control_plane.api.deps import Ctx, Tenant
from sandbox_control_plane.api.errors import documented
from sandbox_control_plane.api.schemas import ContainerList, ContainerOut, ResourceId

router = APIRouter(prefix="/containers", tags=["containers"])


@router.get("", response_model=ContainerList, responses=documented(401, 422, 503))
async def list_containers(
    ctx: Ctx,
    tenant: Tenant,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[ResourceId | None, Query()] = None,
) -> ContainerList:
    """One item per live session (creating, ready, running). The monitor samples CPU and memory
    every SBX_CP_STATS_INTERVAL_S; an executor that stops answering ends its session
    (`executor_unresponsive`)."""
    page = await ctx.sessions.live_containers(tenant, limit, cursor)
    return ContainerList(items=[ContainerOut.of(item) for item in page.items], next_cursor=page.next_cursor)
