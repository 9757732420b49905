"""Serving one instance: the public app on TCP and the internal app on a Unix socket in the
shared socket folder, which session containers see read-only. Any live socket there serves any
session, so executors fail over between instances and across restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import stat
from collections.abc import Generator
from pathlib import Path

import uvicorn

from sandbox_control_plane.api.app import Apps
from sandbox_control_plane.config.logging import configure_logging, get_logger
from sandbox_control_plane.config.settings import Settings

log = get_logger(__name__)


def instance_name(settings: Settings) -> str:
    return settings.instance_id or f"{socket.gethostname()}-{os.getpid()}"


def prepare_runtime_dir(settings: Settings) -> None:
    """Folders containers mount: traversable by the sandbox user, writable by us only."""
    for directory in (settings.runtime_dir, settings.socket_dir, settings.sessions_dir):
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o755)  # noqa: S103 - uid 1000 in containers traverses it


def remove_dead_sockets(directory: Path) -> None:
    """Sockets of instances that are gone (killed, crashed) refuse connections: remove them."""
    for path in directory.glob("*.sock"):
        with contextlib.suppress(OSError):
            if not stat.S_ISSOCK(path.stat().st_mode):
                continue
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            probe.settimeout(0.5)
            try:
                probe.connect(str(path))
            except (ConnectionRefusedError, FileNotFoundError, TimeoutError):
                path.unlink(missing_ok=True)
            finally:
                probe.close()


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to ``serve`` (two servers share one process)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _stop(apps: Apps, *servers: uvicorn.Server) -> None:
    for server in servers:
        server.should_exit = True
    # Long-polls (executors' claims, clients' wait_s) answer at once rather than being cancelled.
    if apps.context is not None:
        apps.context.notifier.close()


async def serve(settings: Settings) -> None:
    configure_logging(settings.log_level)
    prepare_runtime_dir(settings)
    await asyncio.to_thread(remove_dead_sockets, settings.socket_dir)
    apps = Apps(settings)
    socket_path = settings.socket_dir / f"{instance_name(settings)}.sock"
    socket_path.unlink(missing_ok=True)

    public = _Server(
        uvicorn.Config(
            apps.public,
            host=settings.host,
            port=settings.port,
            loop="uvloop",
            http="httptools",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=5,
        )
    )
    internal = _Server(
        uvicorn.Config(
            apps.internal_asgi,
            uds=str(socket_path),
            lifespan="off",
            loop="uvloop",
            http="httptools",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_keep_alive=max(30, int(settings.claim_wait_s) + 10),
            timeout_graceful_shutdown=2,
        )
    )
    # Both servers stop on the first SIGTERM or SIGINT.
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _stop, apps, public, internal)

    public_task = asyncio.create_task(public.serve())
    while not public.started:
        if public_task.done():
            await public_task  # startup failed: raise its error
            return
        await asyncio.sleep(0.05)
    internal_task = asyncio.create_task(internal.serve())
    while not internal.started and not internal_task.done():  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    with contextlib.suppress(OSError):
        os.chmod(socket_path, 0o666)  # noqa: S103  # the sandbox user connects; the token decides what it may do
    bound = public.servers[0].sockets[0].getsockname() if public.servers else (settings.host, settings.port)
    log.info("listening", public=f"http://{bound[0]}:{bound[1]}", internal_socket=socket_path.name)
    try:
        await public_task
    finally:
        internal.should_exit = True
        await internal_task
        socket_path.unlink(missing_ok=True)
