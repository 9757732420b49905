"""Warm pools of a tenant. Their members are rows of ``sessions`` (``pool_id``, state ``warm``)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from sandbox_control_plane.db.models import pools as p
from sandbox_control_plane.db.repositories.common import NOW, is_duplicate_key, utc_required
from sandbox_control_plane.domain import Page, PoolRecord, Resources
from sandbox_control_plane.utils.errors import ConflictError


def _record(row: sa.RowMapping) -> PoolRecord:
    return PoolRecord(
        id=row["id"],
        tenant_id=row["tenant_id"],
        template_id=row["template_id"],
        resources=Resources(row["cpu_millis"], row["memory_mib"], row["disk_mib"]),
        min_size=row["min_size"],
        max_size=row["max_size"],
        misses=row["misses"],
        created_at=utc_required(row["created_at"]),
        updated_at=utc_required(row["updated_at"]),
    )


async def insert(
    conn: AsyncConnection,
    *,
    pool_id: str,
    tenant_id: str,
    template_id: str,
    resources: Resources,
    min_size: int,
    max_size: int,
) -> PoolRecord:
    try:
        await conn.execute(
            sa.insert(p).values(
                id=pool_id,
                tenant_id=tenant_id,
                template_id=template_id,
                cpu_millis=resources.cpu_millis,
                memory_mib=resources.memory_mib,
                disk_mib=resources.disk_mib,
                min_size=min_size,
                max_size=max_size,
                created_at=NOW,
                updated_at=NOW,
            )
        )
    except IntegrityError as error:
        if is_duplicate_key(error):
            raise ConflictError(
                "A pool for this template and resource shape already exists; change its sizes instead.",
                {"template_id": template_id, "resources": resources.__dict__},
            ) from error
        raise
    found = await get(conn, pool_id)
    assert found is not None  # noqa: S101 - just inserted in this transaction
    return found


async def get(conn: AsyncConnection, pool_id: str, tenant_id: str | None = None) -> PoolRecord | None:
    query = sa.select(p).where(p.c.id == pool_id)
    if tenant_id is not None:
        query = query.where(p.c.tenant_id == tenant_id)
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else _record(row)


async def find(conn: AsyncConnection, tenant_id: str, template_id: str, resources: Resources) -> PoolRecord | None:
    """The pool a create of this shape would claim from (one indexed lookup)."""
    row = (
        (
            await conn.execute(
                sa.select(p).where(
                    p.c.tenant_id == tenant_id,
                    p.c.template_id == template_id,
                    p.c.cpu_millis == resources.cpu_millis,
                    p.c.memory_mib == resources.memory_mib,
                    p.c.disk_mib == resources.disk_mib,
                )
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else _record(row)


async def list_page(conn: AsyncConnection, tenant_id: str, limit: int, cursor: str | None) -> Page[PoolRecord]:
    query = sa.select(p).where(p.c.tenant_id == tenant_id).order_by(p.c.id).limit(limit + 1)
    if cursor:
        query = query.where(p.c.id > cursor)
    rows = (await conn.execute(query)).mappings().all()
    items = [_record(row) for row in rows[:limit]]
    return Page(items, items[-1].id if len(rows) > limit else None)


async def all_pools(conn: AsyncConnection) -> list[PoolRecord]:
    return [_record(row) for row in (await conn.execute(sa.select(p).order_by(p.c.id))).mappings().all()]


async def resize(conn: AsyncConnection, pool_id: str, tenant_id: str, min_size: int, max_size: int) -> bool:
    result = await conn.execute(
        sa.update(p)
        .where(p.c.id == pool_id, p.c.tenant_id == tenant_id)
        .values(min_size=min_size, max_size=max_size, updated_at=NOW)
    )
    return bool(result.rowcount)


async def record_miss(conn: AsyncConnection, pool_id: str) -> None:
    await conn.execute(sa.update(p).where(p.c.id == pool_id).values(misses=p.c.misses + 1))


async def decay_misses(conn: AsyncConnection, pool_id: str) -> None:
    """Halve the recent misses: a burst grows the pool for a while, then it returns to its minimum."""
    await conn.execute(sa.update(p).where(p.c.id == pool_id, p.c.misses > 0).values(misses=p.c.misses / 2))


async def delete(conn: AsyncConnection, pool_id: str, tenant_id: str) -> bool:
    result = await conn.execute(sa.delete(p).where(p.c.id == pool_id, p.c.tenant_id == tenant_id))
    return bool(result.rowcount)


async def delete_for_template(conn: AsyncConnection, tenant_id: str, template_id: str) -> list[str]:
    ids = list(
        (
            await conn.execute(sa.select(p.c.id).where(p.c.tenant_id == tenant_id, p.c.template_id == template_id))
        ).scalars()
    )
    if ids:
        await conn.execute(sa.delete(p).where(p.c.id.in_(ids)))
    return ids
