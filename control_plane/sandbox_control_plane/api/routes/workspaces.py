"""A tenant's saved workspaces (in the S3 bucket): list, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from sandbox_control_plane.api.deps import Ctx, Tenant
from sandbox_control_plane.api.errors import documented
from sandbox_control_plane.api.schemas import WorkspaceList, WorkspaceOut
from sandbox_control_plane.workspace_store.s3 import WORKSPACE_NAME

router = APIRouter(prefix="/workspaces", tags=["workspaces"])
NamePath = Annotated[str, Path(pattern=WORKSPACE_NAME, max_length=63)]


@router.get("", response_model=WorkspaceList, responses=documented(401, 404, 422, 503))
async def list_workspaces(ctx: Ctx, tenant: Tenant) -> WorkspaceList:
    """Every saved workspace of this tenant, by name, with the live session holding it (if any).
    404 when the control plane has no bucket configured."""
    found = await ctx.workspace_catalog.list(tenant)
    return WorkspaceList(
        items=[
            WorkspaceOut(name=item.name, size_bytes=item.size_bytes, saved_at=item.saved_at, session_id=holder)
            for item, holder in found
        ]
    )


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, responses=documented(401, 404, 409, 422, 503))
async def delete_workspace(name: NamePath, ctx: Ctx, tenant: Tenant) -> None:
    """Delete a saved workspace. 409 while a live session holds it (its end would save it again)."""
    await ctx.workspace_catalog.delete(tenant, name)
