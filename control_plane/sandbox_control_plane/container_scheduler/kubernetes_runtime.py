"""The Kubernetes runtime: one Pod per session, through the official client (the ``kubernetes`` package).

The client is synchronous (urllib3); every call runs in the runtime's own thread pool
(``kube_client_threads`` threads, as many pooled connections), off the event loop: the default
pool has min(32, cores + 4) threads, and 20 creates at a time on two cores queued behind it.
Its generated models are pydantic models: what this
module sends is built as plain dicts by pure functions (``pod_manifest``, ``secret_manifest``,
``network_policy_manifest``), so that the manifests can be validated against the Kubernetes schema
and unit-tested without a cluster, and turned into the client's models only at the call. The
``kubernetes_asyncio`` package was not needed: the sync client works against the test emulator
(``tests/k8s_emulator.py``) with one shim (``GET /version/``), and it is the client the issue names.

What a session gets, beside the Pod (every object labelled like Docker's containers):

- a Secret holding the executor's files (its session token), mounted read-only at the executor's
  session folder with mode 0400; ``fsGroup`` 1000 makes the kubelet give the files to group 1000
  (it adds the group's read bit), so the sandbox user reads them and nothing else in the Pod can
  write them. The token is never in the environment or the command line.
- a NetworkPolicy that denies all ingress and, for templates without network, allows egress only
  to the control plane's internal API (``executor_callback_url``; ``kube_callback_cidr``): the
  executor needs that one route, so "no network" on Kubernetes is "no network but the control
  plane", unlike Docker's ``none``. A cluster whose network plugin ignores NetworkPolicies
  (flannel alone) enforces none of this.

Differences from Docker, said where they matter: there is no per-Pod process limit in the Pod API
(``pids_limit`` is the kubelet's ``podPidsLimit``, node-wide); ``shareProcessNamespace`` puts the
pause process at PID 1, which reaps what user code leaves behind (Docker's ``Init``); the API
cannot inspect images (``inspect_image`` trusts ``kube_trusted_image_prefixes``); usage samples
come from the metrics API (metrics-server) when the cluster has one.

``put_archive``/``get_archive`` run ``tar`` in the container through the ``pods/exec``
subresource (a WebSocket). They were written against the client's documented stream API and have
NOT been run against a real cluster: the emulator has no exec.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import ipaddress
import posixpath
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream as k8s_stream
from kubernetes.utils import parse_quantity

from sandbox_control_plane.config.settings import Settings
from sandbox_control_plane.container_scheduler.base import (
    ContainerHandle,
    ContainerReason,
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
from sandbox_control_plane.container_scheduler.docker_runtime import (
    LABEL_MANAGED,
    LABEL_SESSION,
    LABEL_TENANT,
    NAME_PREFIX,
    SANDBOX_UID,
)
from sandbox_control_plane.domain import Network
from sandbox_executor import protocol

CONTAINER_NAME = "executor"
ANNOTATION_TENANT = "ai.oneclick.sandbox/tenant"
# The waiting reasons of a container whose image cannot be had: the kubelet retries them forever.
IMAGE_PULL_FAILURES = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"})
CREATE_FAILURES = frozenset({"CreateContainerConfigError", "CreateContainerError", "RunContainerError"})
# How long remove waits for a deleted Pod to be gone (the kubelet stops its container first).
REMOVE_WAIT_S = 30.0
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")

T = TypeVar("T")


def object_name(session_id: str) -> str:
    """The Pod's (and its Secret's, its NetworkPolicy's) name: session ids have ``_``, names may not."""
    return f"{NAME_PREFIX}-{session_id.replace('_', '-').lower()}"


def label_value(value: str) -> str:
    """A label value as Kubernetes allows it (63 characters of ``[A-Za-z0-9-_.]``); tenants that are
    not such a value are labelled by a stand-in and named in full in an annotation."""
    if _LABEL_VALUE.match(value):
        return value
    return "h-" + hashlib.sha256(value.encode()).hexdigest()[:32]


def labels_of(spec: ContainerSpec) -> dict[str, str]:
    return {
        LABEL_MANAGED: NAME_PREFIX,
        LABEL_SESSION: spec.session_id,
        LABEL_TENANT: label_value(spec.tenant_id),
    }


def executor_env(spec: ContainerSpec, settings: Settings) -> dict[str, str]:
    """The executor's environment: the same as the Docker runtime gives it."""
    env = dict(spec.env)
    env.update(
        {
            protocol.ENV_SESSION_ID: spec.session_id,
            protocol.ENV_HEARTBEAT_INTERVAL: str(settings.heartbeat_interval_s),
            protocol.ENV_MAX_OUTPUT: str(settings.max_output_bytes),
            protocol.ENV_FILE_SIZE_LIMIT: str(spec.resources.disk_mib * 1024 * 1024),
        }
    )
    if settings.executor_callback_url:
        env[protocol.ENV_CALLBACK_URL] = settings.executor_callback_url
    return env


def pod_manifest(spec: ContainerSpec, settings: Settings) -> dict[str, Any]:
    """The session's Pod: every security setting is here, none is optional."""
    name = object_name(spec.session_id)
    size = {
        "cpu": f"{spec.resources.cpu_millis}m",
        "memory": f"{spec.resources.memory_mib}Mi",
        "ephemeral-storage": f"{spec.resources.disk_mib}Mi",
    }
    security = {
        "runAsUser": SANDBOX_UID,
        "runAsGroup": SANDBOX_UID,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": settings.kube_namespace,
            "labels": labels_of(spec),
            "annotations": {ANNOTATION_TENANT: spec.tenant_id},
        },
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,  # no Service addresses of the namespace in the environment
            "shareProcessNamespace": True,  # the pause process is PID 1 and reaps orphans (Docker's Init)
            "hostNetwork": False,
            "hostPID": False,
            "hostIPC": False,
            "securityContext": {**security, "fsGroup": SANDBOX_UID},
            "containers": [
                {
                    "name": CONTAINER_NAME,
                    "image": spec.image,
                    "imagePullPolicy": "IfNotPresent",
                    "workingDir": protocol.WORKSPACE,
                    "env": [
                        {"name": key, "value": value} for key, value in sorted(executor_env(spec, settings).items())
                    ],
                    # Requests equal to limits: the Pod is Guaranteed and gets what the session asked.
                    "resources": {"requests": dict(size), "limits": dict(size)},
                    "securityContext": {
                        **security,
                        "privileged": False,
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    "volumeMounts": [
                        {"name": "workspace", "mountPath": protocol.WORKSPACE},
                        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - the container's own /tmp
                        {"name": "session", "mountPath": protocol.SESSION_DIR, "readOnly": True},
                    ],
                }
            ],
            "volumes": [
                {"name": "workspace", "emptyDir": {"sizeLimit": f"{spec.resources.disk_mib}Mi"}},
                # Memory-backed like Docker's tmpfs, and like it counted against the memory limit.
                {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": f"{settings.session_tmp_size_mib}Mi"}},
                {"name": "session", "secret": {"secretName": name, "defaultMode": 0o400}},
            ],
        },
    }


def secret_manifest(spec: ContainerSpec, settings: Settings) -> dict[str, Any]:
    """The executor's files (its session token) as a Secret the Pod mounts read-only."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": object_name(spec.session_id),
            "namespace": settings.kube_namespace,
            "labels": labels_of(spec),
        },
        "type": "Opaque",
        "immutable": True,
        "data": {key: base64.b64encode(value).decode("ascii") for key, value in sorted(spec.secret_files.items())},
    }


def callback_peer(settings: Settings) -> tuple[str, int, bool]:
    """The internal API as a NetworkPolicy sees it: (CIDR, TCP port, whether its host is a name)."""
    url = urlsplit(settings.executor_callback_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    host = url.hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return settings.kube_callback_cidr, port, True
    if settings.kube_callback_cidr:
        return settings.kube_callback_cidr, port, False
    return f"{address}/{address.max_prefixlen}", port, False


def network_policy_manifest(spec: ContainerSpec, settings: Settings) -> dict[str, Any]:
    """No ingress at all; egress to the control plane's internal API only, unless the template has
    network (then any egress). The executor needs that one route: it is how it gets work."""
    egress: list[dict[str, Any]]
    if spec.network is Network.NONE:
        cidr, port, named = callback_peer(settings)
        egress = [{"to": [{"ipBlock": {"cidr": cidr}}], "ports": [{"protocol": "TCP", "port": port}]}]
        if named:  # the callback host must resolve: DNS to the cluster's resolver
            egress.append(
                {
                    "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            )
    else:
        egress = [{}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": object_name(spec.session_id),
            "namespace": settings.kube_namespace,
            "labels": labels_of(spec),
        },
        "spec": {
            "podSelector": {"matchLabels": {LABEL_MANAGED: NAME_PREFIX, LABEL_SESSION: spec.session_id}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [],
            "egress": egress,
        },
    }


def status_from_pod(pod: dict[str, Any] | None) -> ContainerStatus:
    """A Pod (as the API returns it, ``None`` when it is gone) as the runtime interface's status."""
    if pod is None:
        return ContainerStatus(exists=False, running=False)
    status = pod.get("status") or {}
    phase = status.get("phase") or "Pending"
    containers = status.get("containerStatuses") or []
    state = (containers[0].get("state") or {}) if containers else {}
    terminated = state.get("terminated")
    waiting = state.get("waiting") or {}
    exit_code = terminated.get("exitCode") if terminated else None
    if terminated and terminated.get("reason") == "OOMKilled":
        return ContainerStatus(True, False, exit_code, oom_killed=True, reason=ContainerReason.OOM_KILLED)
    if (
        phase == "Running"
        and state.get("running") is not None
        and not (pod.get("metadata") or {}).get("deletionTimestamp")
    ):
        return ContainerStatus(exists=True, running=True)
    if phase == "Pending" or (phase == "Running" and not terminated):
        if waiting.get("reason") in IMAGE_PULL_FAILURES:
            return ContainerStatus(True, False, reason=ContainerReason.IMAGE_PULL_FAILED)
        if waiting.get("reason") in CREATE_FAILURES:
            return ContainerStatus(True, False, reason=ContainerReason.CREATE_FAILED)
        return ContainerStatus(True, False, reason=ContainerReason.STARTING)
    if status.get("reason") == "Evicted":
        return ContainerStatus(True, False, exit_code, reason=ContainerReason.EVICTED)
    if phase in ("Succeeded", "Failed") or terminated:
        return ContainerStatus(True, False, exit_code, reason=ContainerReason.EXITED)
    return ContainerStatus(True, False, reason=ContainerReason.UNKNOWN)


def quantity(text: str) -> Decimal:
    """``"250m"`` -> 0.25, ``"64Mi"`` -> 67108864 (the client's parser, which has no annotations)."""
    value: Decimal = parse_quantity(text)
    return value


def stats_from_metrics(metrics: dict[str, Any], memory_limit_bytes: int) -> ContainerStats:
    """A ``metrics.k8s.io`` PodMetrics as a sample: CPU cores as a percentage of one core."""
    cpu = Decimal(0)
    memory = Decimal(0)
    for container in metrics.get("containers") or []:
        usage = container.get("usage") or {}
        cpu += quantity(usage.get("cpu", "0"))
        memory += quantity(usage.get("memory", "0"))
    return ContainerStats(
        cpu_percent=round(float(cpu) * 100.0, 2), memory_bytes=int(memory), memory_limit_bytes=memory_limit_bytes
    )


def load_configuration(settings: Settings) -> k8s.Configuration:
    """The cluster to talk to: ``kube_config_file`` if set, else in-cluster, else ``KUBECONFIG``."""
    configuration = k8s.Configuration()
    context = settings.kube_context or None
    try:
        if settings.kube_config_file:
            k8s_config.load_kube_config(settings.kube_config_file, context, client_configuration=configuration)
        else:
            try:
                k8s_config.load_incluster_config(client_configuration=configuration)
            except k8s_config.ConfigException:
                k8s_config.load_kube_config(context=context, client_configuration=configuration)
    except (k8s_config.ConfigException, OSError) as error:
        raise RuntimeError_(f"no Kubernetes configuration: {error}") from error
    return configuration


class KubernetesRuntime(ContainerRuntime):
    name = "kubernetes"

    def __init__(
        self, settings: Settings, configuration: k8s.Configuration | None = None, node: str = "kubernetes"
    ) -> None:
        self._settings = settings
        self._namespace = settings.kube_namespace
        self._node = node
        configuration = configuration or load_configuration(settings)
        configuration.connection_pool_maxsize = settings.kube_client_threads
        self._api = k8s.ApiClient(configuration)
        self._threads = ThreadPoolExecutor(settings.kube_client_threads, thread_name_prefix="kube")
        self._core = k8s.CoreV1Api(self._api)
        self._networking = k8s.NetworkingV1Api(self._api)
        self._custom = k8s.CustomObjectsApi(self._api)
        self._version = k8s.VersionApi(self._api)
        self._timeout = settings.kube_request_timeout_s

    async def _in_thread(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, functools.partial(function, *args, **kwargs))

    async def _call(self, what: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One API call in a thread; errors other than the API's own become ``RuntimeError_``."""
        kwargs.setdefault("_request_timeout", self._timeout)
        try:
            return await self._in_thread(function, *args, **kwargs)
        except ApiException:
            raise
        except Exception as error:  # urllib3's connection and protocol errors have no common base
            raise RuntimeError_(f"kubernetes call failed ({what}): {type(error).__name__}") from error

    @staticmethod
    def _refused(what: str, error: ApiException) -> RuntimeError_:
        return RuntimeError_(f"kubernetes refused to {what}: {error.status} {error.reason}")

    def _wire(self, model: Any) -> dict[str, Any]:
        """A model of the client as the API's JSON (camelCase keys, no nulls)."""
        raw: dict[str, Any] = self._api.sanitize_for_serialization(model)
        return raw

    async def _read_pod(self, name: str) -> dict[str, Any] | None:
        try:
            pod = await self._call("read pod", self._core.read_namespaced_pod, name, self._namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise self._refused("read the session's Pod", error) from error
        return self._wire(pod)

    async def create(self, spec: ContainerSpec) -> ContainerHandle:
        name = object_name(spec.session_id)
        # The manifests go as they are: the client serialises a dict body unchanged.
        secret = secret_manifest(spec, self._settings)
        policy = network_policy_manifest(spec, self._settings)
        pod = pod_manifest(spec, self._settings)
        created: list[tuple[str, Callable[..., Any]]] = []
        steps: list[tuple[str, Callable[..., Any], Any, Callable[..., Any]]] = [
            ("create secret", self._core.create_namespaced_secret, secret, self._core.delete_namespaced_secret),
            # The policy before the Pod: the Pod never runs a moment without it.
            (
                "create network policy",
                self._networking.create_namespaced_network_policy,
                policy,
                self._networking.delete_namespaced_network_policy,
            ),
            ("create pod", self._core.create_namespaced_pod, pod, self._core.delete_namespaced_pod),
        ]
        try:
            for what, create, body, delete in steps:
                await self._call(what, create, self._namespace, body)
                created.append((what.replace("create", "delete"), delete))
        except (ApiException, RuntimeError_) as error:
            # Undo only what this call made: a 409 means the objects are another call's.
            for what, delete in reversed(created):
                with contextlib.suppress(ApiException, RuntimeError_):
                    await self._call(what, delete, name, self._namespace, grace_period_seconds=0)
            if isinstance(error, ApiException):
                raise self._refused("start the session's Pod", error) from error
            raise
        return ContainerHandle(name, self._node)

    async def status(self, handle: ContainerHandle) -> ContainerStatus:
        return status_from_pod(await self._read_pod(handle.container_id))

    async def _remove_objects(self, name: str) -> None:
        deletions: list[tuple[str, Callable[..., Any]]] = [
            # The Pod first: its policy holds until the Pod is gone.
            ("delete pod", self._core.delete_namespaced_pod),
            ("delete secret", self._core.delete_namespaced_secret),
            ("delete network policy", self._networking.delete_namespaced_network_policy),
        ]
        for what, delete in deletions:
            try:
                await self._call(what, delete, name, self._namespace, grace_period_seconds=0)
            except ApiException as error:
                if error.status != 404:  # already gone: what remove wants
                    raise self._refused(what, error) from error

    async def remove(self, session_id: str, handle: ContainerHandle | None) -> None:
        """Delete the Pod (no grace: the session is over), its Secret and its policy, then wait a
        while for the Pod to be gone, as Docker's remove returns once the container is."""
        name = handle.container_id if handle else object_name(session_id)
        await self._remove_objects(name)
        deadline = asyncio.get_running_loop().time() + REMOVE_WAIT_S
        while await self._read_pod(name) is not None:
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError_(f"the session's Pod is still terminating after {REMOVE_WAIT_S:g} s")
            await asyncio.sleep(0.25)

    async def inspect_image(self, image: str) -> ImageInfo:
        """The API cannot look into images: those under a trusted prefix are taken as carrying the
        executor and a non-root user (the Pod enforces user 1000 in any case); others are refused."""
        if any(image.startswith(prefix) for prefix in self._settings.kube_trusted_image_prefixes):
            return ImageInfo(exists=True, user=f"{SANDBOX_UID}:{SANDBOX_UID}", labels={protocol.EXECUTOR_LABEL: "1"})
        return ImageInfo(exists=False)

    async def stats(self, handle: ContainerHandle) -> ContainerStats | None:
        """From the metrics API (metrics-server); ``None`` when the cluster has none, the Pod is gone
        or not running, or no sample is there yet."""
        pod = await self._read_pod(handle.container_id)
        if not status_from_pod(pod).running or pod is None:
            return None
        try:
            metrics = await self._call(
                "read pod metrics",
                self._custom.get_namespaced_custom_object,
                "metrics.k8s.io",
                "v1beta1",
                self._namespace,
                "pods",
                handle.container_id,
            )
        except ApiException as error:
            if error.status in (404, 503):  # no metrics API, or no sample of this Pod yet
                return None
            raise self._refused("read the Pod's metrics", error) from error
        limits = ((pod["spec"]["containers"][0].get("resources") or {}).get("limits")) or {}
        limit = int(quantity(limits["memory"])) if "memory" in limits else 0
        return stats_from_metrics(metrics if isinstance(metrics, dict) else {}, limit)

    async def list_managed(self) -> list[ManagedContainer]:
        selector = f"{LABEL_MANAGED}={NAME_PREFIX}"
        try:
            pods = await self._call(
                "list pods", self._core.list_namespaced_pod, self._namespace, label_selector=selector
            )
        except ApiException as error:
            raise self._refused("list the session Pods", error) from error
        found: list[ManagedContainer] = []
        for item in self._wire(pods).get("items") or []:
            metadata = item.get("metadata") or {}
            labels = metadata.get("labels") or {}
            # Checked here too: not every API server (the test emulator) applies the selector.
            session_id = labels.get(LABEL_SESSION)
            if labels.get(LABEL_MANAGED) != NAME_PREFIX or not session_id:
                continue
            handle = ContainerHandle(metadata["name"], self._node)
            found.append(ManagedContainer(session_id, handle, status_from_pod(item).running))
        return found

    def _exec(self, name: str, command: list[str], stdin: bool) -> Any:
        return k8s_stream(
            self._core.connect_get_namespaced_pod_exec,
            name,
            self._namespace,
            container=CONTAINER_NAME,
            command=command,
            stdin=stdin,
            stdout=True,
            stderr=True,
            tty=False,
            binary=True,
            _preload_content=False,
        )

    @staticmethod
    def _finish(connection: Any, what: str) -> None:
        connection.run_forever(timeout=60)
        code = connection.returncode
        errors = connection.read_stderr(timeout=0) or b""
        connection.close()
        if code != 0:
            detail = errors.decode(errors="replace").strip()[-300:]
            if "No such file or directory" in detail:
                raise PathNotFoundError(f"{what}: the path is not in the workspace")
            raise RuntimeError_(f"{what} failed in the Pod (exit {code}): {detail}")

    async def put_archive(self, handle: ContainerHandle, path: str, tar: AsyncIterator[bytes]) -> None:
        """``tar -x`` in the container as the sandbox user, fed through the exec stream's stdin.
        Not run against a real cluster (see the module's docstring)."""
        target = workspace_path(path)
        try:
            connection = await self._in_thread(
                self._exec, handle.container_id, ["tar", "-x", "-f", "-", "-C", target], True
            )
            async for chunk in tar:
                await self._in_thread(connection.write_stdin, chunk)
            # The v5 protocol closes stdin; on v4 tar ends at the archive's end-of-archive blocks.
            await self._in_thread(connection.close_channel, 0)
            await self._in_thread(self._finish, connection, "unpacking the upload")
        except ApiException as error:
            raise self._refused("exec in the session's Pod", error) from error
        except (OSError, ValueError) as error:
            raise RuntimeError_(f"the exec stream broke: {type(error).__name__}") from error

    async def get_archive(self, handle: ContainerHandle, path: str) -> AsyncGenerator[bytes, None]:
        """``tar -c`` in the container, its stdout streamed. Not run against a real cluster."""
        target = workspace_path(path)
        parent, base = posixpath.split(target)
        command = ["tar", "-c", "-f", "-", "-C", parent or "/", base or "."]
        try:
            connection = await self._in_thread(self._exec, handle.container_id, command, False)
            while True:
                chunk = await self._in_thread(self._next_chunk, connection)
                if chunk is None:
                    break
                if chunk:
                    yield chunk
            await self._in_thread(self._finish, connection, "packing the download")
        except ApiException as error:
            raise self._refused("exec in the session's Pod", error) from error
        except (OSError, ValueError) as error:
            raise RuntimeError_(f"the exec stream broke: {type(error).__name__}") from error

    @staticmethod
    def _next_chunk(connection: Any) -> bytes | None:
        """What stdout has now (b"" while it has nothing); None once the stream has ended."""
        if not connection.is_open():
            rest: bytes = connection.read_stdout(timeout=0) or b""
            return rest or None
        connection.update(timeout=1)
        data: bytes = connection.read_stdout(timeout=0) or b""
        return data

    async def ping(self) -> bool:
        try:
            await self._call("version", self._version.get_code)
        except (ApiException, RuntimeError_):
            return False
        return True

    async def close(self) -> None:
        await self._in_thread(self._api.close)
        self._threads.shutdown(wait=False)
