"""Container runtimes behind one interface (``base.ContainerRuntime``)."""

from __future__ import annotations

from sandbox_control_plane.config.settings import Settings
from sandbox_control_plane.container_scheduler.base import ContainerRuntime


def make_runtime(settings: Settings) -> ContainerRuntime:
    if settings.runtime == "docker":
        from sandbox_control_plane.container_scheduler.docker_runtime import DockerRuntime

        return DockerRuntime(settings)
    if settings.runtime == "kubernetes":
        from sandbox_control_plane.container_scheduler.kubernetes_runtime import KubernetesRuntime

        return KubernetesRuntime(settings)
    raise ValueError(f"unknown runtime {settings.runtime!r}")
