"""What executors report through the internal API: ready, exited, claim, status, heartbeat, result."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sandbox_control_plane.config.logging import get_logger
from sandbox_control_plane.config.settings import Settings
from sandbox_control_plane.db.engine import Database
from sandbox_control_plane.db.repositories import executions as repo
from sandbox_control_plane.db.repositories import sessions as sessions_repo
from sandbox_control_plane.domain import ExecutionRecord, ExecutionStatus, Reason, SessionState
from sandbox_control_plane.session_manager.executions import claim_key, execution_key, execution_not_found
from sandbox_control_plane.session_manager.lifecycle import LIVE, sources_of, transition_error
from sandbox_control_plane.session_manager.service import POOLS_KEY, SessionService, session_key, session_not_found
from sandbox_control_plane.utils.metrics import Metrics
from sandbox_control_plane.utils.notify import Notifier

log = get_logger(__name__)


@dataclass(frozen=True)
class Claim:
    execution: ExecutionRecord | None
    session_state: SessionState
    # The session's own variables: a warm pool's container was started before its session had any.
    env: dict[str, str] | None = None


@dataclass(frozen=True)
class Beat:
    status: ExecutionStatus
    cancel: bool


@dataclass(frozen=True)
class Outcome:
    status: ExecutionStatus
    reason: Reason | None
    exit_code: int | None
    stdout: str
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool
    duration_ms: int


class ClaimWatcher:
    """Wakes the claims waiting on this instance when their session gets work on another one.

    A claim waits on an in-process event, which a submission on this instance sets at once. For
    submissions elsewhere, this one loop reads the database every ``claim_poll_interval_s`` for all
    waiting sessions together: one query per instance instead of one per idle executor (a thousand
    idle sessions would otherwise be a thousand queries a second).
    """

    def __init__(self, settings: Settings, db: Database, notifier: Notifier) -> None:
        self._settings = settings
        self._db = db
        self._notifier = notifier
        self._waiting: dict[str, int] = {}
        self.running = False

    def add(self, session_id: str) -> None:
        self._waiting[session_id] = self._waiting.get(session_id, 0) + 1

    def discard(self, session_id: str) -> None:
        left = self._waiting.get(session_id, 0) - 1
        if left > 0:
            self._waiting[session_id] = left
        else:
            self._waiting.pop(session_id, None)

    async def poll_once(self) -> int:
        waiting = list(self._waiting)
        if not waiting:
            return 0
        async with self._db.transaction() as conn:
            news = await repo.sessions_with_news(conn, waiting)
        for session_id in news:
            self._notifier.notify(claim_key(session_id))
        return len(news)

    async def run_forever(self) -> None:
        self.running = True
        try:
            while True:
                await asyncio.sleep(self._settings.claim_poll_interval_s)
                try:
                    await self.poll_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("claim_watch_failed")
        finally:
            self.running = False


class ExecutorCallbacks:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        notifier: Notifier,
        metrics: Metrics,
        sessions: SessionService,
        watcher: ClaimWatcher | None = None,
    ) -> None:
        self.watcher = watcher or ClaimWatcher(settings, db, notifier)
        self._settings = settings
        self._db = db
        self._notifier = notifier
        self._metrics = metrics
        self._sessions = sessions

    async def ready(self, session_id: str) -> SessionState:
        async with self._db.transaction() as conn:
            before = await sessions_repo.get(conn, session_id)
            if before is None:
                raise session_not_found(session_id)
            # A pool's container waits, warm, for a create to claim it; any other becomes ready.
            target = (
                SessionState.WARM if before.pool_id and before.state is SessionState.CREATING else SessionState.READY
            )
            moved = await sessions_repo.transition(
                conn, session_id, target, only_from=frozenset({SessionState.CREATING})
            )
            await sessions_repo.executor_seen(conn, session_id)
            session = await sessions_repo.get(conn, session_id)
        if session is None:
            raise session_not_found(session_id)
        if moved and target is SessionState.WARM:
            self._notifier.notify(POOLS_KEY)
            log.info("pool_member_warm", session_id=session_id, pool_id=before.pool_id)
        elif moved:
            if session.ready_at is not None:
                self._metrics.session_ready_duration.observe((session.ready_at - session.created_at).total_seconds())
            self._notifier.notify(session_key(session_id))
            log.info("session_ready", session_id=session_id)
        elif session.state not in (SessionState.READY, SessionState.RUNNING, SessionState.WARM):
            raise transition_error(
                "session", session_id, session.state, SessionState.READY, sources_of(SessionState.READY)
            )
        return session.state

    async def exited(self, session_id: str) -> SessionState:
        """The executor is stopping: unless the session is ending anyway, it has failed."""
        async with self._db.transaction() as conn:
            session = await sessions_repo.get(conn, session_id)
        if session is None:
            raise session_not_found(session_id)
        if session.state in LIVE:
            await self._sessions.fail(session, Reason.CONTAINER_EXITED)
            return SessionState.FAILED
        return session.state

    async def claim(self, session_id: str, wait_s: float) -> Claim:
        """The next pending execution of the session, waiting up to ``wait_s`` for one."""

        async def attempt() -> Claim | None:
            async with self._db.transaction() as conn:
                state = await sessions_repo.get_state(conn, session_id)
                if state is None:
                    raise session_not_found(session_id)
                if state not in LIVE:
                    return Claim(None, state)
                claimed = await repo.claim_next(conn, session_id)
                if claimed is None:
                    return None
                await sessions_repo.transition(
                    conn, session_id, SessionState.RUNNING, only_from=frozenset({SessionState.READY})
                )
                session = await sessions_repo.get(conn, session_id)
            if claimed.started_at is not None:
                self._metrics.execution_queue_duration.observe(
                    max(0.0, (claimed.started_at - claimed.created_at).total_seconds())
                )
            self._notifier.notify(execution_key(claimed.id))
            return Claim(claimed, SessionState.RUNNING, session.env if session else None)

        async with self._db.transaction() as conn:
            await sessions_repo.executor_seen(conn, session_id)
        # A submission on this instance wakes the wait at once; one on another instance is seen
        # at the next poll.
        # With the watcher running, only a wake-up re-reads the database; without it, each claim polls.
        self.watcher.add(session_id)
        try:
            claim = await self._notifier.wait_for(
                claim_key(session_id),
                wait_s,
                attempt,
                poll_s=wait_s if self.watcher.running else self._settings.claim_poll_interval_s,
            )
        finally:
            self.watcher.discard(session_id)
        if claim is not None:
            return claim
        async with self._db.transaction() as conn:
            state = await sessions_repo.get_state(conn, session_id)
        return Claim(None, state or SessionState.TERMINATED)

    async def heartbeat(self, session_id: str, execution_id: str) -> Beat:
        async with self._db.transaction() as conn:
            cancel = await repo.heartbeat(conn, session_id, execution_id)
            if cancel is None:
                status = await repo.get_status(conn, execution_id)
                if status is None:
                    raise execution_not_found(execution_id)
                # It ended without the executor (cancelled with its session, or given up as lost):
                # the executor stops the run.
                return Beat(status, cancel=True)
        return Beat(ExecutionStatus.RUNNING, cancel=cancel)

    async def result(self, session_id: str, execution_id: str, outcome: Outcome) -> tuple[bool, ExecutionStatus]:
        """Record the final status; the first final status wins. Returns (recorded, status now)."""
        async with self._db.transaction() as conn:
            recorded = await repo.finish(
                conn,
                execution_id,
                outcome.status,
                reason=outcome.reason,
                only_from=[ExecutionStatus.RUNNING],
                exit_code=outcome.exit_code,
                stdout=outcome.stdout,
                stderr=outcome.stderr,
                stdout_truncated=outcome.stdout_truncated,
                stderr_truncated=outcome.stderr_truncated,
                duration_ms=outcome.duration_ms,
            )
            found = await repo.language_and_status(conn, session_id, execution_id)
            if found is None:
                raise execution_not_found(execution_id)
            language, status = found
            if recorded:
                await sessions_repo.ready_unless_running(conn, session_id)
        if recorded:
            self._metrics.executions_finished.labels(outcome.status, outcome.reason or "").inc()
            self._metrics.execution_run_duration.labels(language).observe(outcome.duration_ms / 1000)
            log.info(
                "execution_finished",
                session_id=session_id,
                execution_id=execution_id,
                status=str(outcome.status),
                reason=str(outcome.reason or ""),
                exit_code=outcome.exit_code,
                duration_ms=outcome.duration_ms,
            )
        self._notifier.notify(execution_key(execution_id))
        return recorded, status
