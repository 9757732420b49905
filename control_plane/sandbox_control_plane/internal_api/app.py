"""The internal API: what executors call. A separate app, served on the socket folder mounted
into session containers and mounted at /internal on the public port (for executors that reach the
control plane over a network, as in Kubernetes).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, FastAPI, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from sandbox_control_plane.api.errors import documented, install_error_handlers
from sandbox_control_plane.context import Context
from sandbox_control_plane.domain import ExecutionStatus, Reason, SessionState
from sandbox_control_plane.internal_api.auth import SessionCaller
from sandbox_control_plane.session_manager.executor_callbacks import Outcome
from sandbox_control_plane.utils.errors import InvalidInputError
from sandbox_control_plane.utils.ids import ID_PATTERN
from sandbox_executor.protocol import PROTOCOL_VERSION

ExecutionIdPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=32)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReadyBody(Strict):
    protocol: int = Field(ge=1, le=1000)
    executor_version: str = Field("", max_length=64)


class ExitedBody(Strict):
    reason: Reason = Reason.CONTAINER_EXITED


class SessionStateOut(BaseModel):
    session_state: SessionState
    protocol: int = PROTOCOL_VERSION


class ClaimBody(Strict):
    wait_s: float = Field(20, ge=0, le=60)


class ClaimedExecution(BaseModel):
    id: str
    language: str
    code: str
    timeout: int
    request_id: str | None
    env: dict[str, str] = Field(
        default_factory=dict,
        description="The session's variables, set for the code (a warm container started without them).",
    )


class ClaimOut(BaseModel):
    session_state: SessionState
    execution: ClaimedExecution | None


class StatusBody(Strict):
    status: ExecutionStatus = Field(description="Only 'running' (the process started) is reported this way.")
    pid: int | None = Field(None, ge=1)


class HeartbeatOut(BaseModel):
    status: ExecutionStatus
    cancel: bool = Field(description="Stop the run: cancelled, or it already ended without the executor.")


class ResultBody(Strict):
    status: ExecutionStatus
    reason: Reason | None = None
    exit_code: int | None = Field(None, ge=-255, le=255)
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    duration_ms: int = Field(ge=0, le=10 * 3600 * 1000)


class ResultOut(BaseModel):
    recorded: bool
    status: ExecutionStatus


def build_router() -> APIRouter:
    router = APIRouter(prefix="/v1/sessions/{session_id}", responses=documented(401, 403, 404, 409, 422, 503))

    def context(request: Request) -> Context:
        ctx: Context = request.app.state.context
        return ctx

    @router.post("/ready", response_model=SessionStateOut)
    async def session_ready(body: ReadyBody, session_id: SessionCaller, request: Request) -> SessionStateOut:
        """The executor started and can take executions."""
        return SessionStateOut(session_state=await context(request).callbacks.ready(session_id))

    @router.post("/exited", response_model=SessionStateOut)
    async def session_exited(body: ExitedBody, session_id: SessionCaller, request: Request) -> SessionStateOut:
        """The executor is stopping (its container is being stopped)."""
        return SessionStateOut(session_state=await context(request).callbacks.exited(session_id))

    @router.post("/executions/claim", response_model=ClaimOut)
    async def claim(body: ClaimBody, session_id: SessionCaller, request: Request) -> ClaimOut:
        """The next pending execution of the session, waiting up to wait_s for one."""
        ctx = context(request)
        claim = await ctx.callbacks.claim(session_id, min(body.wait_s, ctx.settings.claim_wait_s))
        execution = claim.execution
        return ClaimOut(
            session_state=claim.session_state,
            execution=None
            if execution is None
            else ClaimedExecution(
                id=execution.id,
                language=str(execution.language),
                code=execution.code,
                timeout=execution.timeout_s,
                request_id=execution.request_id,
                env=claim.env or {},
            ),
        )

    @router.post("/executions/{execution_id}/status", response_model=HeartbeatOut)
    async def execution_status(
        execution_id: ExecutionIdPath, body: StatusBody, session_id: SessionCaller, request: Request
    ) -> HeartbeatOut:
        """The run's process started (counts as a heartbeat)."""
        if body.status is not ExecutionStatus.RUNNING:
            raise InvalidInputError.field("status", str(body.status), "running", "only 'running' is reported here")
        beat = await context(request).callbacks.heartbeat(session_id, execution_id)
        return HeartbeatOut(status=beat.status, cancel=beat.cancel)

    @router.post("/executions/{execution_id}/heartbeat", response_model=HeartbeatOut)
    async def execution_heartbeat(
        execution_id: ExecutionIdPath, session_id: SessionCaller, request: Request
    ) -> HeartbeatOut:
        """The run goes on; the answer says whether to stop it."""
        beat = await context(request).callbacks.heartbeat(session_id, execution_id)
        return HeartbeatOut(status=beat.status, cancel=beat.cancel)

    @router.post("/executions/{execution_id}/result", response_model=ResultOut)
    async def execution_result(
        execution_id: ExecutionIdPath, body: ResultBody, session_id: SessionCaller, request: Request
    ) -> ResultOut:
        """The run's end. Idempotent: a repeated or late result changes nothing and says so."""
        if not body.status.is_final:
            raise InvalidInputError.field(
                "status", str(body.status), "a final status", "a result carries a final status"
            )
        outcome = Outcome(
            status=body.status,
            reason=body.reason,
            exit_code=body.exit_code,
            stdout=body.stdout,
            stderr=body.stderr,
            stdout_truncated=body.stdout_truncated,
            stderr_truncated=body.stderr_truncated,
            duration_ms=body.duration_ms,
        )
        recorded, status = await context(request).callbacks.result(session_id, execution_id, outcome)
        return ResultOut(recorded=recorded, status=status)

    return router


def create_internal_app() -> FastAPI:
    app = FastAPI(
        title="Sandbox control plane: internal API",
        version="1",
        description="Called by session executors only. Bearer: the internal token or the session's derived token.",
    )
    install_error_handlers(app)
    app.include_router(build_router())
    return app
