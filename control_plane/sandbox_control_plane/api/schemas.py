"""Request and response bodies of the public API (Pydantic). Routers translate them to and from
the services' records; nothing below the routers sees these classes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from sandbox_control_plane.domain import (
    ExecutionRecord,
    ExecutionStatus,
    Language,
    Network,
    PoolCounts,
    PoolRecord,
    Reason,
    Resources,
    SessionRecord,
    SessionState,
    TemplateRecord,
    format_quantity,
)
from sandbox_control_plane.utils.ids import ID_PATTERN
from sandbox_control_plane.workspace_store.s3 import WORKSPACE_NAME

QUANTITY = r"^[1-9][0-9]{0,6}(Mi|Gi)$"

Cpu = Annotated[float, Field(ge=0.5, le=4, description="CPU cores, 0.5 to 4 (kept to thousandths).", examples=[1])]
Memory = Annotated[str, Field(pattern=QUANTITY, description="Memory, 256Mi to 8Gi.", examples=["512Mi"], max_length=9)]
Disk = Annotated[
    str, Field(pattern=QUANTITY, description="Workspace disk, 1Gi to 50Gi.", examples=["1Gi"], max_length=9)
]
ResourceId = Annotated[str, Field(pattern=ID_PATTERN, max_length=32, examples=["ses_01jd0000000000000000000000"])]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorResponse(BaseModel):
    error_code: str = Field(description="Stable machine-readable code of the failure class.")
    description: str = Field(description="What went wrong, for people.")
    error_detail: dict[str, Any] = Field(description="What was wrong, as data (fields, values, states).")
    solution: str = Field(description="What to do about it.")
    request_id: str = Field(description="The request's id, also in the X-Request-ID header and the logs.")


class ResourcesBody(Strict):
    cpu: Cpu
    memory: Memory
    disk: Disk

    def to_domain(self) -> Resources:
        from sandbox_control_plane.domain import parse_quantity

        return Resources(round(self.cpu * 1000), parse_quantity(self.memory) or 0, parse_quantity(self.disk) or 0)

    @classmethod
    def of(cls, resources: Resources) -> ResourcesBody:
        return cls(
            cpu=resources.cpu_millis / 1000,
            memory=format_quantity(resources.memory_mib),
            disk=format_quantity(resources.disk_mib),
        )


class ResourcesOverride(Strict):
    cpu: Cpu | None = None
    memory: Memory | None = None
    disk: Disk | None = None


# --- templates ------------------------------------------------------------------------------------
class TemplateBody(Strict):
    name: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", description="Unique per tenant.")
    description: str = Field("", max_length=1024)
    image: str = Field(
        min_length=1,
        max_length=255,
        pattern=r"^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$",
        description="Image on the runtime's engine; its user must not be root and it must carry the executor.",
    )
    languages: list[Language] = Field(min_length=1, max_length=len(Language), description="Languages offered.")
    default_resources: ResourcesBody
    max_resources: ResourcesBody
    default_timeout: int = Field(300, ge=60, le=3600, description="Session timeout in seconds when none is asked.")
    network: Network = Field(Network.NONE, description="'none' (default): loopback only. 'bridge': outbound allowed.")
    privileged: bool = Field(False, description="Refused when true: sessions never run privileged.")
    cap_add: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list,
        max_length=64,
        description="Refused when not empty: every capability is dropped.",
    )


class TemplateOut(BaseModel):
    id: str
    name: str
    description: str
    image: str
    languages: list[Language]
    default_resources: ResourcesBody
    max_resources: ResourcesBody
    default_timeout: int
    network: Network
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, record: TemplateRecord) -> TemplateOut:
        return cls(
            id=record.id,
            name=record.name,
            description=record.description,
            image=record.image,
            languages=record.languages,
            default_resources=ResourcesBody.of(record.default_resources),
            max_resources=ResourcesBody.of(record.max_resources),
            default_timeout=record.default_timeout_s,
            network=record.network,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )


class TemplateList(BaseModel):
    items: list[TemplateOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


# --- sessions -------------------------------------------------------------------------------------
class SessionBody(Strict):
    template_id: ResourceId
    resources: ResourcesOverride | None = Field(None, description="Each omitted value is the template's default.")
    timeout: int | None = Field(None, ge=60, le=3600, description="Seconds until the session ends by itself.")
    env: dict[Annotated[str, Field(max_length=128)], Annotated[str, Field(max_length=4096)]] = Field(
        default_factory=dict,
        max_length=64,
        description="Environment variables of the session (names not SBX_*).",
    )
    idle_timeout: int | None = Field(
        None,
        ge=60,
        le=86400,
        description="Seconds without code running after which the session ends "
        "(default: SBX_CP_DEFAULT_IDLE_TIMEOUT_S; 0 there means none).",
    )
    workspace: str | None = Field(
        None,
        pattern=WORKSPACE_NAME,
        max_length=63,
        description="A saved workspace of this tenant: restored into /workspace before the session is answered, "
        "saved back to the bucket when it ends (created on first use). One live session holds it at a time.",
        examples=["my-project"],
    )


class SessionOut(BaseModel):
    id: str
    template_id: str
    state: SessionState
    state_reason: Reason | None
    resources: ResourcesBody
    timeout: int
    network: Network
    languages: list[Language]
    env_keys: list[str] = Field(description="Names of the session's variables; values are never returned.")
    created_at: datetime
    updated_at: datetime
    ready_at: datetime | None
    expires_at: datetime
    terminated_at: datetime | None
    idle_timeout: int | None = Field(description="The idle limit in seconds; null: none.")
    pool_id: str | None = Field(description="The warm pool whose container this session took; null: a cold start.")
    workspace: str | None = Field(description="The saved workspace this session holds; null: none.")

    @classmethod
    def of(cls, record: SessionRecord) -> SessionOut:
        return cls(
            id=record.id,
            template_id=record.template_id,
            state=record.state,
            state_reason=record.state_reason,
            resources=ResourcesBody.of(record.resources),
            timeout=record.timeout_s,
            network=record.network,
            languages=record.languages,
            env_keys=sorted(record.env),
            created_at=record.created_at,
            updated_at=record.updated_at,
            ready_at=record.ready_at,
            expires_at=record.expires_at,
            terminated_at=record.terminated_at,
            idle_timeout=record.idle_timeout_s,
            pool_id=record.pool_id,
            workspace=record.workspace_id,
        )


class SessionList(BaseModel):
    items: list[SessionOut]
    next_cursor: str | None


# --- warm pools -----------------------------------------------------------------------------------
PoolSize = Annotated[int, Field(ge=0, le=1000, description="Containers; the ceiling is SBX_CP_POOL_MAX_SIZE.")]


class PoolBody(Strict):
    template_id: ResourceId
    resources: ResourcesOverride | None = Field(
        None, description="The shape a create must ask for to be served from the pool; omitted: the defaults."
    )
    min_size: PoolSize = 1
    max_size: PoolSize = 4


class PoolResize(Strict):
    min_size: PoolSize
    max_size: PoolSize


class PoolOut(BaseModel):
    id: str
    template_id: str
    resources: ResourcesBody
    min_size: int
    max_size: int
    target_size: int = Field(description="What the keeper fills to now: min_size plus recent misses, up to max_size.")
    warm: int = Field(description="Started containers waiting for a create.")
    starting: int = Field(description="Containers being started for the pool.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, record: PoolRecord, counts: PoolCounts) -> PoolOut:
        return cls(
            id=record.id,
            template_id=record.template_id,
            resources=ResourcesBody.of(record.resources),
            min_size=record.min_size,
            max_size=record.max_size,
            target_size=min(record.max_size, record.min_size + record.misses),
            warm=counts.warm,
            starting=counts.starting,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )


class PoolList(BaseModel):
    items: list[PoolOut]
    next_cursor: str | None


# --- containers -----------------------------------------------------------------------------------
class ContainerOut(BaseModel):
    session_id: str
    session_state: SessionState
    node: str | None
    container_id: str | None = Field(description="The runtime's id (Docker container, Kubernetes Pod uid).")
    cpu_percent: float | None = Field(description="CPU use at the last sample, percent of one core.")
    memory_bytes: int | None = Field(description="Memory in use at the last sample (page cache not counted).")
    memory_limit_bytes: int
    sampled_at: datetime | None = Field(
        description="When the usage was last sampled; null: not yet. With null figures: the runtime had "
        "none then (a cluster without metrics-server, a Pod not sampled yet)."
    )
    executor_seen_at: datetime | None = Field(description="The executor's last call to the control plane.")

    @classmethod
    def of(cls, record: SessionRecord) -> ContainerOut:
        return cls(
            session_id=record.id,
            session_state=record.state,
            node=record.node,
            container_id=record.container_id,
            cpu_percent=record.cpu_percent,
            memory_bytes=record.memory_bytes,
            memory_limit_bytes=record.resources.memory_mib * 1024 * 1024,
            sampled_at=record.stats_at,
            executor_seen_at=record.executor_seen_at,
        )


class ContainerList(BaseModel):
    items: list[ContainerOut]
    next_cursor: str | None


# --- executions -----------------------------------------------------------------------------------
class ExecutionBody(Strict):
    code: str = Field(min_length=1, description="Source to run; at most SBX_CP_MAX_CODE_BYTES bytes (256 KiB).")
    language: Language = Language.PYTHON
    timeout: int = Field(30, ge=1, le=3600, description="Seconds before the code is killed.")


class ExecutionOut(BaseModel):
    id: str
    session_id: str
    language: Language
    timeout: int
    status: ExecutionStatus
    reason: Reason | None = Field(description="Why it ended other than by itself (timeout, oom_killed, ...).")
    exit_code: int | None
    stdout: str
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool
    duration_ms: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, record: ExecutionRecord) -> ExecutionOut:
        return cls(
            id=record.id,
            session_id=record.session_id,
            language=record.language,
            timeout=record.timeout_s,
            status=record.status,
            reason=record.reason,
            exit_code=record.exit_code,
            stdout=record.stdout,
            stderr=record.stderr,
            stdout_truncated=record.stdout_truncated,
            stderr_truncated=record.stderr_truncated,
            duration_ms=record.duration_ms,
            created_at=record.created_at,
            started_at=record.started_at,
            finished_at=record.finished_at,
        )


class ExecutionList(BaseModel):
    items: list[ExecutionOut]
    next_cursor: str | None


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    database: bool
    runtime: bool


class FileOut(BaseModel):
    path: str = Field(description="The file's path relative to /workspace.")
    size_bytes: int


class WorkspaceOut(BaseModel):
    name: str
    size_bytes: int = Field(description="Size of the saved archive.")
    saved_at: datetime
    session_id: str | None = Field(description="The live session holding it now; null: none.")


class WorkspaceList(BaseModel):
    items: list[WorkspaceOut]
