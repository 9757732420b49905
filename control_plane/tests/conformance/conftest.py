"""One suite for every runtime: each test gets a ``Harness`` for Docker, the Kubernetes emulator,
or a real cluster, and asks the same things of the runtime interface.

- ``docker``: the real engine and the test bed's executor image (``SBX_CP_TEST_EXECUTOR_IMAGE``,
  set by ``scripts/stage.sh``). Skipped only when no engine answers.
- ``kubernetes-emulator``: ``tests/k8s_emulator.py`` on loopback. Nothing runs a Pod there: the
  harness patches Pod status as a kubelet would, so these tests prove what the runtime sends and
  how it reads what a cluster answers, not what a cluster does.
- ``kubernetes-cluster``: a real cluster, only when ``KUBECONFIG`` is set (namespace
  ``SBX_CP_TEST_KUBE_NAMESPACE``, image ``SBX_CP_TEST_KUBE_IMAGE``); skipped otherwise, saying so.

Each harness reads back what the runtime applied (Docker's inspect, the Pod's spec) as one
``Applied`` view, so one assertion covers both runtimes.
"""

from __future__ import annotations

import abc
import asyncio
import os
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiodocker
import pytest
from kubernetes import client as k8s

from sandbox_control_plane.config.settings import Settings
from sandbox_control_plane.container_scheduler.base import (
    ContainerHandle,
    ContainerRuntime,
    ContainerSpec,
    ContainerStatus,
)
from sandbox_control_plane.container_scheduler.docker_runtime import DockerRuntime
from sandbox_control_plane.container_scheduler.kubernetes_runtime import (
    KubernetesRuntime,
    object_name,
    quantity,
)
from sandbox_control_plane.domain import Network, Resources
from sandbox_control_plane.utils.ids import new_id
from sandbox_executor import protocol
from tests.k8s_emulator import Emulator, kubernetes_emulator, pod_status, running_status

EXECUTOR_IMAGE = os.environ.get("SBX_CP_TEST_EXECUTOR_IMAGE", "")
MISSING_IMAGE = "sbx-cp-conformance-missing:0"
TOKEN = b"conformance-session-token-0123456789"
NAMESPACE = "sbx-conformance"


@dataclass(frozen=True)
class Applied:
    """The security settings a runtime applied, read back from the engine or the API."""

    user: str
    caps_dropped_all: bool
    no_new_privileges: bool
    read_only_root: bool
    privileged: bool
    memory_bytes: int
    cpu_millis: int
    tmp_mib: int
    network_isolated: bool
    token_read_only: bool
    env: dict[str, str] = field(repr=False)
    labels: dict[str, str]


class Harness(abc.ABC):
    name: str
    runtime: ContainerRuntime
    image: str

    def __init__(self) -> None:
        self.made: list[str] = []

    def spec(self, **overrides: Any) -> ContainerSpec:
        values: dict[str, Any] = {
            "session_id": new_id("ses"),
            "tenant_id": "tenant-a",
            "image": self.image,
            "resources": Resources(500, 256, 1024),
            "network": Network.NONE,
            "pids_limit": 64,
            "env": {"CONFORMANCE": "1"},
            "secret_files": {"token": TOKEN},
        }
        values.update(overrides)
        spec = ContainerSpec(**values)
        self.made.append(spec.session_id)
        return spec

    async def cleanup(self) -> None:
        for session_id in self.made:
            await self.runtime.remove(session_id, None)
        await self.runtime.close()

    async def started(self, handle: ContainerHandle) -> None:
        """Until the container runs (what a kubelet reports, on the emulator)."""
        await self.wait_for(handle, lambda status: status.running, "running")

    async def wait_for(
        self, handle: ContainerHandle, done: Callable[[ContainerStatus], bool], what: str, within_s: float = 120
    ) -> ContainerStatus:
        deadline = asyncio.get_running_loop().time() + within_s
        while True:
            status = await self.runtime.status(handle)
            if done(status):
                return status
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{self.name}: not {what} in {within_s} s: {status}")
            await asyncio.sleep(0.5)

    @abc.abstractmethod
    async def applied(self, handle: ContainerHandle) -> Applied: ...

    async def image_pull_fails(self, handle: ContainerHandle) -> None:  # noqa: B027 - most runtimes need nothing
        """What the kubelet reports for an image it cannot pull (a cluster does it by itself)."""

    async def oom_killed(self, handle: ContainerHandle) -> None:
        pytest.skip(f"{self.name}: not provoked here")

    async def metrics(self, handle: ContainerHandle) -> None:  # noqa: B027 - most runtimes need nothing
        """What metrics-server would serve (the emulator has none by itself)."""


def _size_mib(text: str) -> int:
    match = re.search(r"size=(\d+)m", text)
    return int(match.group(1)) if match else 0


class DockerHarness(Harness):
    name = "docker"

    def __init__(self, runtime_dir: Path) -> None:
        super().__init__()
        (runtime_dir / "sock").mkdir(exist_ok=True)
        self.settings = Settings(runtime_dir=runtime_dir)
        self.runtime = DockerRuntime(self.settings)
        self.image = EXECUTOR_IMAGE
        self.docker = aiodocker.Docker(url=self.settings.docker_url)

    async def cleanup(self) -> None:
        await super().cleanup()
        await self.docker.close()

    async def applied(self, handle: ContainerHandle) -> Applied:
        info = await (await self.docker.containers.get(handle.container_id)).show()
        config, host = info["Config"], info["HostConfig"]
        mounts = {mount["Destination"]: mount for mount in info["Mounts"]}
        return Applied(
            user=config["User"],
            caps_dropped_all=host["CapDrop"] == ["ALL"] and not host.get("CapAdd"),
            no_new_privileges="no-new-privileges" in (host["SecurityOpt"] or []),
            read_only_root=host["ReadonlyRootfs"],
            privileged=host["Privileged"],
            memory_bytes=host["Memory"],
            cpu_millis=host["NanoCpus"] // 1_000_000,
            tmp_mib=_size_mib(host["Tmpfs"]["/tmp"]),
            network_isolated=host["NetworkMode"] == "none",
            token_read_only=mounts[protocol.SESSION_DIR]["RW"] is False,
            env=dict(item.split("=", 1) for item in config["Env"]),
            labels=config["Labels"],
        )


class KubernetesHarness(Harness):
    """Reads back through its own client, as any API user would, not from the emulator's memory."""

    def __init__(self, settings: Settings, configuration: k8s.Configuration, image: str) -> None:
        super().__init__()
        self.settings = settings
        self.runtime = KubernetesRuntime(settings, configuration)
        self.image = image
        self.api = k8s.ApiClient(configuration)
        self.core = k8s.CoreV1Api(self.api)
        self.networking = k8s.NetworkingV1Api(self.api)

    async def cleanup(self) -> None:
        await super().cleanup()
        await asyncio.to_thread(self.api.close)

    async def read(self, kind: str, name: str) -> dict[str, Any]:
        reader = {
            "pod": self.core.read_namespaced_pod,
            "secret": self.core.read_namespaced_secret,
            "networkpolicy": self.networking.read_namespaced_network_policy,
        }[kind]
        found = await asyncio.to_thread(reader, name, self.settings.kube_namespace)
        raw: dict[str, Any] = self.api.sanitize_for_serialization(found)
        return raw

    async def applied(self, handle: ContainerHandle) -> Applied:
        pod = await self.read("pod", handle.container_id)
        policy = (await self.read("networkpolicy", handle.container_id))["spec"]
        spec = pod["spec"]
        (container,) = spec["containers"]
        security = {**spec.get("securityContext", {}), **container.get("securityContext", {})}
        limits = container["resources"]["limits"]
        volumes = {volume["name"]: volume for volume in spec["volumes"]}
        mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
        session_volume = volumes[mounts[protocol.SESSION_DIR]["name"]]
        return Applied(
            user=f"{security['runAsUser']}:{security['runAsGroup']}",
            caps_dropped_all=security["capabilities"] == {"drop": ["ALL"]},
            no_new_privileges=security["allowPrivilegeEscalation"] is False,
            read_only_root=security["readOnlyRootFilesystem"],
            privileged=security.get("privileged", False),
            memory_bytes=int(quantity(limits["memory"])),
            cpu_millis=int(quantity(limits["cpu"]) * 1000),
            tmp_mib=int(quantity(volumes[mounts["/tmp"]["name"]]["emptyDir"]["sizeLimit"])) >> 20,
            # The policy selects the Pod, admits nothing in and lets out only what it lists.
            network_isolated=policy["ingress"] == []
            and {} not in policy["egress"]
            and all(pod["metadata"]["labels"].get(k) == v for k, v in policy["podSelector"]["matchLabels"].items()),
            token_read_only=mounts[protocol.SESSION_DIR].get("readOnly") is True
            and session_volume["secret"]["defaultMode"] == 0o400,
            env={item["name"]: item["value"] for item in container["env"]},
            labels=pod["metadata"]["labels"],
        )


class EmulatedKubernetesHarness(KubernetesHarness):
    name = "kubernetes-emulator"

    def __init__(self, emulator: Emulator) -> None:
        settings = Settings(
            runtime="kubernetes", executor_callback_url="http://10.0.0.7:8081", kube_namespace=NAMESPACE
        )
        super().__init__(settings, emulator.configuration(), "registry.example/sbx-executor:1")
        self.emulator = emulator

    async def started(self, handle: ContainerHandle) -> None:
        await self.emulator.set_pod_status(NAMESPACE, handle.container_id, running_status(self.image))
        await super().started(handle)

    async def image_pull_fails(self, handle: ContainerHandle) -> None:
        waiting = {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}
        await self.emulator.set_pod_status(NAMESPACE, handle.container_id, pod_status("Pending", self.image, waiting))

    async def oom_killed(self, handle: ContainerHandle) -> None:
        terminated = {"terminated": {"reason": "OOMKilled", "exitCode": 137}}
        await self.emulator.set_pod_status(NAMESPACE, handle.container_id, pod_status("Failed", self.image, terminated))

    async def metrics(self, handle: ContainerHandle) -> None:
        await self.emulator.put_pod_metrics(NAMESPACE, handle.container_id, cpu="12m", memory="20Mi")


class ClusterKubernetesHarness(KubernetesHarness):
    name = "kubernetes-cluster"


HARNESSES = ["docker", "kubernetes-emulator", "kubernetes-cluster"]


@pytest.fixture(params=HARNESSES)
async def harness(request: pytest.FixtureRequest, runtime_dir: Path) -> AsyncIterator[Harness]:
    made: Harness
    if request.param == "docker":
        probe = DockerRuntime(Settings(runtime_dir=runtime_dir))
        answers = await probe.ping()
        await probe.close()
        if not answers:
            pytest.skip("no Docker engine answers (control_plane/scripts/testbed.sh starts one)")
        if not EXECUTOR_IMAGE:
            pytest.fail("SBX_CP_TEST_EXECUTOR_IMAGE is not set: run through control_plane/scripts/stage.sh")
        made = DockerHarness(runtime_dir)
        try:
            yield made
        finally:
            await made.cleanup()
    elif request.param == "kubernetes-emulator":
        async with kubernetes_emulator() as emulator:
            made = EmulatedKubernetesHarness(emulator)
            try:
                yield made
            finally:
                await made.cleanup()
    else:
        kubeconfig = os.environ.get("KUBECONFIG", "")
        if not kubeconfig:
            pytest.skip("KUBECONFIG is not set: no test ran against a real Kubernetes cluster")
        image = os.environ.get("SBX_CP_TEST_KUBE_IMAGE", "")
        if not image:
            pytest.skip("KUBECONFIG is set but SBX_CP_TEST_KUBE_IMAGE (an executor image the cluster pulls) is not")
        settings = Settings(
            runtime="kubernetes",
            kube_config_file=kubeconfig,
            kube_namespace=os.environ.get("SBX_CP_TEST_KUBE_NAMESPACE", "sandbox"),
            # Nothing answers there: the executor keeps retrying, which is all these tests need.
            executor_callback_url=os.environ.get("SBX_CP_TEST_KUBE_CALLBACK_URL", "http://192.0.2.1:8081"),
        )
        from sandbox_control_plane.container_scheduler.kubernetes_runtime import load_configuration

        made = ClusterKubernetesHarness(settings, load_configuration(settings), image)
        try:
            yield made
        finally:
            await made.cleanup()


__all__ = ["MISSING_IMAGE", "TOKEN", "Applied", "Harness", "object_name"]
