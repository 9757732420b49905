"""Sessions. State changes are conditional updates guarded by the lifecycle table."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sandbox_control_plane.db.models import sessions as s
from sandbox_control_plane.db.repositories.common import NOW, seconds_ago, seconds_ahead, utc, utc_required
from sandbox_control_plane.domain import (
    ExecutionStatus,
    Language,
    Network,
    Page,
    Reason,
    Resources,
    SessionRecord,
    SessionState,
)
from sandbox_control_plane.session_manager.lifecycle import sources_of


def _record(row: sa.RowMapping) -> SessionRecord:
    return SessionRecord(
        id=row["id"],
        tenant_id=row["tenant_id"],
        template_id=row["template_id"],
        state=SessionState(row["state"]),
        state_reason=Reason(row["state_reason"]) if row["state_reason"] else None,
        image=row["image"],
        languages=[Language(value) for value in row["languages"]],
        network=Network(row["network"]),
        resources=Resources(row["cpu_millis"], row["memory_mib"], row["disk_mib"]),
        timeout_s=row["timeout_s"],
        env=dict(row["env"]),
        container_id=row["container_id"],
        node=row["node"],
        created_at=utc_required(row["created_at"]),
        updated_at=utc_required(row["updated_at"]),
        ready_at=utc(row["ready_at"]),
        expires_at=utc_required(row["expires_at"]),
        terminated_at=utc(row["terminated_at"]),
    )


async def insert(
    conn: AsyncConnection,
    *,
    session_id: str,
    tenant_id: str,
    template_id: str,
    image: str,
    languages: list[Language],
    network: Network,
    resources: Resources,
    timeout_s: int,
    env: dict[str, str],
) -> SessionRecord:
    await conn.execute(
        sa.insert(s).values(
            id=session_id,
            tenant_id=tenant_id,
            template_id=template_id,
            state=str(SessionState.CREATING),
            image=image,
            languages=[str(language) for language in languages],
            network=str(network),
            cpu_millis=resources.cpu_millis,
            memory_mib=resources.memory_mib,
            disk_mib=resources.disk_mib,
            timeout_s=timeout_s,
            env=env,
            created_at=NOW,
            updated_at=NOW,
            expires_at=seconds_ahead(timeout_s),
        )
    )
    found = await get(conn, session_id)
    assert found is not None  # noqa: S101 - just inserted in this transaction
    return found


async def get(
    conn: AsyncConnection, session_id: str, tenant_id: str | None = None, *, for_update: bool = False
) -> SessionRecord | None:
    query = sa.select(s).where(s.c.id == session_id)
    if tenant_id is not None:
        query = query.where(s.c.tenant_id == tenant_id)
    if for_update:
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else _record(row)


async def get_state(conn: AsyncConnection, session_id: str, tenant_id: str | None = None) -> SessionState | None:
    query = sa.select(s.c.state).where(s.c.id == session_id)
    if tenant_id is not None:
        query = query.where(s.c.tenant_id == tenant_id)
    value = (await conn.execute(query)).scalar_one_or_none()
    return None if value is None else SessionState(value)


async def get_for_submit(
    conn: AsyncConnection, session_id: str, tenant_id: str
) -> tuple[SessionState, list[Language]] | None:
    """Just what a submission checks: the session's state and languages (the hot path)."""
    query = sa.select(s.c.state, s.c.languages).where(s.c.id == session_id, s.c.tenant_id == tenant_id)
    row = (await conn.execute(query)).first()
    return None if row is None else (SessionState(row[0]), [Language(value) for value in row[1]])


async def list_page(
    conn: AsyncConnection,
    tenant_id: str,
    *,
    states: list[SessionState] | None,
    template_id: str | None,
    limit: int,
    cursor: str | None,
) -> Page[SessionRecord]:
    query = sa.select(s).where(s.c.tenant_id == tenant_id).order_by(s.c.id).limit(limit + 1)
    if states:
        query = query.where(s.c.state.in_([str(state) for state in states]))
    if template_id:
        query = query.where(s.c.template_id == template_id)
    if cursor:
        query = query.where(s.c.id > cursor)
    rows = (await conn.execute(query)).mappings().all()
    items = [_record(row) for row in rows[:limit]]
    return Page(items, items[-1].id if len(rows) > limit else None)


async def transition(
    conn: AsyncConnection,
    session_id: str,
    target: SessionState,
    *,
    reason: Reason | None = None,
    only_from: frozenset[SessionState] | None = None,
    **values: Any,
) -> bool:
    """Move the session to ``target`` if the lifecycle allows it from its current state.

    Returns False when another request got there first (or the state does not allow it).
    """
    sources = sources_of(target) if only_from is None else only_from & sources_of(target)
    extra: dict[str, Any] = dict(values)
    if target is SessionState.READY:
        extra.setdefault("ready_at", sa.func.coalesce(s.c.ready_at, NOW))
    if target is SessionState.TERMINATED:
        extra["terminated_at"] = NOW
    if reason is not None:
        extra["state_reason"] = str(reason)
    result = await conn.execute(
        sa.update(s)
        .where(s.c.id == session_id, s.c.state.in_([str(state) for state in sources]))
        .values(state=str(target), updated_at=NOW, **extra)
    )
    return bool(result.rowcount)


async def ready_unless_running(conn: AsyncConnection, session_id: str) -> bool:
    """``running`` -> ``ready`` once none of the session's executions runs (one statement)."""
    from sandbox_control_plane.db.models import executions as e

    still_running = (
        sa.select(e.c.id).where(e.c.session_id == session_id, e.c.status == str(ExecutionStatus.RUNNING)).exists()
    )
    result = await conn.execute(
        sa.update(s)
        .where(s.c.id == session_id, s.c.state == str(SessionState.RUNNING), ~still_running)
        .values(state=str(SessionState.READY), updated_at=NOW, executor_seen_at=NOW)
    )
    return bool(result.rowcount)


async def set_container(conn: AsyncConnection, session_id: str, container_id: str, node: str) -> None:
    await conn.execute(
        sa.update(s).where(s.c.id == session_id).values(container_id=container_id, node=node, updated_at=NOW)
    )


async def executor_seen(conn: AsyncConnection, session_id: str) -> None:
    await conn.execute(sa.update(s).where(s.c.id == session_id).values(executor_seen_at=NOW))


async def count_live_for_template(conn: AsyncConnection, tenant_id: str, template_id: str) -> int:
    query = sa.select(sa.func.count()).where(
        s.c.tenant_id == tenant_id,
        s.c.template_id == template_id,
        s.c.state.notin_([str(SessionState.TERMINATED)]),
    )
    return int((await conn.execute(query)).scalar_one())


async def counts_by_state(conn: AsyncConnection) -> dict[SessionState, int]:
    rows = (await conn.execute(sa.select(s.c.state, sa.func.count()).group_by(s.c.state))).all()
    counts = dict.fromkeys(SessionState, 0)
    for state, count in rows:
        counts[SessionState(state)] = int(count)
    return counts


async def stuck_creating(conn: AsyncConnection, older_than_s: float, limit: int = 100) -> list[SessionRecord]:
    query = (
        sa.select(s)
        .where(s.c.state == str(SessionState.CREATING), s.c.created_at < seconds_ago(older_than_s))
        .limit(limit)
    )
    return [_record(row) for row in (await conn.execute(query)).mappings().all()]


async def expired(conn: AsyncConnection, limit: int = 100) -> list[SessionRecord]:
    query = (
        sa.select(s)
        .where(
            s.c.state.in_([str(SessionState.READY), str(SessionState.RUNNING), str(SessionState.CREATING)]),
            s.c.expires_at < NOW,
        )
        .limit(limit)
    )
    return [_record(row) for row in (await conn.execute(query)).mappings().all()]


async def unfinished_terminations(conn: AsyncConnection, older_than_s: float, limit: int = 100) -> list[SessionRecord]:
    query = (
        sa.select(s)
        .where(s.c.state == str(SessionState.TERMINATING), s.c.updated_at < seconds_ago(older_than_s))
        .limit(limit)
    )
    return [_record(row) for row in (await conn.execute(query)).mappings().all()]


async def silent_executors(conn: AsyncConnection, older_than_s: float, limit: int = 100) -> list[SessionRecord]:
    """Ready sessions whose executor has not called for a while (its container may be gone)."""
    query = (
        sa.select(s)
        .where(
            s.c.state == str(SessionState.READY),
            sa.func.coalesce(s.c.executor_seen_at, s.c.created_at) < seconds_ago(older_than_s),
        )
        .limit(limit)
    )
    return [_record(row) for row in (await conn.execute(query)).mappings().all()]
