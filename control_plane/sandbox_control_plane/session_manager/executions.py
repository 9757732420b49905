"""Executions as the public API sees them: submit, read, list, cancel."""

from __future__ import annotations

from datetime import UTC, datetime

from sandbox_control_plane.config.logging import get_logger
from sandbox_control_plane.config.settings import Settings
from sandbox_control_plane.db.engine import Database
from sandbox_control_plane.db.repositories import executions as repo
from sandbox_control_plane.db.repositories import sessions as sessions_repo
from sandbox_control_plane.domain import LIMITS, ExecutionRecord, ExecutionStatus, Language, Page, Reason
from sandbox_control_plane.session_manager.lifecycle import (
    ACCEPTS_EXECUTIONS,
    execution_sources_of,
    transition_error,
)
from sandbox_control_plane.session_manager.service import session_not_found
from sandbox_control_plane.utils.errors import InvalidInputError, NotFoundError, SessionNotAcceptingError
from sandbox_control_plane.utils.ids import new_id
from sandbox_control_plane.utils.metrics import Metrics
from sandbox_control_plane.utils.notify import Notifier

log = get_logger(__name__)


def execution_key(execution_id: str) -> str:
    return f"execution:{execution_id}"


def claim_key(session_id: str) -> str:
    return f"claim:{session_id}"


def execution_not_found(execution_id: str) -> NotFoundError:
    return NotFoundError(f"No execution {execution_id} in this session.", {"execution_id": execution_id})


class ExecutionService:
    def __init__(self, settings: Settings, db: Database, notifier: Notifier, metrics: Metrics) -> None:
        self._settings = settings
        self._db = db
        self._notifier = notifier
        self._metrics = metrics

    async def submit(
        self,
        tenant_id: str,
        session_id: str,
        *,
        code: str,
        language: Language,
        timeout_s: int,
        request_id: str | None,
    ) -> ExecutionRecord:
        size = len(code.encode())
        if size > self._settings.max_code_bytes:
            raise InvalidInputError.field(
                "code",
                f"({size} bytes)",
                f"at most {self._settings.max_code_bytes} bytes",
                "the code is too large",
            )
        if timeout_s not in LIMITS.execution_timeout:
            allowed = LIMITS.execution_timeout.describe()
            raise InvalidInputError.field("timeout", timeout_s, allowed, f"timeout {timeout_s} s is outside {allowed}")
        execution_id = new_id("exe")
        async with self._db.transaction() as conn:
            found = await sessions_repo.get_for_submit(conn, session_id, tenant_id)
            if found is None:
                raise session_not_found(session_id)
            state, languages = found
            if state not in ACCEPTS_EXECUTIONS:
                raise SessionNotAcceptingError(
                    f"The session {session_id} is '{state}' and takes no more executions.",
                    {
                        "session_id": session_id,
                        "state": str(state),
                        "accepting_states": sorted(str(state) for state in ACCEPTS_EXECUTIONS),
                    },
                )
            if language not in languages:
                allowed = ", ".join(str(value) for value in languages)
                raise InvalidInputError.field(
                    "language", str(language), allowed, f"the session's template does not offer {language}"
                )
            # The submission time is this instance's clock (the row is returned without a re-read);
            # the times the executor's reports set are the database's.
            created = await repo.insert(
                conn,
                execution_id=execution_id,
                session_id=session_id,
                tenant_id=tenant_id,
                language=language,
                code=code,
                timeout_s=timeout_s,
                request_id=request_id,
                created_at=datetime.now(UTC),
            )
        self._notifier.notify(claim_key(session_id))
        log.info("execution_submitted", session_id=session_id, execution_id=execution_id, language=str(language))
        return created

    async def get(self, tenant_id: str, session_id: str, execution_id: str, wait_s: float = 0) -> ExecutionRecord:
        async def read() -> ExecutionRecord:
            async with self._db.transaction() as conn:
                found = await repo.get(conn, session_id, execution_id, tenant_id)
            if found is None:
                raise execution_not_found(execution_id)
            return found

        async def final() -> ExecutionRecord | None:
            found = await read()
            return found if found.status.is_final else None

        if wait_s > 0:
            done = await self._notifier.wait_for(execution_key(execution_id), wait_s, final)
            if done is not None:
                return done
        return await read()

    async def list(
        self,
        tenant_id: str,
        session_id: str,
        *,
        statuses: list[ExecutionStatus] | None,
        limit: int,
        cursor: str | None,
    ) -> Page[ExecutionRecord]:
        async with self._db.transaction() as conn:
            if await sessions_repo.get_state(conn, session_id, tenant_id) is None:
                raise session_not_found(session_id)
            return await repo.list_page(conn, session_id, tenant_id, statuses=statuses, limit=limit, cursor=cursor)

    async def cancel(self, tenant_id: str, session_id: str, execution_id: str) -> ExecutionRecord:
        """A pending execution is cancelled at once; a running one when its executor next reports."""
        async with self._db.transaction() as conn:
            found = await repo.get(conn, session_id, execution_id, tenant_id)
            if found is None:
                raise execution_not_found(execution_id)
            if found.status is ExecutionStatus.PENDING:
                if await repo.finish(
                    conn,
                    execution_id,
                    ExecutionStatus.CANCELLED,
                    reason=Reason.CANCELLED,
                    only_from=[ExecutionStatus.PENDING],
                ):
                    self._metrics.executions_finished.labels(ExecutionStatus.CANCELLED, Reason.CANCELLED).inc()
            elif found.status is ExecutionStatus.RUNNING:
                await repo.request_cancel(conn, execution_id)
            else:
                raise transition_error(
                    "execution",
                    execution_id,
                    found.status,
                    ExecutionStatus.CANCELLED,
                    execution_sources_of(ExecutionStatus.CANCELLED),
                )
            updated = await repo.get(conn, session_id, execution_id)
        assert updated is not None  # noqa: S101
        self._notifier.notify(execution_key(execution_id))
        return updated
