"""Templates: create, get, list, replace, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from sandbox_control_plane.api.deps import Ctx, Tenant
from sandbox_control_plane.api.errors import documented
from sandbox_control_plane.api.schemas import ResourceId, TemplateBody, TemplateList, TemplateOut
from sandbox_control_plane.template_manager.validator import TemplateSpec
from sandbox_control_plane.utils.ids import ID_PATTERN

router = APIRouter(prefix="/templates", tags=["templates"])
TemplateIdPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=32)]


def _spec(body: TemplateBody) -> TemplateSpec:
    return TemplateSpec(
        name=body.name,
        description=body.description,
        image=body.image,
        languages=list(dict.fromkeys(body.languages)),
        default_resources=body.default_resources.to_domain(),
        max_resources=body.max_resources.to_domain(),
        default_timeout_s=body.default_timeout,
        network=body.network,
        privileged=body.privileged,
        cap_add=tuple(body.cap_add),
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TemplateOut,
    responses=documented(401, 409, 413, 422, 503),
)
async def create_template(body: TemplateBody, ctx: Ctx, tenant: Tenant) -> TemplateOut:
    """Create a template. Refused: an image whose user is root, privileged, added capabilities."""
    return TemplateOut.of(await ctx.templates.create(tenant, _spec(body)))


@router.get("", response_model=TemplateList, responses=documented(401, 422, 503))
async def list_templates(
    ctx: Ctx,
    tenant: Tenant,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[ResourceId | None, Query()] = None,
) -> TemplateList:
    page = await ctx.templates.list(tenant, limit, cursor)
    return TemplateList(items=[TemplateOut.of(item) for item in page.items], next_cursor=page.next_cursor)


@router.get("/{template_id}", response_model=TemplateOut, responses=documented(401, 404, 422, 503))
async def get_template(template_id: TemplateIdPath, ctx: Ctx, tenant: Tenant) -> TemplateOut:
    return TemplateOut.of(await ctx.templates.get(tenant, template_id))


@router.put("/{template_id}", response_model=TemplateOut, responses=documented(401, 404, 409, 413, 422, 503))
async def replace_template(template_id: TemplateIdPath, body: TemplateBody, ctx: Ctx, tenant: Tenant) -> TemplateOut:
    """Replace a template. Sessions already created keep the values they were created with."""
    return TemplateOut.of(await ctx.templates.replace(tenant, template_id, _spec(body)))


@router.delete(
    "/{template_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=documented(401, 404, 409, 422, 503),
)
async def delete_template(template_id: TemplateIdPath, ctx: Ctx, tenant: Tenant) -> Response:
    """Delete a template that no live session uses."""
    await ctx.templates.delete(tenant, template_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
