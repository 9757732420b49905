"""Warm pools: containers started ahead for one template and resource shape."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from sandbox_control_plane.api.deps import Ctx, Tenant
from sandbox_control_plane.api.errors import documented
from sandbox_control_plane.api.schemas import PoolBody, PoolList, PoolOut, PoolResize, ResourceId
from sandbox_control_plane.domain import parse_quantity
from sandbox_control_plane.utils.ids import ID_PATTERN

router = APIRouter(prefix="/pools", tags=["pools"])
PoolIdPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=32)]


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=PoolOut, responses=documented(401, 404, 409, 422, 503)
)
async def create_pool(body: PoolBody, ctx: Ctx, tenant: Tenant) -> PoolOut:
    """Keep `min_size` to `max_size` containers of this template and shape started; a session create
    asking for exactly this template and shape takes one (its `pool_id` says so), else starts cold."""
    override = body.resources
    pool, counts = await ctx.pools.create(
        tenant,
        body.template_id,
        round(override.cpu * 1000) if override and override.cpu is not None else None,
        parse_quantity(override.memory) if override and override.memory else None,
        parse_quantity(override.disk) if override and override.disk else None,
        body.min_size,
        body.max_size,
    )
    return PoolOut.of(pool, counts)


@router.get("", response_model=PoolList, responses=documented(401, 422, 503))
async def list_pools(
    ctx: Ctx,
    tenant: Tenant,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[ResourceId | None, Query()] = None,
) -> PoolList:
    page, counts = await ctx.pools.list(tenant, limit, cursor)
    return PoolList(items=[PoolOut.of(pool, counts[pool.id]) for pool in page.items], next_cursor=page.next_cursor)


@router.get("/{pool_id}", response_model=PoolOut, responses=documented(401, 404, 422, 503))
async def get_pool(pool_id: PoolIdPath, ctx: Ctx, tenant: Tenant) -> PoolOut:
    return PoolOut.of(*await ctx.pools.get(tenant, pool_id))


@router.put("/{pool_id}/size", response_model=PoolOut, responses=documented(401, 404, 422, 503))
async def resize_pool(pool_id: PoolIdPath, body: PoolResize, ctx: Ctx, tenant: Tenant) -> PoolOut:
    """Change the sizes; the keeper starts or ends unclaimed containers in its next round."""
    return PoolOut.of(*await ctx.pools.resize(tenant, pool_id, body.min_size, body.max_size))


@router.delete(
    "/{pool_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=documented(401, 404, 422, 503),
)
async def delete_pool(pool_id: PoolIdPath, ctx: Ctx, tenant: Tenant) -> Response:
    """Delete the pool; its unclaimed containers are ended, sessions taken from it go on."""
    await ctx.pools.delete(tenant, pool_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
