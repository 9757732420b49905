"""What the services work with: states, resources and the records repositories return.

Plain dataclasses, so that nothing above the database layer holds an ORM object and nothing below
the routers holds a request model.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from sandbox_executor.protocol import ExecutionStatus, Language, Reason

__all__ = [
    "LIMITS",
    "ExecutionRecord",
    "ExecutionStatus",
    "Language",
    "Network",
    "Page",
    "PoolCounts",
    "PoolRecord",
    "Reason",
    "Resources",
    "SessionRecord",
    "SessionState",
    "TemplateRecord",
    "format_quantity",
    "parse_quantity",
]


class SessionState(enum.StrEnum):
    # ``warm``: a pool's container, started and ready, that no create has claimed yet. No tenant
    # sees it; a claim turns it into ``ready``.
    WARM = "warm"
    CREATING = "creating"
    READY = "ready"
    RUNNING = "running"
    TERMINATING = "terminating"
    TERMINATED = "terminated"
    FAILED = "failed"


class Network(enum.StrEnum):
    """``none``: loopback only (the default). ``bridge``: the engine's default bridge, outbound allowed."""

    NONE = "none"
    BRIDGE = "bridge"


@dataclass(frozen=True)
class Range:
    low: int
    high: int
    unit: str

    def describe(self) -> str:
        if self.unit == "millicores":
            return f"{self.low / 1000:g} to {self.high / 1000:g} cores"
        if self.unit == "MiB":
            return f"{format_quantity(self.low)} to {format_quantity(self.high)}"
        return f"{self.low} to {self.high} {self.unit}"

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int) and self.low <= value <= self.high


@dataclass(frozen=True)
class Limits:
    """The specification's limits for one session (and for one execution's timeout)."""

    cpu: Range = Range(500, 4000, "millicores")
    memory: Range = Range(256, 8 * 1024, "MiB")
    disk: Range = Range(1024, 50 * 1024, "MiB")
    session_timeout: Range = Range(60, 3600, "seconds")
    execution_timeout: Range = Range(1, 3600, "seconds")


LIMITS = Limits()

_QUANTITY = re.compile(r"^([1-9][0-9]{0,6})(Mi|Gi)$")


def parse_quantity(text: str) -> int | None:
    """``"512Mi"`` -> 512, ``"2Gi"`` -> 2048 (MiB); None when it is not such a quantity."""
    match = _QUANTITY.match(text)
    if match is None:
        return None
    number = int(match.group(1))
    return number * 1024 if match.group(2) == "Gi" else number


def format_quantity(mib: int) -> str:
    return f"{mib // 1024}Gi" if mib % 1024 == 0 else f"{mib}Mi"


@dataclass(frozen=True)
class Resources:
    cpu_millis: int
    memory_mib: int
    disk_mib: int

    def exceeds(self, ceiling: Resources) -> list[str]:
        """Names of the resources above ``ceiling``."""
        return [
            name
            for name, mine, theirs in (
                ("cpu", self.cpu_millis, ceiling.cpu_millis),
                ("memory", self.memory_mib, ceiling.memory_mib),
                ("disk", self.disk_mib, ceiling.disk_mib),
            )
            if mine > theirs
        ]


@dataclass(frozen=True)
class TemplateRecord:
    id: str
    tenant_id: str
    name: str
    description: str
    image: str
    languages: list[Language]
    default_resources: Resources
    max_resources: Resources
    default_timeout_s: int
    network: Network
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class SessionRecord:
    id: str
    tenant_id: str
    template_id: str
    state: SessionState
    state_reason: Reason | None
    image: str
    languages: list[Language]
    network: Network
    resources: Resources
    timeout_s: int
    env: dict[str, str] = field(repr=False)
    container_id: str | None
    node: str | None
    created_at: datetime
    updated_at: datetime
    ready_at: datetime | None
    expires_at: datetime
    terminated_at: datetime | None
    pool_id: str | None = None
    workspace_id: str | None = None
    idle_timeout_s: int | None = None
    last_activity_at: datetime | None = None
    executor_seen_at: datetime | None = None
    cpu_percent: float | None = None
    memory_bytes: int | None = None
    stats_at: datetime | None = None


@dataclass(frozen=True)
class PoolRecord:
    """A warm pool: ``min_size`` to ``max_size`` started containers for one template and shape."""

    id: str
    tenant_id: str
    template_id: str
    resources: Resources
    min_size: int
    max_size: int
    misses: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PoolCounts:
    warm: int
    starting: int


@dataclass(frozen=True)
class ExecutionRecord:
    id: str
    session_id: str
    tenant_id: str
    language: Language
    code: str = field(repr=False)
    timeout_s: int
    status: ExecutionStatus
    reason: Reason | None
    exit_code: int | None
    stdout: str = field(repr=False)
    stderr: str = field(repr=False)
    stdout_truncated: bool
    stderr_truncated: bool
    duration_ms: int | None
    request_id: str | None
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None
