"""The liveness and cleanup sweep every instance runs; one at a time holds the database lock.

Each sweep:
1. running executions whose heartbeats stopped -> failed, with the reason the container tells
   (out of memory, exited) or ``heartbeat_lost``;
2. sessions still ``creating`` past the start timeout -> failed (``start_timeout``);
3. ready sessions whose executor went silent and whose container is gone -> failed;
4. sessions past their timeout -> terminated (``session_expired``);
5. sessions left ``terminating`` (a removal that failed, an instance that died) -> finished;
6. ready sessions past their idle limit -> terminated (``session_idle``);
7. idle executors silent past ``executor_unresponsive_timeout_s`` while their container runs ->
   failed (``executor_unresponsive``): the health probe of a hung executor;
8. every ``orphan_sweep_interval_s``, the runtime's own list against the sessions (what is left
   after a crash): containers no live session owns are removed, live sessions whose container the
   runtime does not have are failed (``container_lost``);
9. a usage sample (CPU, memory) of the live containers whose sample is oldest, ``stats_batch`` at
   a time, stored on the session for ``/api/v1/containers``;
10. the ``sbx_sessions`` gauge.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import sqlalchemy as sa

from sandbox_control_plane.config.logging import get_logger
from sandbox_control_plane.config.settings import Settings
from sandbox_control_plane.container_scheduler.base import (
    ContainerReason,
    ContainerRuntime,
    ContainerStatus,
    RuntimeError_,
)
from sandbox_control_plane.db.engine import Database
from sandbox_control_plane.db.repositories import executions as executions_repo
from sandbox_control_plane.db.repositories import sessions as sessions_repo
from sandbox_control_plane.domain import ExecutionStatus, Reason, SessionRecord, SessionState
from sandbox_control_plane.session_manager.executions import execution_key
from sandbox_control_plane.session_manager.service import SessionService, handle_of
from sandbox_control_plane.utils.errors import ControlPlaneError
from sandbox_control_plane.utils.metrics import Metrics
from sandbox_control_plane.utils.notify import Notifier

log = get_logger(__name__)

LOCK_NAME = "sbx-cp-monitor"


# What a runtime's ``ContainerStatus.reason`` means for the session.
_RUNTIME_REASONS: dict[ContainerReason, Reason] = {
    ContainerReason.IMAGE_PULL_FAILED: Reason.IMAGE_PULL_FAILED,
    ContainerReason.CREATE_FAILED: Reason.CONTAINER_CREATE_FAILED,
    ContainerReason.OOM_KILLED: Reason.OOM_KILLED,
    ContainerReason.EVICTED: Reason.EVICTED,
    ContainerReason.EXITED: Reason.CONTAINER_EXITED,
    ContainerReason.UNKNOWN: Reason.CONTAINER_EXITED,
}


def reason_from(status: ContainerStatus) -> Reason | None:
    """Why a container is not usable, or None if it still runs (or is still starting)."""
    if status.exists and status.running:
        return None
    if status.oom_killed:
        return Reason.OOM_KILLED
    if status.reason is not None:
        if status.reason == ContainerReason.STARTING and status.exists:
            return None
        return _RUNTIME_REASONS.get(ContainerReason(status.reason), Reason.CONTAINER_EXITED)
    return Reason.CONTAINER_EXITED


class Monitor:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        runtime: ContainerRuntime,
        sessions: SessionService,
        notifier: Notifier,
        metrics: Metrics,
    ) -> None:
        self._settings = settings
        self._db = db
        self._runtime = runtime
        self._sessions = sessions
        self._notifier = notifier
        self._metrics = metrics
        self._last_orphan_sweep = 0.0

    async def run_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad sweep must not end the loop
                log.exception("monitor_sweep_failed")
            await asyncio.sleep(self._settings.monitor_interval_s)

    async def sweep(self) -> bool:
        """One sweep if this instance gets the lock; returns whether it did."""
        async with self._db.engine.connect() as lock_conn:
            got = (await lock_conn.execute(sa.text("SELECT GET_LOCK(:name, 0)"), {"name": LOCK_NAME})).scalar()
            if got != 1:
                await lock_conn.commit()
                return False
            started = time.monotonic()
            try:
                await self._sweep()
            finally:
                self._metrics.monitor_sweep_duration.observe(time.monotonic() - started)
                await lock_conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": LOCK_NAME})
                await lock_conn.commit()  # the pool does not reset connections on return
        return True

    async def _container_reason(self, session: SessionRecord | None) -> Reason | None:
        handle = None if session is None else handle_of(session)
        if handle is None:
            return Reason.CONTAINER_EXITED
        try:
            return reason_from(await self._runtime.status(handle))
        except RuntimeError_ as error:
            log.warning("container_status_failed", session_id=session.id if session else None, error=str(error))
            return None

    async def _sweep(self) -> None:
        settings = self._settings
        async with self._db.transaction() as conn:
            silent = await executions_repo.silent_running(conn, settings.heartbeat_timeout_s)
        for execution in silent:
            async with self._db.transaction() as conn:
                session = await sessions_repo.get(conn, execution.session_id)
            container_reason = await self._container_reason(session)
            reason = container_reason or Reason.HEARTBEAT_LOST
            async with self._db.transaction() as conn:
                ended = await executions_repo.finish(
                    conn,
                    execution.id,
                    ExecutionStatus.FAILED,
                    reason=reason,
                    only_from=[ExecutionStatus.RUNNING],
                    exit_code=137 if reason is Reason.OOM_KILLED else None,
                )
                if ended and container_reason is None:
                    await sessions_repo.transition(
                        conn,
                        execution.session_id,
                        SessionState.READY,
                        only_from=frozenset({SessionState.RUNNING}),
                    )
            if ended:
                self._metrics.executions_finished.labels(ExecutionStatus.FAILED, reason).inc()
                self._notifier.notify(execution_key(execution.id))
                log.warning(
                    "execution_lost",
                    execution_id=execution.id,
                    session_id=execution.session_id,
                    reason=str(reason),
                )
            if container_reason is not None and session is not None:
                await self._sessions.fail(session, container_reason)

        async with self._db.transaction() as conn:
            stuck = await sessions_repo.stuck_creating(conn, settings.session_start_timeout_s)
        for session in stuck:
            # The runtime may know why (a Pod's image that cannot be pulled): say that instead.
            container_reason = await self._container_reason(session)
            told = container_reason not in (None, Reason.CONTAINER_EXITED)
            await self._sessions.fail(session, container_reason if told and container_reason else Reason.START_TIMEOUT)

        async with self._db.transaction() as conn:
            quiet = await sessions_repo.silent_executors(conn, settings.executor_idle_timeout_s)
        for session in quiet:
            container_reason = await self._container_reason(session)
            if container_reason is not None:
                await self._sessions.fail(session, container_reason)

        async with self._db.transaction() as conn:
            expired = await sessions_repo.expired(conn)
            leftovers = await sessions_repo.unfinished_terminations(conn, settings.monitor_interval_s * 5)
        for session in [*expired, *leftovers]:
            with contextlib.suppress(ControlPlaneError):
                reason = Reason.SESSION_EXPIRED if session in expired else (session.state_reason or Reason.DELETED)
                await self._sessions.terminate(session, reason)

        async with self._db.transaction() as conn:
            idle = await sessions_repo.idle(conn)
        for session in idle:
            with contextlib.suppress(ControlPlaneError):
                await self._sessions.terminate(session, Reason.SESSION_IDLE)

        await self._probe_executors()
        if time.monotonic() - self._last_orphan_sweep >= settings.orphan_sweep_interval_s:
            await self.reconcile()
        await self._sample_stats()

        async with self._db.transaction() as conn:
            counts = await sessions_repo.counts_by_state(conn)
        for state, count in counts.items():
            self._metrics.sessions.labels(state).set(count)

    async def _probe_executors(self) -> None:
        """An executor that stopped calling while its container still runs is hung: fail its session."""
        async with self._db.transaction() as conn:
            hung = await sessions_repo.silent_executors(conn, self._settings.executor_unresponsive_timeout_s)
        for session in hung:
            if await self._container_reason(session) is None:  # running, yet silent
                self._metrics.container_probe_failures.labels(Reason.EXECUTOR_UNRESPONSIVE).inc()
                await self._sessions.fail(session, Reason.EXECUTOR_UNRESPONSIVE)

    async def reconcile(self) -> None:
        """The runtime's containers against the sessions: what a crash (of ours or the engine's) left."""
        self._last_orphan_sweep = time.monotonic()
        try:
            containers = await self._runtime.list_managed()
        except RuntimeError_ as error:
            log.warning("reconcile_list_failed", error=str(error))
            return
        by_session = {container.session_id: container for container in containers}
        async with self._db.transaction() as conn:
            states = await sessions_repo.states_of(conn, list(by_session))
        for session_id, container in by_session.items():
            state = states.get(session_id)
            if state is None or state in (SessionState.TERMINATED, SessionState.FAILED):
                # No session owns it (created by an instance that died before its row was written,
                # or left by a removal that failed): remove it.
                log.warning(
                    "orphan_container_removed", session_id=session_id, container=container.handle.container_id[:12]
                )
                self._metrics.container_probe_failures.labels("orphan_removed").inc()
                with contextlib.suppress(RuntimeError_):
                    await self._runtime.remove(session_id, container.handle)
        async with self._db.transaction() as conn:
            # Past 'creating' for a while (so its container was started) yet not listed: it is gone.
            lost = await sessions_repo.live_without_container_since(
                conn, set(by_session), self._settings.monitor_interval_s * 5
            )
        for session in lost:
            self._metrics.container_probe_failures.labels(Reason.CONTAINER_LOST).inc()
            await self._sessions.fail(session, Reason.CONTAINER_LOST)

    async def _sample_stats(self) -> None:
        async with self._db.transaction() as conn:
            due = await sessions_repo.needing_stats(conn, self._settings.stats_interval_s, self._settings.stats_batch)
        if not due:
            return

        async def sample(session: SessionRecord) -> None:
            handle = handle_of(session)
            if handle is None:
                return
            try:
                stats = await self._runtime.stats(handle)
            except RuntimeError_ as error:
                log.warning("container_stats_failed", session_id=session.id, error=str(error))
                return
            async with self._db.transaction() as conn:
                if stats is None:  # no figures (no metrics API, no sample yet): asked again next interval
                    await sessions_repo.record_stats(conn, session.id, None, None)
                else:
                    await sessions_repo.record_stats(conn, session.id, stats.cpu_percent, stats.memory_bytes)

        await asyncio.gather(*(sample(session) for session in due))
