"""Executions: a queue per session, claimed with ``SELECT ... FOR UPDATE SKIP LOCKED``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sandbox_control_plane.db.models import executions as e
from sandbox_control_plane.db.repositories.common import NOW, seconds_ago, utc, utc_required
from sandbox_control_plane.domain import ExecutionRecord, ExecutionStatus, Language, Page, Reason
from sandbox_control_plane.session_manager.lifecycle import execution_sources_of

LIVE = [str(ExecutionStatus.PENDING), str(ExecutionStatus.RUNNING)]


def _record(row: sa.RowMapping) -> ExecutionRecord:
    return ExecutionRecord(
        id=row["id"],
        session_id=row["session_id"],
        tenant_id=row["tenant_id"],
        language=Language(row["language"]),
        code=row["code"],
        timeout_s=row["timeout_s"],
        status=ExecutionStatus(row["status"]),
        reason=Reason(row["reason"]) if row["reason"] else None,
        exit_code=row["exit_code"],
        stdout=row["stdout"],
        stderr=row["stderr"],
        stdout_truncated=bool(row["stdout_truncated"]),
        stderr_truncated=bool(row["stderr_truncated"]),
        duration_ms=row["duration_ms"],
        request_id=row["request_id"],
        cancel_requested=bool(row["cancel_requested"]),
        created_at=utc_required(row["created_at"]),
        started_at=utc(row["started_at"]),
        finished_at=utc(row["finished_at"]),
        heartbeat_at=utc(row["heartbeat_at"]),
    )


async def insert(
    conn: AsyncConnection,
    *,
    execution_id: str,
    session_id: str,
    tenant_id: str,
    language: Language,
    code: str,
    timeout_s: int,
    request_id: str | None,
    created_at: datetime,
) -> ExecutionRecord:
    """Insert a pending execution and return it without reading it back."""
    await conn.execute(
        sa.insert(e).values(
            id=execution_id,
            session_id=session_id,
            tenant_id=tenant_id,
            language=str(language),
            code=code,
            timeout_s=timeout_s,
            status=str(ExecutionStatus.PENDING),
            stdout="",
            stderr="",
            request_id=request_id,
            created_at=created_at.replace(tzinfo=None),
        )
    )
    return ExecutionRecord(
        id=execution_id,
        session_id=session_id,
        tenant_id=tenant_id,
        language=language,
        code=code,
        timeout_s=timeout_s,
        status=ExecutionStatus.PENDING,
        reason=None,
        exit_code=None,
        stdout="",
        stderr="",
        stdout_truncated=False,
        stderr_truncated=False,
        duration_ms=None,
        request_id=request_id,
        cancel_requested=False,
        created_at=created_at,
        started_at=None,
        finished_at=None,
        heartbeat_at=None,
    )


async def get(
    conn: AsyncConnection, session_id: str, execution_id: str, tenant_id: str | None = None
) -> ExecutionRecord | None:
    query = sa.select(e).where(e.c.id == execution_id, e.c.session_id == session_id)
    if tenant_id is not None:
        query = query.where(e.c.tenant_id == tenant_id)
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else _record(row)


async def get_status(conn: AsyncConnection, execution_id: str) -> ExecutionStatus | None:
    value = (await conn.execute(sa.select(e.c.status).where(e.c.id == execution_id))).scalar_one_or_none()
    return None if value is None else ExecutionStatus(value)


async def list_page(
    conn: AsyncConnection,
    session_id: str,
    tenant_id: str,
    *,
    statuses: list[ExecutionStatus] | None,
    limit: int,
    cursor: str | None,
) -> Page[ExecutionRecord]:
    query = (
        sa.select(e).where(e.c.session_id == session_id, e.c.tenant_id == tenant_id).order_by(e.c.id).limit(limit + 1)
    )
    if statuses:
        query = query.where(e.c.status.in_([str(status) for status in statuses]))
    if cursor:
        query = query.where(e.c.id > cursor)
    rows = (await conn.execute(query)).mappings().all()
    items = [_record(row) for row in rows[:limit]]
    return Page(items, items[-1].id if len(rows) > limit else None)


async def claim_next(conn: AsyncConnection, session_id: str) -> ExecutionRecord | None:
    """Take the oldest pending execution of a session, skipping rows another instance holds."""
    query = (
        sa.select(e.c.id)
        .where(e.c.session_id == session_id, e.c.status == str(ExecutionStatus.PENDING))
        .order_by(e.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    execution_id = (await conn.execute(query)).scalar_one_or_none()
    if execution_id is None:
        return None
    await conn.execute(
        sa.update(e)
        .where(e.c.id == execution_id)
        .values(status=str(ExecutionStatus.RUNNING), started_at=NOW, heartbeat_at=NOW)
    )
    return await get(conn, session_id, execution_id)


async def sessions_with_news(conn: AsyncConnection, session_ids: list[str]) -> set[str]:
    """Of these sessions, those a waiting executor should look at: a pending execution, or no
    longer live. One query for every executor waiting on an instance."""
    from sandbox_control_plane.db.models import sessions as s
    from sandbox_control_plane.session_manager.lifecycle import LIVE

    found: set[str] = set()
    for start in range(0, len(session_ids), 500):
        chunk = session_ids[start : start + 500]
        pending = sa.select(e.c.session_id).where(e.c.session_id.in_(chunk), e.c.status == str(ExecutionStatus.PENDING))
        ended = sa.select(s.c.id).where(s.c.id.in_(chunk), s.c.state.notin_([str(state) for state in LIVE]))
        found.update((await conn.execute(sa.union(pending, ended))).scalars())
    return found


async def language_and_status(
    conn: AsyncConnection, session_id: str, execution_id: str
) -> tuple[Language, ExecutionStatus] | None:
    query = sa.select(e.c.language, e.c.status).where(e.c.id == execution_id, e.c.session_id == session_id)
    row = (await conn.execute(query)).first()
    return None if row is None else (Language(row[0]), ExecutionStatus(row[1]))


async def has_running(conn: AsyncConnection, session_id: str) -> bool:
    query = sa.select(e.c.id).where(e.c.session_id == session_id, e.c.status == str(ExecutionStatus.RUNNING))
    return (await conn.execute(query.limit(1))).first() is not None


async def heartbeat(conn: AsyncConnection, session_id: str, execution_id: str) -> bool | None:
    """Record a sign of life; return whether a cancel was asked, or None if it is not running."""
    result = await conn.execute(
        sa.update(e)
        .where(
            e.c.id == execution_id,
            e.c.session_id == session_id,
            e.c.status == str(ExecutionStatus.RUNNING),
        )
        .values(heartbeat_at=NOW)
    )
    if not result.rowcount:
        return None
    value = (await conn.execute(sa.select(e.c.cancel_requested).where(e.c.id == execution_id))).scalar_one()
    return bool(value)


async def finish(
    conn: AsyncConnection,
    execution_id: str,
    status: ExecutionStatus,
    *,
    reason: Reason | None = None,
    only_from: list[ExecutionStatus] | None = None,
    **values: Any,
) -> bool:
    """Give a live execution its final status; False if it already had one (first writer wins)."""
    sources = execution_sources_of(status)
    if only_from is not None:
        sources = sources & frozenset(only_from)
    result = await conn.execute(
        sa.update(e)
        .where(e.c.id == execution_id, e.c.status.in_([str(source) for source in sources]))
        .values(
            status=str(status),
            reason=None if reason is None else str(reason),
            finished_at=NOW,
            **values,
        )
    )
    return bool(result.rowcount)


async def request_cancel(conn: AsyncConnection, execution_id: str) -> bool:
    result = await conn.execute(
        sa.update(e)
        .where(e.c.id == execution_id, e.c.status == str(ExecutionStatus.RUNNING))
        .values(cancel_requested=True)
    )
    return bool(result.rowcount)


async def live_of_session(conn: AsyncConnection, session_id: str) -> list[ExecutionRecord]:
    query = sa.select(e).where(e.c.session_id == session_id, e.c.status.in_(LIVE))
    return [_record(row) for row in (await conn.execute(query)).mappings().all()]


async def silent_running(conn: AsyncConnection, older_than_s: float, limit: int = 100) -> list[ExecutionRecord]:
    """Running executions whose last heartbeat is older than ``older_than_s``."""
    query = (
        sa.select(e)
        .where(e.c.status == str(ExecutionStatus.RUNNING), e.c.heartbeat_at < seconds_ago(older_than_s))
        .limit(limit)
    )
    return [_record(row) for row in (await conn.execute(query)).mappings().all()]


async def started_seconds(conn: AsyncConnection, execution_id: str) -> float | None:
    """Seconds between submission and start, on the database's clock."""
    query = sa.select(sa.func.timestampdiff(sa.literal_column("MICROSECOND"), e.c.created_at, e.c.started_at)).where(
        e.c.id == execution_id
    )
    value = (await conn.execute(query)).scalar_one_or_none()
    return None if value is None else float(value) / 1_000_000


__all__ = ["NOW"]
