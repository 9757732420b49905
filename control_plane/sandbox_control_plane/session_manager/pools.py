"""Warm pools: containers started ahead of demand for one template and one resource shape.

``PoolService`` is the API's (create, read, resize, delete). ``PoolKeeper`` keeps every pool at
its target in the background: one instance at a time (a MariaDB ``GET_LOCK``), woken at once by a
claim on its own instance and every ``pool_refill_interval_s`` otherwise.

The target is ``min(max_size, min_size + misses)``: creates that found the pool empty since the
last rounds grow it towards its maximum, and the misses halve each round, so a burst is answered
and the pool shrinks back to its minimum once demand falls.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sandbox_control_plane.config.logging import get_logger
from sandbox_control_plane.config.settings import Settings
from sandbox_control_plane.container_scheduler.base import RuntimeError_
from sandbox_control_plane.db.engine import Database
from sandbox_control_plane.db.repositories import pools as repo
from sandbox_control_plane.db.repositories import sessions as sessions_repo
from sandbox_control_plane.db.repositories import templates as templates_repo
from sandbox_control_plane.domain import (
    Page,
    PoolCounts,
    PoolRecord,
    Reason,
    SessionRecord,
    SessionState,
    TemplateRecord,
)
from sandbox_control_plane.session_manager.service import POOLS_KEY, SessionRequest, SessionService
from sandbox_control_plane.template_manager.service import template_not_found
from sandbox_control_plane.utils.errors import ControlPlaneError, InvalidInputError, NotFoundError
from sandbox_control_plane.utils.ids import new_id
from sandbox_control_plane.utils.metrics import Metrics
from sandbox_control_plane.utils.notify import Notifier

log = get_logger(__name__)

LOCK_NAME = "sbx-cp-pools"


def pool_not_found(pool_id: str) -> NotFoundError:
    return NotFoundError(f"No pool {pool_id} for this token.", {"pool_id": pool_id})


def target_size(pool: PoolRecord) -> int:
    return min(pool.max_size, pool.min_size + pool.misses)


@dataclass(frozen=True)
class PoolPlan:
    """What one round does to one pool: members to start and warm members to end."""

    start: int
    end: int


def plan(pool: PoolRecord, counts: PoolCounts) -> PoolPlan:
    target = target_size(pool)
    have = counts.warm + counts.starting
    if have < target:
        return PoolPlan(start=target - have, end=0)
    # Only warm members are ended: a starting one becomes warm (or fails) on its own.
    return PoolPlan(start=0, end=min(counts.warm, have - target))


class PoolService:
    def __init__(self, settings: Settings, db: Database, sessions: SessionService, notifier: Notifier) -> None:
        self._settings = settings
        self._db = db
        self._sessions = sessions
        self._notifier = notifier

    def _check_sizes(self, min_size: int, max_size: int) -> None:
        ceiling = self._settings.pool_max_size
        problems: list[dict[str, object]] = []
        if not 0 <= min_size <= ceiling:
            problems.append(
                {"field": "min_size", "value": min_size, "allowed": f"0 to {ceiling}", "message": "out of range"}
            )
        if not 1 <= max_size <= ceiling:
            problems.append(
                {"field": "max_size", "value": max_size, "allowed": f"1 to {ceiling}", "message": "out of range"}
            )
        if not problems and min_size > max_size:
            problems.append(
                {
                    "field": "min_size",
                    "value": min_size,
                    "allowed": f"at most max_size ({max_size})",
                    "message": "the minimum is above the maximum",
                }
            )
        if problems:
            raise InvalidInputError("The pool's sizes are not allowed.", {"errors": problems})

    async def create(
        self,
        tenant_id: str,
        template_id: str,
        cpu_millis: int | None,
        memory_mib: int | None,
        disk_mib: int | None,
        min_size: int,
        max_size: int,
    ) -> tuple[PoolRecord, PoolCounts]:
        self._check_sizes(min_size, max_size)
        async with self._db.transaction() as conn:
            template = await templates_repo.get(conn, tenant_id, template_id)
        if template is None:
            raise template_not_found(template_id)
        # The same resolution and limits as a session create: a pool holds what a create would ask.
        request = SessionRequest(template_id, cpu_millis, memory_mib, disk_mib, None, {})
        resources, _ = self._sessions.checked(template, request)
        async with self._db.transaction() as conn:
            pool = await repo.insert(
                conn,
                pool_id=new_id("pol"),
                tenant_id=tenant_id,
                template_id=template.id,
                resources=resources,
                min_size=min_size,
                max_size=max_size,
            )
        self._notifier.notify(POOLS_KEY)
        log.info("pool_created", pool_id=pool.id, template_id=template.id, min_size=min_size, max_size=max_size)
        return pool, PoolCounts(0, 0)

    async def get(self, tenant_id: str, pool_id: str) -> tuple[PoolRecord, PoolCounts]:
        async with self._db.transaction() as conn:
            pool = await repo.get(conn, pool_id, tenant_id)
            if pool is None:
                raise pool_not_found(pool_id)
            counts = await self._counts(conn, pool)
        return pool, counts

    async def _counts(self, conn: AsyncConnection, pool: PoolRecord) -> PoolCounts:
        template = await templates_repo.get(conn, pool.tenant_id, pool.template_id)
        image = template.image if template else ""
        warm, starting, _ = await sessions_repo.pool_member_counts(conn, pool.id, image)
        return PoolCounts(warm, starting)

    async def list(
        self, tenant_id: str, limit: int, cursor: str | None
    ) -> tuple[Page[PoolRecord], dict[str, PoolCounts]]:
        async with self._db.transaction() as conn:
            page = await repo.list_page(conn, tenant_id, limit, cursor)
            counts = {pool.id: await self._counts(conn, pool) for pool in page.items}
        return page, counts

    async def resize(self, tenant_id: str, pool_id: str, min_size: int, max_size: int) -> tuple[PoolRecord, PoolCounts]:
        self._check_sizes(min_size, max_size)
        async with self._db.transaction() as conn:
            if not await repo.resize(conn, pool_id, tenant_id, min_size, max_size):
                raise pool_not_found(pool_id)
        self._notifier.notify(POOLS_KEY)
        return await self.get(tenant_id, pool_id)

    async def delete(self, tenant_id: str, pool_id: str) -> None:
        """The pool goes at once; the keeper ends its unclaimed containers in its next round."""
        async with self._db.transaction() as conn:
            if not await repo.delete(conn, pool_id, tenant_id):
                raise pool_not_found(pool_id)
        self._notifier.notify(POOLS_KEY)
        log.info("pool_deleted", pool_id=pool_id)


class PoolKeeper:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        sessions: SessionService,
        notifier: Notifier,
        metrics: Metrics,
    ) -> None:
        self._settings = settings
        self._db = db
        self._sessions = sessions
        self._notifier = notifier
        self._metrics = metrics
        self._starting: set[asyncio.Task[None]] = set()

    async def run_forever(self) -> None:
        while True:
            try:
                await self.round()
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad round must not end the loop
                log.exception("pool_round_failed")

            async def never() -> None:
                return None

            # A claim or a resize on this instance wakes the keeper at once.
            await self._notifier.wait_for(POOLS_KEY, self._settings.pool_refill_interval_s, never)

    async def close(self) -> None:
        for task in list(self._starting):
            task.cancel()
        for task in list(self._starting):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def round(self) -> bool:
        """One round if this instance gets the lock; returns whether it did."""
        async with self._db.engine.connect() as lock_conn:
            got = (await lock_conn.execute(sa.text("SELECT GET_LOCK(:name, 0)"), {"name": LOCK_NAME})).scalar()
            if got != 1:
                await lock_conn.commit()
                return False
            try:
                await self._round()
            finally:
                await lock_conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": LOCK_NAME})
                await lock_conn.commit()
        return True

    async def _round(self) -> None:
        async with self._db.transaction() as conn:
            pools = await repo.all_pools(conn)
            orphans = await sessions_repo.warm_without_pool(conn, [pool.id for pool in pools])
        # Members of deleted pools (or of a deleted template's pools).
        await self._end(orphans)
        total_warm = total_starting = 0
        semaphore = asyncio.Semaphore(self._settings.pool_refill_concurrency)
        starts: list[asyncio.Task[None]] = []
        for pool in pools:
            async with self._db.transaction() as conn:
                template = await templates_repo.get(conn, pool.tenant_id, pool.template_id)
                if template is None:
                    continue
                warm, starting, stale = await sessions_repo.pool_member_counts(conn, pool.id, template.image)
                await repo.decay_misses(conn, pool.id)
            counts = PoolCounts(warm, starting)
            step = plan(pool, counts)
            if stale:  # the template's image changed: its old containers go
                async with self._db.transaction() as conn:
                    await self._end(await sessions_repo.by_ids(conn, stale))
            if step.end:
                async with self._db.transaction() as conn:
                    surplus = await sessions_repo.warm_members(conn, pool.id, step.end)
                await self._end(surplus)
            for _ in range(step.start):
                starts.append(asyncio.create_task(self._start_member(pool, template, semaphore)))
            total_warm += warm
            total_starting += starting + step.start
        for task in starts:
            self._starting.add(task)
            task.add_done_callback(self._starting.discard)
        # Starting takes a container start (about a second each); the round waits for them so the
        # lock is held while they are counted as starting by no one else.
        if starts:
            await asyncio.gather(*starts, return_exceptions=True)
        self._metrics.pool_members.labels("warm").set(total_warm)
        self._metrics.pool_members.labels("starting").set(total_starting)

    async def _end(self, members: list[SessionRecord]) -> None:
        for member in members:
            if member.state is not SessionState.WARM:
                continue
            with contextlib.suppress(ControlPlaneError):
                await self._sessions.terminate(member, Reason.POOL_RECYCLED)

    async def _start_member(self, pool: PoolRecord, template: TemplateRecord, semaphore: asyncio.Semaphore) -> None:
        async with semaphore:
            session_id = new_id("ses")
            async with self._db.transaction() as conn:
                await sessions_repo.insert(
                    conn,
                    session_id=session_id,
                    tenant_id=pool.tenant_id,
                    template_id=template.id,
                    image=template.image,
                    languages=template.languages,
                    network=template.network,
                    resources=pool.resources,
                    timeout_s=self._settings.pool_member_max_age_s,
                    env={},
                    pool_id=pool.id,
                )
            try:
                await self._sessions.start_container(
                    session_id, pool.tenant_id, template.image, pool.resources, template, {}
                )
            except RuntimeError_ as error:
                log.warning("pool_member_start_failed", pool_id=pool.id, session_id=session_id, error=str(error))
