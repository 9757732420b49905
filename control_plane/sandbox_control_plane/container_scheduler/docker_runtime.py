"""The Docker runtime, through aiodocker (asynchronous HTTP to the engine's socket).

File work on the host (the per-session token, the cgroup counters) is small and runs in the
default thread pool (``asyncio.to_thread``), off the event loop.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiodocker
import aiohttp
from aiodocker.exceptions import DockerError
from aiodocker.volumes import DockerVolume

from sandbox_control_plane.config.settings import Settings
from sandbox_control_plane.container_scheduler.base import (
    SANDBOX_USER,
    ContainerHandle,
    ContainerRuntime,
    ContainerSpec,
    ContainerStats,
    ContainerStatus,
    ImageInfo,
    ManagedContainer,
    PathNotFoundError,
    RuntimeError_,
    workspace_path,
)
from sandbox_control_plane.domain import Network
from sandbox_executor import protocol

NAME_PREFIX = "sbx-cp"
LABEL_MANAGED = "ai.oneclick.sandbox.managed-by"
LABEL_SESSION = "ai.oneclick.sandbox.session"
LABEL_TENANT = "ai.oneclick.sandbox.tenant"
SANDBOX_UID = 1000


def container_name(session_id: str) -> str:
    return f"{NAME_PREFIX}-ses-{session_id}"


def volume_name(session_id: str) -> str:
    return f"{NAME_PREFIX}-ws-{session_id}"


def oom_kills(cgroup_dir: Path) -> int | None:
    """The kernel's OOM-kill count of a memory cgroup (v1 ``memory.oom_control``, v2 ``memory.events``)."""
    for file_name, key in (("memory.oom_control", "oom_kill"), ("memory.events", "oom_kill")):
        try:
            text = (cgroup_dir / file_name).read_text()
        except OSError:
            continue
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    return None


def stats_from_sample(sample: dict[str, Any]) -> ContainerStats:
    """CPU as ``docker stats`` computes it (delta of the container over delta of the system, times
    the number of CPUs), memory as used minus the page cache (cgroup v1 ``total_inactive_file``, v2
    ``inactive_file``)."""
    cpu = sample.get("cpu_stats") or {}
    pre = sample.get("precpu_stats") or {}
    cpu_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (pre.get("cpu_usage") or {}).get("total_usage", 0)
    system_delta = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    cpus = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    percent = cpu_delta / system_delta * cpus * 100.0 if cpu_delta > 0 and system_delta > 0 else 0.0
    memory = sample.get("memory_stats") or {}
    details = memory.get("stats") or {}
    cache = details.get("total_inactive_file", details.get("inactive_file", 0))
    used = max(0, int(memory.get("usage", 0)) - int(cache))
    return ContainerStats(
        cpu_percent=round(percent, 2), memory_bytes=used, memory_limit_bytes=int(memory.get("limit", 0))
    )


CPU_SAMPLE_S = 0.5
# A workspace archive moves at disk speed; only a stalled engine is an error.
ARCHIVE_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=120)


@dataclass(frozen=True)
class CgroupSample:
    at_ns: int
    cpu_ns: int
    memory_bytes: int
    memory_limit_bytes: int


def cgroup_sample(memory_dir: Path, cpu_dir: Path) -> CgroupSample | None:
    """One reading of a container's cgroup v1 counters; None when the container is gone."""
    try:
        usage = int((memory_dir / "memory.usage_in_bytes").read_text())
        limit = int((memory_dir / "memory.limit_in_bytes").read_text())
        inactive = 0
        for line in (memory_dir / "memory.stat").read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == "total_inactive_file":
                inactive = int(value)
        cpu = int((cpu_dir / "cpuacct.usage").read_text())
    except (OSError, ValueError):
        return None
    return CgroupSample(time.monotonic_ns(), cpu, max(0, usage - inactive), limit)


class DockerRuntime(ContainerRuntime):
    name = "docker"

    def __init__(self, settings: Settings, node: str = "local") -> None:
        self._settings = settings
        self._node = node
        self._docker = aiodocker.Docker(url=settings.docker_url)

    def container_config(self, spec: ContainerSpec) -> dict[str, Any]:
        """The engine's create request: every security setting is here, none is optional."""
        env = dict(spec.env)
        env.update(
            {
                protocol.ENV_SESSION_ID: spec.session_id,
                protocol.ENV_HEARTBEAT_INTERVAL: str(self._settings.heartbeat_interval_s),
                protocol.ENV_MAX_OUTPUT: str(self._settings.max_output_bytes),
                protocol.ENV_FILE_SIZE_LIMIT: str(spec.resources.disk_mib * 1024 * 1024),
            }
        )
        if self._settings.executor_callback_url:
            env[protocol.ENV_CALLBACK_URL] = self._settings.executor_callback_url
        memory = spec.resources.memory_mib * 1024 * 1024
        return {
            "Image": spec.image,
            "User": SANDBOX_USER,
            "Env": [f"{key}={value}" for key, value in sorted(env.items())],
            "WorkingDir": protocol.WORKSPACE,
            "Labels": {
                LABEL_MANAGED: NAME_PREFIX,
                LABEL_SESSION: spec.session_id,
                LABEL_TENANT: spec.tenant_id,
            },
            "NetworkDisabled": spec.network is Network.NONE,
            "HostConfig": {
                "Init": True,  # reaps what user code leaves behind
                "CapDrop": ["ALL"],
                "SecurityOpt": ["no-new-privileges"],
                "ReadonlyRootfs": True,
                "Privileged": False,
                "Memory": memory,
                "MemorySwap": memory,  # no swap: the limit is the limit
                "NanoCpus": spec.resources.cpu_millis * 1_000_000,
                "PidsLimit": spec.pids_limit,
                "NetworkMode": "none" if spec.network is Network.NONE else "bridge",
                # A tmpfs without a size is half the host's memory and counts against the limit.
                "Tmpfs": {
                    "/tmp":  # noqa: S108 - the container's own /tmp
                    f"rw,nosuid,nodev,size={self._settings.session_tmp_size_mib}m"
                },
                "Mounts": [
                    {"Type": "volume", "Source": volume_name(spec.session_id), "Target": protocol.WORKSPACE},
                    {
                        "Type": "bind",
                        "Source": str(self._settings.socket_dir),
                        "Target": protocol.SOCKET_DIR,
                        "ReadOnly": True,
                    },
                    {
                        "Type": "bind",
                        "Source": str(self._settings.sessions_dir / spec.session_id),
                        "Target": protocol.SESSION_DIR,
                        "ReadOnly": True,
                    },
                ],
                "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m", "max-file": "1"}},
                "RestartPolicy": {"Name": "no"},
            },
        }

    def _write_secret_files(self, session_id: str, files: dict[str, bytes]) -> None:
        directory = self._settings.sessions_dir / session_id
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o500)
        for name, content in files.items():
            path = directory / name
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o400)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(content)
            if os.geteuid() == 0:
                os.chown(path, SANDBOX_UID, SANDBOX_UID)
        if os.geteuid() == 0:
            os.chown(directory, SANDBOX_UID, SANDBOX_UID)

    async def create(self, spec: ContainerSpec) -> ContainerHandle:
        await asyncio.to_thread(self._write_secret_files, spec.session_id, spec.secret_files)
        try:
            await self._docker.volumes.create(  # type: ignore[no-untyped-call]
                {
                    "Name": volume_name(spec.session_id),
                    "Labels": {LABEL_MANAGED: NAME_PREFIX, LABEL_SESSION: spec.session_id},
                }
            )
            container = await self._docker.containers.create(
                self.container_config(spec), name=container_name(spec.session_id)
            )
            await container.start()
        except DockerError as error:
            raise RuntimeError_(f"docker refused to start the session's container: {error.message}") from error
        except (OSError, TimeoutError) as error:
            raise RuntimeError_(f"docker did not answer: {type(error).__name__}") from error
        return ContainerHandle(container.id, self._node)

    async def status(self, handle: ContainerHandle) -> ContainerStatus:
        try:
            info = await (await self._docker.containers.get(handle.container_id)).show()
        except DockerError as error:
            if error.status == 404:
                return ContainerStatus(exists=False, running=False)
            raise RuntimeError_(f"docker could not inspect the container: {error.message}") from error
        except (OSError, TimeoutError) as error:
            raise RuntimeError_(f"docker did not answer: {type(error).__name__}") from error
        state = info.get("State", {})
        exit_code = state.get("ExitCode")
        # The engine's OOMKilled flag is wrong on some engines (cgroup v1 with dockerd 20.10): the
        # kernel's count in the container's memory cgroup decides, while it is still there.
        kills = await asyncio.to_thread(oom_kills, self._settings.docker_cgroup_memory_root / handle.container_id)
        oom = bool(state.get("OOMKilled")) or (exit_code == 137 and bool(kills))
        return ContainerStatus(exists=True, running=bool(state.get("Running")), exit_code=exit_code, oom_killed=oom)

    async def remove(self, session_id: str, handle: ContainerHandle | None) -> None:
        target = handle.container_id if handle else container_name(session_id)
        for attempt in range(25):
            try:
                await self._docker.containers.container(target).delete(force=True, v=True)
                break
            except DockerError as error:
                if error.status == 404:
                    break
                # 409: another instance (or the monitor) is removing it right now; wait for that.
                if error.status == 409 and attempt < 24:
                    await asyncio.sleep(0.2)
                    continue
                raise RuntimeError_(f"docker could not remove the container: {error.message}") from error
            except (OSError, TimeoutError) as error:
                raise RuntimeError_(f"docker did not answer: {type(error).__name__}") from error
        for attempt in range(5):
            try:
                volume = DockerVolume(self._docker, volume_name(session_id))  # type: ignore[no-untyped-call]
                await volume.delete()  # type: ignore[no-untyped-call]
                break
            except DockerError as error:
                if error.status == 404:
                    break
                if error.status == 409 and attempt < 4:  # the engine has not let go of it yet
                    await asyncio.sleep(0.2)
                    continue
                raise RuntimeError_(f"docker could not remove the workspace: {error.message}") from error
        await asyncio.to_thread(shutil.rmtree, self._settings.sessions_dir / session_id, True)

    async def inspect_image(self, image: str) -> ImageInfo:
        try:
            info = await self._docker.images.inspect(image)
        except DockerError as error:
            if error.status == 404:
                return ImageInfo(exists=False)
            raise RuntimeError_(f"docker could not inspect the image: {error.message}") from error
        except (OSError, TimeoutError) as error:
            raise RuntimeError_(f"docker did not answer: {type(error).__name__}") from error
        config = info.get("Config") or {}
        return ImageInfo(exists=True, user=str(config.get("User") or ""), labels=dict(config.get("Labels") or {}))

    async def stats(self, handle: ContainerHandle) -> ContainerStats | None:
        """One sample from the engine (``stream=false``: it takes two readings a second apart)."""
        try:
            samples = await self._docker.containers.container(handle.container_id).stats(stream=False)
        except DockerError as error:
            if error.status in (404, 409):
                return None
            raise RuntimeError_(f"docker could not read the container's stats: {error.message}") from error
        except (OSError, TimeoutError) as error:
            raise RuntimeError_(f"docker did not answer: {type(error).__name__}") from error
        if samples and not str(samples[0].get("read", "")).startswith("0001-"):
            return stats_from_sample(samples[0])
        # Some engines take no samples at all (dockerd 20.10 on cgroup v1 here: `docker stats`
        # shows 0B / 0B, `read` is the zero time): read the container's cgroups ourselves.
        return await self._stats_from_cgroups(handle.container_id)

    async def _stats_from_cgroups(self, container_id: str) -> ContainerStats | None:
        memory_dir = self._settings.docker_cgroup_memory_root / container_id
        cpu_dir = self._settings.docker_cgroup_cpuacct_root / container_id
        first = await asyncio.to_thread(cgroup_sample, memory_dir, cpu_dir)
        if first is None:
            return None
        await asyncio.sleep(CPU_SAMPLE_S)
        second = await asyncio.to_thread(cgroup_sample, memory_dir, cpu_dir)
        if second is None:
            return None
        cpu_ns = max(0, second.cpu_ns - first.cpu_ns)
        wall_ns = max(1, second.at_ns - first.at_ns)
        return ContainerStats(
            cpu_percent=round(cpu_ns / wall_ns * 100.0, 2),
            memory_bytes=second.memory_bytes,
            memory_limit_bytes=second.memory_limit_bytes,
        )

    async def list_managed(self) -> list[ManagedContainer]:
        try:
            containers = await self._docker.containers.list(
                all=True, filters={"label": [f"{LABEL_MANAGED}={NAME_PREFIX}"]}
            )
        except DockerError as error:
            raise RuntimeError_(f"docker could not list containers: {error.message}") from error
        except (OSError, TimeoutError) as error:
            raise RuntimeError_(f"docker did not answer: {type(error).__name__}") from error
        found: list[ManagedContainer] = []
        for container in containers:
            labels = container["Labels"] or {}
            session_id = labels.get(LABEL_SESSION)
            if session_id:
                running = container["State"] == "running"
                found.append(ManagedContainer(session_id, ContainerHandle(container.id, self._node), running))
        return found

    async def put_archive(self, handle: ContainerHandle, path: str, tar: AsyncIterator[bytes]) -> None:
        """The engine's archive API (``PUT /containers/{id}/archive``), the tar streamed (chunked).

        The root is read-only; the workspace is a volume, which the engine writes into. Owners come
        from the archive's headers (the callers' archives name the sandbox user)."""
        target = workspace_path(path)
        try:
            async with self._docker._query(
                f"containers/{handle.container_id}/archive",
                method="PUT",
                params={"path": target},
                data=tar,
                headers={"content-type": "application/x-tar"},
                timeout=ARCHIVE_TIMEOUT,
            ):
                pass
        except DockerError as error:
            raise RuntimeError_(f"docker refused the upload: {error.message}") from error
        except (OSError, TimeoutError, aiohttp.ClientError) as error:
            raise RuntimeError_(f"docker did not answer: {type(error).__name__}") from error

    async def get_archive(self, handle: ContainerHandle, path: str) -> AsyncGenerator[bytes, None]:
        """``GET /containers/{id}/archive``: a tar of the path, streamed as the engine sends it."""
        target = workspace_path(path)
        try:
            async with self._docker._query(
                f"containers/{handle.container_id}/archive",
                method="GET",
                params={"path": target},
                timeout=ARCHIVE_TIMEOUT,
            ) as response:
                async for chunk in response.content.iter_chunked(64 * 1024):
                    yield chunk
        except DockerError as error:
            # "Could not find the file ... in container ..." (the path), not "No such container".
            if error.status == 404 and "no such container" not in str(error.message).lower():
                raise PathNotFoundError("the path is not in the workspace") from error
            raise RuntimeError_(f"docker refused the download: {error.message}") from error
        except (OSError, TimeoutError, aiohttp.ClientError) as error:
            raise RuntimeError_(f"docker did not answer: {type(error).__name__}") from error

    async def ping(self) -> bool:
        try:
            await self._docker.version()
        except (DockerError, OSError, TimeoutError):
            return False
        return True

    async def close(self) -> None:
        await self._docker.close()
