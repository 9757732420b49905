"""The runtime interface: what the services need from Docker, Kubernetes or anything else.

A runtime turns a ``ContainerSpec`` into one running container (a Pod in Kubernetes) on some node,
and answers for it by its ``ContainerHandle``. The security settings are not options of the spec:
every runtime applies all of them (user 1000:1000, no capabilities, no new privileges, read-only
root, a writable workspace, limits), so no caller can forget one.
"""

from __future__ import annotations

import abc
import enum
import posixpath
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field

from sandbox_control_plane.domain import Network, Resources
from sandbox_executor import protocol

SANDBOX_USER = "1000:1000"


@dataclass(frozen=True)
class ContainerSpec:
    session_id: str
    tenant_id: str
    image: str
    resources: Resources
    network: Network
    pids_limit: int
    env: dict[str, str] = field(repr=False)
    # Files the executor reads at start (its session token): a runtime delivers them read-only,
    # never through the environment or a command line.
    secret_files: dict[str, bytes] = field(repr=False)


@dataclass(frozen=True)
class ContainerHandle:
    container_id: str
    node: str


class ContainerReason(enum.StrEnum):
    """Why a container is not running, where the runtime can tell (``ContainerStatus.reason``).

    The closed list every runtime reports from; the session monitor maps it onto a session's
    failure reason. Docker leaves ``reason`` at ``None`` (its ``oom_killed`` and ``exit_code`` say it).
    """

    STARTING = "starting"  # accepted, not yet running (a Pod being scheduled, its image pulled)
    IMAGE_PULL_FAILED = "image_pull_failed"  # the image cannot be pulled or its name is invalid
    CREATE_FAILED = "create_failed"  # the runtime cannot make the container (bad config, missing secret)
    OOM_KILLED = "oom_killed"
    EXITED = "exited"  # the container ended by itself (see exit_code)
    EVICTED = "evicted"  # the node took the Pod away (disk or memory pressure)
    UNKNOWN = "unknown"  # the runtime has lost track of it (a Pod in phase Unknown)


@dataclass(frozen=True)
class ContainerStatus:
    exists: bool
    running: bool
    exit_code: int | None = None
    oom_killed: bool = False
    # A ``ContainerReason`` value where the runtime tells one; None where it does not.
    reason: str | None = None


@dataclass(frozen=True)
class ImageInfo:
    exists: bool
    user: str = ""
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ContainerStats:
    """One sample of a container's use: CPU as a percentage of one core, memory in bytes."""

    cpu_percent: float
    memory_bytes: int
    memory_limit_bytes: int


@dataclass(frozen=True)
class ManagedContainer:
    """A container this control plane made (by label), found by listing the runtime, not the database."""

    session_id: str
    handle: ContainerHandle
    running: bool


class RuntimeError_(Exception):
    """The runtime could not do what was asked; the message says what, never a secret."""


class PathNotFoundError(RuntimeError_):
    """``get_archive`` was asked for a path the workspace does not have."""


def workspace_path(path: str) -> str:
    """``path`` under the workspace, normalised; ``RuntimeError_`` when it would leave it."""
    joined = posixpath.normpath(posixpath.join(protocol.WORKSPACE, path.lstrip("/")))
    if joined != protocol.WORKSPACE and not joined.startswith(protocol.WORKSPACE + "/"):
        raise RuntimeError_("the path is outside the workspace")
    return joined


class ContainerRuntime(abc.ABC):
    """One implementation per engine; all methods are safe to call from any instance at any time."""

    name: str

    @abc.abstractmethod
    async def create(self, spec: ContainerSpec) -> ContainerHandle:
        """Create and start the session's container; raise ``RuntimeError_`` if it cannot."""

    @abc.abstractmethod
    async def status(self, handle: ContainerHandle) -> ContainerStatus:
        """What the container is now. OOM is told by the kernel's count, not the engine's flag."""

    @abc.abstractmethod
    async def remove(self, session_id: str, handle: ContainerHandle | None) -> None:
        """Remove the session's container and workspace; succeed if they are already gone."""

    @abc.abstractmethod
    async def inspect_image(self, image: str) -> ImageInfo:
        """The image's configured user and labels, for template validation."""

    @abc.abstractmethod
    async def stats(self, handle: ContainerHandle) -> ContainerStats | None:
        """One usage sample; ``None`` when the container is gone or not running."""

    @abc.abstractmethod
    async def list_managed(self) -> list[ManagedContainer]:
        """Every container of ours the runtime holds (for removing those no session owns)."""

    @abc.abstractmethod
    async def put_archive(self, handle: ContainerHandle, path: str, tar: AsyncIterator[bytes]) -> None:
        """Unpack a tar stream under ``path``, an existing folder inside the workspace; owners are the
        archive's (callers name the sandbox user)."""

    @abc.abstractmethod
    def get_archive(self, handle: ContainerHandle, path: str) -> AsyncGenerator[bytes, None]:
        """A tar stream of ``path`` (inside the workspace), its entries named from the path's last part
        (``docker cp``'s layout); ``PathNotFoundError`` if it is not there."""

    @abc.abstractmethod
    async def ping(self) -> bool:
        """Whether the runtime answers (``/ready``)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections."""
