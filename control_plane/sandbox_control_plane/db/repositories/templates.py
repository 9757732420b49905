"""Templates of a tenant."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from sandbox_control_plane.db.models import templates as t
from sandbox_control_plane.db.repositories.common import NOW, is_duplicate_key, utc_required
from sandbox_control_plane.domain import Language, Network, Page, Resources, TemplateRecord
from sandbox_control_plane.utils.errors import ConflictError


def _record(row: sa.RowMapping) -> TemplateRecord:
    return TemplateRecord(
        id=row["id"],
        tenant_id=row["tenant_id"],
        name=row["name"],
        description=row["description"],
        image=row["image"],
        languages=[Language(value) for value in row["languages"]],
        default_resources=Resources(row["default_cpu_millis"], row["default_memory_mib"], row["default_disk_mib"]),
        max_resources=Resources(row["max_cpu_millis"], row["max_memory_mib"], row["max_disk_mib"]),
        default_timeout_s=row["default_timeout_s"],
        network=Network(row["network"]),
        created_at=utc_required(row["created_at"]),
        updated_at=utc_required(row["updated_at"]),
    )


def columns_of(
    *,
    name: str,
    description: str,
    image: str,
    languages: list[Language],
    default_resources: Resources,
    max_resources: Resources,
    default_timeout_s: int,
    network: Network,
) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "image": image,
        "languages": [str(language) for language in languages],
        "default_cpu_millis": default_resources.cpu_millis,
        "default_memory_mib": default_resources.memory_mib,
        "default_disk_mib": default_resources.disk_mib,
        "max_cpu_millis": max_resources.cpu_millis,
        "max_memory_mib": max_resources.memory_mib,
        "max_disk_mib": max_resources.disk_mib,
        "default_timeout_s": default_timeout_s,
        "network": str(network),
    }


def _name_taken(name: str) -> ConflictError:
    return ConflictError(f"A template named '{name}' already exists for this tenant.", {"field": "name", "value": name})


async def insert(conn: AsyncConnection, template_id: str, tenant_id: str, values: dict[str, Any]) -> TemplateRecord:
    try:
        await conn.execute(
            sa.insert(t).values(id=template_id, tenant_id=tenant_id, created_at=NOW, updated_at=NOW, **values)
        )
    except IntegrityError as error:
        if is_duplicate_key(error):
            raise _name_taken(values["name"]) from error
        raise
    found = await get(conn, tenant_id, template_id)
    assert found is not None  # noqa: S101 - just inserted in this transaction
    return found


async def get(conn: AsyncConnection, tenant_id: str, template_id: str) -> TemplateRecord | None:
    row = (await conn.execute(sa.select(t).where(t.c.id == template_id, t.c.tenant_id == tenant_id))).mappings().first()
    return None if row is None else _record(row)


async def list_page(conn: AsyncConnection, tenant_id: str, limit: int, cursor: str | None) -> Page[TemplateRecord]:
    query = sa.select(t).where(t.c.tenant_id == tenant_id).order_by(t.c.id).limit(limit + 1)
    if cursor:
        query = query.where(t.c.id > cursor)
    rows = (await conn.execute(query)).mappings().all()
    items = [_record(row) for row in rows[:limit]]
    return Page(items, items[-1].id if len(rows) > limit else None)


async def update(
    conn: AsyncConnection, tenant_id: str, template_id: str, values: dict[str, Any]
) -> TemplateRecord | None:
    try:
        await conn.execute(
            sa.update(t).where(t.c.id == template_id, t.c.tenant_id == tenant_id).values(updated_at=NOW, **values)
        )
    except IntegrityError as error:
        if is_duplicate_key(error):
            raise _name_taken(values.get("name", "")) from error
        raise
    return await get(conn, tenant_id, template_id)


async def delete(conn: AsyncConnection, tenant_id: str, template_id: str) -> bool:
    result = await conn.execute(sa.delete(t).where(t.c.id == template_id, t.c.tenant_id == tenant_id))
    return bool(result.rowcount)
