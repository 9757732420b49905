"""The application: the public API under /api/v1, health and metrics, the internal API at /internal."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI

from sandbox_control_plane import __version__
from sandbox_control_plane.api.errors import install_error_handlers
from sandbox_control_plane.api.middleware import RequestContextMiddleware
from sandbox_control_plane.api.routes import (
    containers,
    executions,
    files,
    health,
    pools,
    sessions,
    templates,
    workspaces,
)
from sandbox_control_plane.config.logging import get_logger
from sandbox_control_plane.config.settings import Settings
from sandbox_control_plane.container_scheduler.base import ContainerRuntime
from sandbox_control_plane.context import Context
from sandbox_control_plane.internal_api.app import create_internal_app

log = get_logger(__name__)

DESCRIPTION = """\
Sessions that run code in isolated containers. Authenticate with `Authorization: Bearer <token>`;
every resource belongs to the token's tenant, and another tenant's resources answer 404.
Errors are always `{error_code, description, error_detail, solution, request_id}`.
"""


class Apps:
    """The public app and the internal app of one instance, sharing one context."""

    def __init__(
        self,
        settings: Settings,
        context: Context | None = None,
        *,
        run_monitor: bool = True,
        runtime_factory: Callable[[], ContainerRuntime] | None = None,
    ) -> None:
        self.settings = settings
        self.context = context
        self.runtime_factory = runtime_factory
        self.run_monitor = run_monitor
        self.internal = create_internal_app()
        self.public = self._public_app()
        self.internal_asgi = RequestContextMiddleware(
            self.internal,
            api="internal",
            metrics=self._metrics_proxy(),
            max_body=settings.max_request_bytes,
            quiet_paths=set(),
        )

    def _metrics_proxy(self) -> Any:
        apps = self

        class _Proxy:
            def __getattr__(self, name: str) -> Any:
                assert apps.context is not None  # noqa: S101 - requests arrive after startup
                return getattr(apps.context.metrics, name)

        return _Proxy()

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        owned = self.context is None
        if self.context is None:
            runtime = self.runtime_factory() if self.runtime_factory else None
            self.context = Context.build(self.settings, runtime)
        self.public.state.context = self.context
        self.internal.state.context = self.context
        # The claim watcher serves this instance's waiting executors; the monitor and the pool
        # keeper do fleet-wide work (one instance at a time holds each one's lock).
        tasks = [asyncio.create_task(self.context.callbacks.watcher.run_forever())]
        if self.run_monitor:
            tasks.append(asyncio.create_task(self.context.monitor.run_forever()))
            tasks.append(asyncio.create_task(self.context.pool_keeper.run_forever()))
        log.info("control_plane_started", version=__version__)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if owned:
                await self.context.close()

    def _public_app(self) -> FastAPI:
        app = FastAPI(
            title="Sandbox control plane",
            version=__version__,
            description=DESCRIPTION,
            lifespan=self.lifespan,
        )
        install_error_handlers(app)
        for router in (
            templates.router,
            sessions.router,
            files.router,
            executions.router,
            pools.router,
            containers.router,
            workspaces.router,
        ):
            app.include_router(router, prefix="/api/v1")
        app.include_router(health.router)
        app.mount("/internal", self.internal)
        app.add_middleware(
            RequestContextMiddleware,
            api="public",
            metrics=self._metrics_proxy(),
            max_body=self.settings.max_request_bytes,
            quiet_paths={"/health", "/metrics"},
            streamed_suffix="/files",
        )
        return app


def create_app(
    settings: Settings | None = None, context: Context | None = None, *, run_monitor: bool = True
) -> FastAPI:
    return Apps(settings or Settings(), context, run_monitor=run_monitor).public
