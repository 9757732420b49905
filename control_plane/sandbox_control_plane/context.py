"""Everything one instance holds: connections and the services built on them. No session or
execution state lives here; the database has all of it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox_control_plane.config.settings import Settings
from sandbox_control_plane.container_scheduler import make_runtime
from sandbox_control_plane.container_scheduler.base import ContainerRuntime
from sandbox_control_plane.db.engine import Database, instrument, make_engine
from sandbox_control_plane.session_manager.executions import ExecutionService
from sandbox_control_plane.session_manager.executor_callbacks import ExecutorCallbacks
from sandbox_control_plane.session_manager.files import FileService, WorkspaceCatalog, WorkspaceMover
from sandbox_control_plane.session_manager.monitor import Monitor
from sandbox_control_plane.session_manager.pools import PoolKeeper, PoolService
from sandbox_control_plane.session_manager.service import SessionService
from sandbox_control_plane.template_manager.service import TemplateService
from sandbox_control_plane.utils.metrics import Metrics
from sandbox_control_plane.utils.notify import Notifier
from sandbox_control_plane.workspace_store.s3 import WorkspaceStore


@dataclass
class Context:
    settings: Settings
    db: Database
    runtime: ContainerRuntime
    notifier: Notifier
    metrics: Metrics
    templates: TemplateService
    sessions: SessionService
    executions: ExecutionService
    callbacks: ExecutorCallbacks
    monitor: Monitor
    pools: PoolService
    pool_keeper: PoolKeeper
    files: FileService
    # None when no bucket is configured (SBX_CP_S3_BUCKET): sessions cannot name a workspace.
    workspaces: WorkspaceStore | None
    workspace_catalog: WorkspaceCatalog

    @classmethod
    def build(cls, settings: Settings, runtime: ContainerRuntime | None = None) -> Context:
        metrics = Metrics()
        engine = make_engine(settings)
        instrument(engine, metrics.db_query_duration.observe)
        db = Database(engine)
        runtime = runtime or make_runtime(settings)
        notifier = Notifier(settings.poll_interval_s)
        store = WorkspaceStore(settings) if settings.s3_bucket else None
        mover = WorkspaceMover(settings, runtime, store) if store else None
        sessions = SessionService(settings, db, runtime, notifier, metrics, mover)
        return cls(
            settings=settings,
            db=db,
            runtime=runtime,
            notifier=notifier,
            metrics=metrics,
            templates=TemplateService(db, runtime),
            sessions=sessions,
            executions=ExecutionService(settings, db, notifier, metrics),
            callbacks=ExecutorCallbacks(settings, db, notifier, metrics, sessions),
            monitor=Monitor(settings, db, runtime, sessions, notifier, metrics),
            pools=PoolService(settings, db, sessions, notifier),
            pool_keeper=PoolKeeper(settings, db, sessions, notifier, metrics),
            files=FileService(settings, db, runtime),
            workspaces=store,
            workspace_catalog=WorkspaceCatalog(db, store),
        )

    async def close(self) -> None:
        await self.pool_keeper.close()
        await self.runtime.close()
        if self.workspaces is not None:
            self.workspaces.close()
        await self.db.dispose()
