"""Container runtimes behind one interface (``base.ContainerRuntime``)."""

from __future__ import annotations

from sandbox_control_plane.config.settings import Settings
from sandbox_control_plane.container_scheduler.base import ContainerRuntime


def make_runtime(settings: Settings) -> ContainerRuntime:
    if settings.runtime == "docker":
        from sandbox_control_plane.container_scheduler.docker_runtime import DockerRuntime

        return DockerRuntime(settings)
    raise ValueError(f"unknown runtime {settings.runtime!r}")
