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
        pool_id=row["pool_id"],
        workspace_id=row["workspace_id"],
        idle_timeout_s=row["idle_timeout_s"],
        last_activity_at=utc(row["last_activity_at"]),
        executor_seen_at=utc(row["executor_seen_at"]),
        cpu_percent=row["cpu_percent"],
        memory_bytes=row["memory_bytes"],
        stats_at=utc(row["stats_at"]),
    )


# Warm pool members are no tenant's session until claimed: every tenant-facing read leaves them out.
_NOT_WARM = s.c.state != str(SessionState.WARM)


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
    pool_id: str | None = None,
    idle_timeout_s: int | None = None,
    workspace_id: str | None = None,
) -> SessionRecord:
    await conn.execute(
        sa.insert(s).values(
            pool_id=pool_id,
            idle_timeout_s=idle_timeout_s,
            workspace_id=workspace_id,
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
        query = query.where(s.c.tenant_id == tenant_id, _NOT_WARM)
    if for_update:
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else _record(row)


async def get_state(conn: AsyncConnection, session_id: str, tenant_id: str | None = None) -> SessionState | None:
    query = sa.select(s.c.state).where(s.c.id == session_id)
    if tenant_id is not None:
        query = query.where(s.c.tenant_id == tenant_id, _NOT_WARM)
    value = (await conn.execute(query)).scalar_one_or_none()
    return None if value is None else SessionState(value)


async def get_for_submit(
    conn: AsyncConnection, session_id: str, tenant_id: str
) -> tuple[SessionState, list[Language]] | None:
    """Just what a submission checks: the session's state and languages (the hot path)."""
    query = sa.select(s.c.state, s.c.languages).where(s.c.id == session_id, s.c.tenant_id == tenant_id, _NOT_WARM)
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
    query = sa.select(s).where(s.c.tenant_id == tenant_id, _NOT_WARM).order_by(s.c.id).limit(limit + 1)
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
        extra.setdefault("last_activity_at", NOW)  # the idle clock starts (again)
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
        .values(state=str(SessionState.READY), updated_at=NOW, executor_seen_at=NOW, last_activity_at=NOW)
    )
    return bool(result.rowcount)


async def set_container(conn: AsyncConnection, session_id: str, container_id: str, node: str) -> None:
    await conn.execute(
        sa.update(s).where(s.c.id == session_id).values(container_id=container_id, node=node, updated_at=NOW)
    )


async def set_workspace(conn: AsyncConnection, session_id: str, workspace_id: str | None) -> None:
    await conn.execute(sa.update(s).where(s.c.id == session_id).values(workspace_id=workspace_id, updated_at=NOW))


async def executor_seen(conn: AsyncConnection, session_id: str) -> None:
    await conn.execute(sa.update(s).where(s.c.id == session_id).values(executor_seen_at=NOW))


async def count_live_for_template(conn: AsyncConnection, tenant_id: str, template_id: str) -> int:
    # A pool's unclaimed containers do not count: they go with the template's pools.
    unclaimed = sa.and_(s.c.pool_id.is_not(None), s.c.state.in_([str(SessionState.WARM), str(SessionState.CREATING)]))
    query = sa.select(sa.func.count()).where(
        s.c.tenant_id == tenant_id,
        s.c.template_id == template_id,
        s.c.state.notin_([str(SessionState.TERMINATED)]),
        ~unclaimed,
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
    """Live sessions past their end; a warm pool's container is recycled at its (long) end too."""
    query = (
        sa.select(s)
        .where(
            s.c.state.in_(
                [
                    str(SessionState.READY),
                    str(SessionState.RUNNING),
                    str(SessionState.CREATING),
                    str(SessionState.WARM),
                ]
            ),
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
    """Ready or warm sessions whose executor has not called for a while (its container may be gone)."""
    query = (
        sa.select(s)
        .where(
            s.c.state.in_([str(SessionState.READY), str(SessionState.WARM)]),
            sa.func.coalesce(s.c.executor_seen_at, s.c.created_at) < seconds_ago(older_than_s),
        )
        .limit(limit)
    )
    return [_record(row) for row in (await conn.execute(query)).mappings().all()]


async def idle(conn: AsyncConnection, limit: int = 100) -> list[SessionRecord]:
    """Ready sessions with an idle limit that ran nothing for longer than it."""
    last = sa.func.coalesce(s.c.last_activity_at, s.c.ready_at, s.c.created_at)
    query = (
        sa.select(s)
        .where(
            s.c.state == str(SessionState.READY),
            s.c.idle_timeout_s.is_not(None),
            last < sa.func.timestampadd(sa.text("SECOND"), -s.c.idle_timeout_s, NOW),
        )
        .limit(limit)
    )
    return [_record(row) for row in (await conn.execute(query)).mappings().all()]


async def touch(conn: AsyncConnection, session_id: str) -> None:
    """The session was used (an execution was submitted): its idle clock starts again."""
    await conn.execute(sa.update(s).where(s.c.id == session_id).values(last_activity_at=NOW))


async def claim_warm(
    conn: AsyncConnection,
    *,
    pool_id: str,
    image: str,
    timeout_s: int,
    env: dict[str, str],
    idle_timeout_s: int | None,
    workspace_id: str | None,
) -> SessionRecord | None:
    """Take one warm container of the pool for a new session, or None if there is none.

    ``FOR UPDATE SKIP LOCKED``: concurrent claims on any instance each lock a different row (or
    none) instead of waiting on each other; the conditional update then makes it theirs.
    """
    picked = (
        await conn.execute(
            sa.select(s.c.id)
            .where(s.c.pool_id == pool_id, s.c.state == str(SessionState.WARM), s.c.image == image)
            # By id (time-ordered), which the (pool_id, state) index holds in order: ordering by
            # anything else makes InnoDB sort, and a sort locks every warm row before SKIP LOCKED
            # can skip any, so concurrent claims would all find the pool "empty".
            .order_by(s.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
    ).scalar_one_or_none()
    if picked is None:
        return None
    moved = await conn.execute(
        sa.update(s)
        .where(s.c.id == picked, s.c.state == str(SessionState.WARM))
        .values(
            state=str(SessionState.READY),
            env=env,
            timeout_s=timeout_s,
            idle_timeout_s=idle_timeout_s,
            workspace_id=workspace_id,
            created_at=NOW,
            updated_at=NOW,
            ready_at=NOW,
            last_activity_at=NOW,
            expires_at=seconds_ahead(timeout_s),
        )
    )
    if not moved.rowcount:
        return None
    return await get(conn, picked)


async def pool_member_counts(conn: AsyncConnection, pool_id: str, image: str) -> tuple[int, int, list[str]]:
    """(warm, starting) members of a pool with the current image, and the ids of stale warm ones."""
    rows = (
        await conn.execute(
            sa.select(s.c.id, s.c.state, s.c.image).where(
                s.c.pool_id == pool_id,
                s.c.state.in_([str(SessionState.WARM), str(SessionState.CREATING)]),
            )
        )
    ).all()
    warm = sum(1 for row in rows if row[1] == str(SessionState.WARM) and row[2] == image)
    starting = sum(1 for row in rows if row[1] == str(SessionState.CREATING) and row[2] == image)
    stale = [row[0] for row in rows if row[2] != image and row[1] == str(SessionState.WARM)]
    return warm, starting, stale


async def warm_members(conn: AsyncConnection, pool_id: str, limit: int) -> list[SessionRecord]:
    query = (
        sa.select(s)
        .where(s.c.pool_id == pool_id, s.c.state == str(SessionState.WARM))
        .order_by(s.c.created_at.desc())
        .limit(limit)
    )
    return [_record(row) for row in (await conn.execute(query)).mappings().all()]


async def by_ids(conn: AsyncConnection, session_ids: list[str]) -> list[SessionRecord]:
    if not session_ids:
        return []
    query = sa.select(s).where(s.c.id.in_(session_ids))
    return [_record(row) for row in (await conn.execute(query)).mappings().all()]


async def states_of(conn: AsyncConnection, session_ids: list[str]) -> dict[str, SessionState]:
    if not session_ids:
        return {}
    rows = (await conn.execute(sa.select(s.c.id, s.c.state).where(s.c.id.in_(session_ids)))).all()
    return {row[0]: SessionState(row[1]) for row in rows}


async def live_without_container_since(
    conn: AsyncConnection, present: set[str], older_than_s: float, limit: int = 500
) -> list[SessionRecord]:
    """Sessions that should have a container, have been past ``creating`` a while, and whose
    container the runtime does not list."""
    query = (
        sa.select(s)
        .where(
            s.c.state.in_([str(SessionState.READY), str(SessionState.RUNNING), str(SessionState.WARM)]),
            s.c.updated_at < seconds_ago(older_than_s),
        )
        .order_by(s.c.id)
    )
    rows = (await conn.execute(query)).mappings().all()
    return [_record(row) for row in rows if row["id"] not in present][:limit]


async def needing_stats(conn: AsyncConnection, older_than_s: float, limit: int) -> list[SessionRecord]:
    """Live sessions whose usage sample is the oldest (or missing)."""
    query = (
        sa.select(s)
        .where(
            s.c.state.in_([str(SessionState.READY), str(SessionState.RUNNING)]),
            s.c.container_id.is_not(None),
            sa.or_(s.c.stats_at.is_(None), s.c.stats_at < seconds_ago(older_than_s)),
        )
        .order_by(s.c.stats_at.is_not(None), s.c.stats_at)
        .limit(limit)
    )
    return [_record(row) for row in (await conn.execute(query)).mappings().all()]


async def record_stats(
    conn: AsyncConnection, session_id: str, cpu_percent: float | None, memory_bytes: int | None
) -> None:
    """A usage sample, or (``None``) that the runtime had none to give: either way the session is not
    due again for ``stats_interval_s`` (a cluster without metrics-server is not asked every sweep)."""
    await conn.execute(
        sa.update(s)
        .where(s.c.id == session_id)
        .values(cpu_percent=cpu_percent, memory_bytes=memory_bytes, stats_at=NOW)
    )


async def live_page(conn: AsyncConnection, tenant_id: str, *, limit: int, cursor: str | None) -> Page[SessionRecord]:
    """A tenant's sessions that have (or should have) a container, for ``/api/v1/containers``."""
    query = (
        sa.select(s)
        .where(
            s.c.tenant_id == tenant_id,
            s.c.state.in_([str(SessionState.CREATING), str(SessionState.READY), str(SessionState.RUNNING)]),
        )
        .order_by(s.c.id)
        .limit(limit + 1)
    )
    if cursor:
        query = query.where(s.c.id > cursor)
    rows = (await conn.execute(query)).mappings().all()
    items = [_record(row) for row in rows[:limit]]
    return Page(items, items[-1].id if len(rows) > limit else None)


async def warm_without_pool(conn: AsyncConnection, pool_ids: list[str], limit: int = 100) -> list[SessionRecord]:
    """Warm containers whose pool is gone (deleted, or with its template)."""
    query = sa.select(s).where(s.c.state == str(SessionState.WARM), s.c.pool_id.is_not(None)).limit(limit)
    if pool_ids:
        query = query.where(s.c.pool_id.notin_(pool_ids))
    return [_record(row) for row in (await conn.execute(query)).mappings().all()]
