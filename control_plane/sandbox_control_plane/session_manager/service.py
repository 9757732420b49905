"""Sessions: create from a template, read, list, end. Decides; the repositories store."""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass

from sandbox_control_plane.config.logging import get_logger
from sandbox_control_plane.config.settings import Settings
from sandbox_control_plane.container_scheduler.base import (
    ContainerHandle,
    ContainerRuntime,
    ContainerSpec,
    RuntimeError_,
)
from sandbox_control_plane.db.engine import Database
from sandbox_control_plane.db.repositories import executions as executions_repo
from sandbox_control_plane.db.repositories import pools as pools_repo
from sandbox_control_plane.db.repositories import sessions as repo
from sandbox_control_plane.db.repositories import templates as templates_repo
from sandbox_control_plane.db.repositories import workspaces as workspaces_repo
from sandbox_control_plane.domain import (
    ExecutionStatus,
    Page,
    Reason,
    Resources,
    SessionRecord,
    SessionState,
    TemplateRecord,
)
from sandbox_control_plane.session_manager.files import WorkspaceMover
from sandbox_control_plane.session_manager.lifecycle import check_transition, transition_error
from sandbox_control_plane.template_manager.service import template_not_found
from sandbox_control_plane.template_manager.validator import (
    describe_resource,
    resource_problems,
    timeout_problem,
)
from sandbox_control_plane.utils.errors import (
    InvalidInputError,
    NotFoundError,
    RuntimeUnavailableError,
    WorkspaceStoreUnavailableError,
)
from sandbox_control_plane.utils.ids import new_id
from sandbox_control_plane.utils.metrics import Metrics
from sandbox_control_plane.utils.notify import Notifier
from sandbox_control_plane.utils.tokens import session_token
from sandbox_control_plane.workspace_store.s3 import WORKSPACE_NAME, StoreError, is_workspace_name
from sandbox_executor.protocol import ENV_PREFIX

log = get_logger(__name__)

ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
MAX_ENV_VARS = 64
MAX_ENV_VALUE = 4096


@dataclass(frozen=True)
class SessionRequest:
    template_id: str
    cpu_millis: int | None
    memory_mib: int | None
    disk_mib: int | None
    timeout_s: int | None
    env: dict[str, str]
    idle_timeout_s: int | None = None
    # A saved workspace to start from and save to when the session ends (created on first use).
    workspace: str | None = None


def session_not_found(session_id: str) -> NotFoundError:
    return NotFoundError(f"No session {session_id} for this token.", {"session_id": session_id})


def handle_of(session: SessionRecord) -> ContainerHandle | None:
    if session.container_id is None:
        return None
    return ContainerHandle(session.container_id, session.node or "local")


def session_key(session_id: str) -> str:
    return f"session:{session_id}"


# What wakes the pool keeper on this instance: a claim (hit or miss) or a member turning warm.
POOLS_KEY = "pools"


def env_problems(env: dict[str, str]) -> list[dict[str, object]]:
    problems: list[dict[str, object]] = []
    if len(env) > MAX_ENV_VARS:
        problems.append(
            {
                "field": "env",
                "value": f"{len(env)} variables",
                "allowed": f"at most {MAX_ENV_VARS}",
                "message": "too many environment variables",
            }
        )
    for key, value in env.items():
        if not ENV_KEY.match(key) or key.upper().startswith(ENV_PREFIX):
            problems.append(
                {
                    "field": f"env.{key[:64]}",
                    "value": key[:64],
                    "allowed": f"[A-Za-z_][A-Za-z0-9_]* up to 128 characters, not starting with {ENV_PREFIX}",
                    "message": "not an allowed variable name",
                }
            )
        if len(value) > MAX_ENV_VALUE or "\x00" in value:
            # The value is not echoed: environment variables often carry secrets.
            problems.append(
                {
                    "field": f"env.{key[:64]}",
                    "value": f"({len(value)} characters, not shown)",
                    "allowed": f"at most {MAX_ENV_VALUE} characters, no NUL",
                    "message": "value too long or with a NUL character",
                }
            )
    return problems


class SessionService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        runtime: ContainerRuntime,
        notifier: Notifier,
        metrics: Metrics,
        workspaces: WorkspaceMover | None = None,
    ) -> None:
        self._settings = settings
        self._db = db
        self._runtime = runtime
        self._notifier = notifier
        self._metrics = metrics
        self._workspaces = workspaces

    async def create(self, tenant_id: str, request: SessionRequest) -> SessionRecord:
        started = time.perf_counter()
        async with self._db.transaction() as conn:
            template = await templates_repo.get(conn, tenant_id, request.template_id)
        if template is None:
            raise template_not_found(request.template_id)
        resources, timeout_s = self.checked(template, request)
        if request.idle_timeout_s is None and self._settings.default_idle_timeout_s:
            request = dataclasses.replace(request, idle_timeout_s=self._settings.default_idle_timeout_s)

        claimed = await self._claim_warm(tenant_id, template, resources, timeout_s, request)
        if claimed is not None:
            if request.workspace:
                claimed = await self._restore(claimed, request.workspace)
            self._metrics.session_create_duration.observe(time.perf_counter() - started)
            return claimed

        session_id = new_id("ses")
        async with self._db.transaction() as conn:
            await repo.insert(
                conn,
                session_id=session_id,
                tenant_id=tenant_id,
                template_id=template.id,
                image=template.image,
                languages=template.languages,
                network=template.network,
                resources=resources,
                timeout_s=timeout_s,
                env=request.env,
                idle_timeout_s=request.idle_timeout_s,
                workspace_id=request.workspace,
            )
            if request.workspace:
                await workspaces_repo.lease(conn, tenant_id, request.workspace, session_id)
        try:
            handle = await self.start_container(session_id, tenant_id, template.image, resources, template, request.env)
        except RuntimeError_ as error:
            raise RuntimeUnavailableError(
                "The session's container could not be started.",
                {"session_id": session_id, "cause": str(error)},
            ) from error
        async with self._db.transaction() as conn:
            created = await repo.get(conn, session_id)
        assert created is not None  # noqa: S101 - inserted above; sessions are never deleted from the table
        if request.workspace:
            created = await self._restore(created, request.workspace)
        self._metrics.session_create_duration.observe(time.perf_counter() - started)
        log.info(
            "session_created",
            session_id=session_id,
            template_id=template.id,
            container=handle.container_id[:12],
        )
        return created

    def checked(self, template: TemplateRecord, request: SessionRequest) -> tuple[Resources, int]:
        """The session's resources and timeout (the template's defaults filled in), or 422 naming each problem."""
        defaults = template.default_resources
        resources = Resources(
            request.cpu_millis if request.cpu_millis is not None else defaults.cpu_millis,
            request.memory_mib if request.memory_mib is not None else defaults.memory_mib,
            request.disk_mib if request.disk_mib is not None else defaults.disk_mib,
        )
        timeout_s = request.timeout_s if request.timeout_s is not None else template.default_timeout_s
        problems: list[dict[str, object]] = list(resource_problems("resources", resources))
        if not problems:
            for name in resources.exceeds(template.max_resources):
                problems.append(
                    {
                        "field": f"resources.{name}",
                        "value": describe_resource(resources, name),
                        "allowed": f"at most {describe_resource(template.max_resources, name)} "
                        f"(template {template.name})",
                        "message": f"{name} is above the template's maximum",
                    }
                )
        timeout = timeout_problem("timeout", timeout_s)
        if timeout:
            problems.append(timeout)
        problems += env_problems(request.env)
        if request.workspace is not None:
            if not is_workspace_name(request.workspace):
                problems.append(
                    {
                        "field": "workspace",
                        "value": request.workspace[:80],
                        "allowed": f"{WORKSPACE_NAME}, not ending in .tar",
                        "message": "not a workspace name",
                    }
                )
            elif self._workspaces is None:
                problems.append(
                    {
                        "field": "workspace",
                        "value": request.workspace,
                        "allowed": "no workspace: this control plane has no workspace bucket (SBX_CP_S3_BUCKET)",
                        "message": "workspaces are not configured",
                    }
                )
        if problems:
            raise InvalidInputError("The session request has values outside the allowed limits.", {"errors": problems})
        return resources, timeout_s

    async def _claim_warm(
        self,
        tenant_id: str,
        template: TemplateRecord,
        resources: Resources,
        timeout_s: int,
        request: SessionRequest,
    ) -> SessionRecord | None:
        """A warm container of the matching pool, made this tenant's session in one transaction."""
        async with self._db.transaction() as conn:
            pool = await pools_repo.find(conn, tenant_id, template.id, resources)
            if pool is None:
                return None
            claimed = await repo.claim_warm(
                conn,
                pool_id=pool.id,
                image=template.image,
                timeout_s=timeout_s,
                env=request.env,
                idle_timeout_s=request.idle_timeout_s,
                workspace_id=request.workspace,
            )
            if claimed is None:
                await pools_repo.record_miss(conn, pool.id)
            elif request.workspace:
                # Held by another live session: raised here, the claim is rolled back with it.
                await workspaces_repo.lease(conn, tenant_id, request.workspace, claimed.id)
        self._metrics.pool_claims.labels("hit" if claimed else "miss").inc()
        self._notifier.notify(POOLS_KEY)
        if claimed is not None:
            self._notifier.notify(session_key(claimed.id))
            log.info("session_created", session_id=claimed.id, template_id=template.id, pool_id=pool.id, warm=True)
        return claimed

    async def start_container(
        self,
        session_id: str,
        tenant_id: str,
        image: str,
        resources: Resources,
        template: TemplateRecord,
        env: dict[str, str],
    ) -> ContainerHandle:
        """Start the container of an inserted ``creating`` session; on failure it is failed and removed."""
        spec = ContainerSpec(
            session_id=session_id,
            tenant_id=tenant_id,
            image=image,
            resources=resources,
            network=template.network,
            pids_limit=self._settings.session_pids_limit,
            env=env,
            secret_files={
                "token": session_token(self._settings.internal_api_token.get_secret_value(), session_id).encode()
            },
        )
        try:
            handle = await self._runtime.create(spec)
        except RuntimeError_ as error:
            log.warning("session_start_failed", session_id=session_id, error=str(error))
            async with self._db.transaction() as conn:
                await repo.transition(conn, session_id, SessionState.FAILED, reason=Reason.CONTAINER_EXITED)
                await workspaces_repo.release(conn, session_id)
            await self._remove_quietly(session_id, None)
            raise
        async with self._db.transaction() as conn:
            await repo.set_container(conn, session_id, handle.container_id, handle.node)
        return handle

    async def get(self, tenant_id: str, session_id: str, wait_s: float = 0) -> SessionRecord:
        async def check() -> SessionRecord | None:
            async with self._db.transaction() as conn:
                found = await repo.get(conn, session_id, tenant_id)
            if found is None:
                raise session_not_found(session_id)
            return None if found.state is SessionState.CREATING else found

        if wait_s > 0:
            settled = await self._notifier.wait_for(session_key(session_id), wait_s, check)
            if settled is not None:
                return settled
        async with self._db.transaction() as conn:
            found = await repo.get(conn, session_id, tenant_id)
        if found is None:
            raise session_not_found(session_id)
        return found

    async def list(
        self,
        tenant_id: str,
        *,
        states: list[SessionState] | None,
        template_id: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[SessionRecord]:
        async with self._db.transaction() as conn:
            return await repo.list_page(
                conn, tenant_id, states=states, template_id=template_id, limit=limit, cursor=cursor
            )

    async def live_containers(self, tenant_id: str, limit: int, cursor: str | None) -> Page[SessionRecord]:
        async with self._db.transaction() as conn:
            return await repo.live_page(conn, tenant_id, limit=limit, cursor=cursor)

    async def delete(self, tenant_id: str, session_id: str) -> SessionRecord:
        async with self._db.transaction() as conn:
            found = await repo.get(conn, session_id, tenant_id, for_update=True)
            if found is None:
                raise session_not_found(session_id)
            check_transition(session_id, found.state, SessionState.TERMINATING)
        return await self.terminate(found, Reason.DELETED)

    async def terminate(self, session: SessionRecord, reason: Reason) -> SessionRecord:
        """End a session: its live executions, its container, then the record (any instance may finish it)."""
        async with self._db.transaction() as conn:
            moved = await repo.transition(conn, session.id, SessionState.TERMINATING, reason=reason)
            current = await repo.get(conn, session.id)
            assert current is not None  # noqa: S101 - sessions are never deleted from the table
            if not moved and current.state is not SessionState.TERMINATING:
                raise transition_error("session", session.id, current.state, SessionState.TERMINATING, frozenset())
            for execution in await executions_repo.live_of_session(conn, session.id):
                ended = await executions_repo.finish(
                    conn, execution.id, ExecutionStatus.CANCELLED, reason=Reason.SESSION_TERMINATED
                )
                if ended:
                    self._metrics.executions_finished.labels(ExecutionStatus.CANCELLED, Reason.SESSION_TERMINATED).inc()
                    self._notifier.notify(f"execution:{execution.id}")
        self._notifier.notify(session_key(session.id))
        await self._save_before_removal(current)
        try:
            await self._runtime.remove(session.id, handle_of(current))
        except RuntimeError_ as error:
            # The session stays 'terminating'; the monitor retries the removal.
            raise RuntimeUnavailableError(
                "The session's container could not be removed yet; it will be retried.",
                {"session_id": session.id, "cause": str(error)},
            ) from error
        async with self._db.transaction() as conn:
            await repo.transition(conn, session.id, SessionState.TERMINATED)
            await workspaces_repo.release(conn, session.id)
            ended_session = await repo.get(conn, session.id)
        assert ended_session is not None  # noqa: S101
        self._notifier.notify(session_key(session.id))
        log.info("session_terminated", session_id=session.id, reason=str(reason))
        return ended_session

    async def fail(self, session: SessionRecord, reason: Reason) -> None:
        """Mark a live session failed (its container is gone or useless) and remove what is left."""
        async with self._db.transaction() as conn:
            moved = await repo.transition(conn, session.id, SessionState.FAILED, reason=reason)
            if not moved:
                return
            for execution in await executions_repo.live_of_session(conn, session.id):
                if await executions_repo.finish(conn, execution.id, ExecutionStatus.FAILED, reason=reason):
                    self._metrics.executions_finished.labels(ExecutionStatus.FAILED, reason).inc()
                    self._notifier.notify(f"execution:{execution.id}")
        self._notifier.notify(session_key(session.id))
        log.warning("session_failed", session_id=session.id, reason=str(reason))
        # What the workspace holds is kept if it can be read (Docker reads a stopped container's).
        if session.workspace_id and session.container_id and self._workspaces is not None:
            try:
                await self._workspaces.save(session, session.workspace_id)
            except (RuntimeError_, StoreError, OSError) as error:
                log.error(
                    "workspace_not_saved", session_id=session.id, workspace=session.workspace_id, error=str(error)
                )
        async with self._db.transaction() as conn:
            await workspaces_repo.release(conn, session.id)
        await self._remove_quietly(session.id, handle_of(session))

    async def _restore(self, session: SessionRecord, name: str) -> SessionRecord:
        """Unpack the saved workspace into the new session; if that fails, the session is failed and
        removed without saving (the saved workspace stays as it was) and the create answers 503."""
        assert self._workspaces is not None  # noqa: S101 - checked() refuses a workspace without a store
        assert session.container_id is not None  # noqa: S101 - started or claimed above
        handle = ContainerHandle(session.container_id, session.node or "local")
        try:
            await self._workspaces.restore(session.id, session.tenant_id, handle, name)
        except (RuntimeError_, StoreError, OSError) as error:
            log.error("workspace_restore_failed", session_id=session.id, workspace=name, error=str(error))
            async with self._db.transaction() as conn:
                await workspaces_repo.release(conn, session.id)
                await repo.set_workspace(conn, session.id, None)
            await self.fail(dataclasses.replace(session, workspace_id=None), Reason.CONTAINER_EXITED)
            cls = WorkspaceStoreUnavailableError if isinstance(error, StoreError) else RuntimeUnavailableError
            raise cls(
                f"The workspace {name} could not be restored; the session was ended and the workspace left as saved.",
                {"session_id": session.id, "workspace": name, "cause": str(error)},
            ) from error
        return session

    async def _save_before_removal(self, session: SessionRecord) -> None:
        """Save the workspace of a session that still holds its lease; on failure the session stays
        'terminating' with its container (the monitor retries), unless the container is gone."""
        if not session.workspace_id or self._workspaces is None or session.container_id is None:
            return
        async with self._db.transaction() as conn:
            held = await workspaces_repo.holder(conn, session.tenant_id, session.workspace_id)
        if held != session.id:
            return
        try:
            await self._workspaces.save(session, session.workspace_id)
        except (RuntimeError_, StoreError, OSError) as error:
            handle = handle_of(session)
            gone = False
            if handle is not None:
                try:
                    gone = not (await self._runtime.status(handle)).exists
                except RuntimeError_:
                    gone = False
            if gone:
                log.error(
                    "workspace_not_saved", session_id=session.id, workspace=session.workspace_id, error=str(error)
                )
                return
            log.warning(
                "workspace_save_failed", session_id=session.id, workspace=session.workspace_id, error=str(error)
            )
            cls = WorkspaceStoreUnavailableError if isinstance(error, StoreError) else RuntimeUnavailableError
            raise cls(
                f"The workspace {session.workspace_id} could not be saved yet; the session stays 'terminating' "
                "with its container and the save is retried.",
                {"session_id": session.id, "workspace": session.workspace_id, "cause": str(error)},
            ) from error

    async def _remove_quietly(self, session_id: str, handle: ContainerHandle | None) -> None:
        try:
            await self._runtime.remove(session_id, handle)
        except RuntimeError_ as error:
            log.warning("container_remove_failed", session_id=session_id, error=str(error))
