"""Every setting of the control plane, read once from the environment (prefix ``SBX_CP_``).

Each field documents its default; ``control_plane/README.md`` lists the same table and a unit test
keeps the two in step.
"""

from __future__ import annotations

import hashlib
import ipaddress
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """The control plane's configuration. Secrets are ``SecretStr``: they never print or log."""

    model_config = SettingsConfigDict(env_prefix="SBX_CP_", extra="ignore", frozen=True)

    # --- serving -------------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address the public API listens on.")
    port: int = Field(8080, ge=0, le=65535, description="Port of the public API (0: any free port).")
    instance_id: str = Field(
        "",
        pattern=r"^[A-Za-z0-9_.-]{0,64}$",
        description="Name of this instance in logs and its socket file; empty: host name and process id.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Lowest level logged.")

    # --- state ---------------------------------------------------------------------------------
    database_url: SecretStr = Field(
        SecretStr("mariadb+asyncmy://app@127.0.0.1:3306/sandbox"),
        description="SQLAlchemy URL of the MariaDB 11 database (async driver), password included.",
    )
    database_pool_size: int = Field(10, ge=1, le=200, description="Connections kept open per instance.")
    database_max_overflow: int = Field(20, ge=0, le=500, description="Extra connections allowed under load.")

    # --- security ------------------------------------------------------------------------------
    api_tokens: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='Tenants and their Bearer tokens, as JSON: {"tenant-a": "token", ...}. Empty: no access.',
    )
    internal_api_token: SecretStr = Field(
        SecretStr(""),
        description="Secret of the internal API. Executors get a per-session token derived from it, never it.",
    )

    # --- runtime -------------------------------------------------------------------------------
    runtime: Literal["docker", "kubernetes"] = Field(
        "docker", description="Container runtime behind the runtime interface: `docker` or `kubernetes`."
    )
    docker_url: str = Field("unix:///var/run/docker.sock", description="Docker engine API endpoint (aiodocker's url).")
    runtime_dir: Path = Field(
        Path("/run/sbx-cp"),
        description="Host folder shared by all instances: the internal API sockets and per-session files.",
    )
    docker_cgroup_memory_root: Path = Field(
        Path("/sys/fs/cgroup/memory/docker"),
        description="Where the engine's memory cgroups are (cgroup v1, cgroupfs): read to tell an OOM kill.",
    )
    docker_cgroup_cpuacct_root: Path = Field(
        Path("/sys/fs/cgroup/cpuacct/docker"),
        description="Where the engine's CPU accounting cgroups are (cgroup v1): read for usage when the "
        "engine takes no samples itself.",
    )
    session_pids_limit: int = Field(128, ge=16, le=4096, description="Processes a session container may have.")
    session_tmp_size_mib: int = Field(64, ge=1, le=1024, description="Size of a session's /tmp (tmpfs).")
    executor_callback_url: str = Field(
        "",
        description="URL executors use for the internal API when they cannot reach the socket folder; "
        "empty: the sockets only.",
    )

    # --- kubernetes (used when runtime is `kubernetes`) -------------------------------------------
    kube_namespace: str = Field(
        "sandbox",
        pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
        description="Namespace of the session Pods, their Secrets and NetworkPolicies.",
    )
    kube_config_file: str = Field(
        "",
        description="kubeconfig file to use; empty: the in-cluster service account, else `KUBECONFIG` "
        "or `~/.kube/config`.",
    )
    kube_context: str = Field("", description="Context of the kubeconfig file; empty: its current context.")
    kube_callback_cidr: str = Field(
        "",
        description="Where session Pods may connect (the control plane's internal API, as a CIDR); empty: "
        "the host of the callback URL, which must then be an IP address.",
    )
    kube_trusted_image_prefixes: list[str] = Field(
        default_factory=list,
        description="Image references (prefixes) known to carry the executor and a non-root user; the "
        "Kubernetes API cannot inspect images, so templates may only name these.",
    )
    kube_request_timeout_s: float = Field(
        10.0, gt=0, le=120, description="Longest wait for one Kubernetes API request."
    )
    kube_client_threads: int = Field(
        16,
        ge=1,
        le=256,
        description="Kubernetes API requests in flight at once (the client is synchronous: one thread, "
        "and one pooled connection, each).",
    )

    # --- files and workspaces (S3) -------------------------------------------------------------
    file_max_bytes: int = Field(
        100 * 1024 * 1024,
        ge=1024,
        le=16 * 1024 * 1024 * 1024,
        description="Largest file one upload or download of `/sessions/{id}/files` moves.",
    )
    spool_dir: str = Field(
        "",
        description="Folder for uploads and workspace archives on their way (never kept); empty: the "
        "system's temporary folder.",
    )
    s3_endpoint_url: str = Field(
        "",
        description="S3 endpoint of the workspace store, e.g. `https://us-ord-1.linodeobjects.com`; empty: "
        "AWS's endpoint for `s3_region`.",
    )
    s3_region: str = Field("us-east-1", description="Region of the workspace bucket.")
    s3_bucket: str = Field(
        "",
        pattern=r"^([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])?$",
        description="Bucket workspaces are saved to; empty: sessions cannot name a workspace.",
    )
    s3_prefix: str = Field(
        "workspaces/", max_length=200, description="Key prefix of the workspaces (then `<tenant>/<name>.tar`)."
    )
    s3_access_key_id: SecretStr = Field(
        SecretStr(""), description="Access key of the bucket; empty: boto3's own chain."
    )
    s3_secret_access_key: SecretStr = Field(SecretStr(""), description="Secret key of the bucket.")
    s3_transfer_concurrency: int = Field(
        8, ge=1, le=64, description="Parts moved at once in one workspace upload or download."
    )

    # --- executions and liveness ---------------------------------------------------------------
    max_code_bytes: int = Field(256 * 1024, ge=1024, le=16 * 1024 * 1024, description="Largest code accepted.")
    max_output_bytes: int = Field(
        1024 * 1024, ge=1024, le=16 * 1024 * 1024, description="Stdout and stderr kept per execution, each."
    )
    max_request_bytes: int = Field(
        4 * 1024 * 1024,
        ge=4096,
        description="Largest request body of either API (internal results included).",
    )
    heartbeat_interval_s: float = Field(2.0, gt=0, le=60, description="How often an executor reports a run.")
    heartbeat_timeout_s: float = Field(
        10.0, gt=0, le=600, description="Silence after which a running execution is marked failed."
    )
    session_start_timeout_s: float = Field(
        60.0, gt=0, le=3600, description="Time a session may stay `creating` before it is marked failed."
    )
    executor_idle_timeout_s: float = Field(
        60.0, gt=0, le=3600, description="Silence of an idle executor after which its container is checked."
    )
    claim_wait_s: float = Field(20.0, gt=0, le=60, description="Longest wait of an executor's claim request.")
    claim_poll_interval_s: float = Field(
        1.0,
        gt=0,
        le=10,
        description="How often an idle executor's claim re-reads the database (work submitted to another "
        "instance waits at most this long; this instance's own submissions wake it at once).",
    )
    poll_interval_s: float = Field(
        0.25, gt=0, le=10, description="How often a waiting request re-reads the database for news."
    )
    monitor_interval_s: float = Field(1.0, gt=0, le=60, description="Period of the liveness and cleanup sweep.")
    max_wait_s: float = Field(30.0, gt=0, le=300, description="Longest `wait_s` a client may ask of a GET.")

    # --- warm pools ----------------------------------------------------------------------------
    pool_max_size: int = Field(50, ge=1, le=1000, description="Largest `max_size` a pool may have.")
    pool_refill_interval_s: float = Field(
        2.0, gt=0, le=300, description="Period of the pool keeper's round (a claim on this instance wakes it at once)."
    )
    pool_refill_concurrency: int = Field(4, ge=1, le=64, description="Pool containers started at the same time.")
    pool_member_max_age_s: int = Field(
        3600, ge=60, le=86400, description="Age at which an unclaimed pool container is replaced by a fresh one."
    )

    # --- cleanup and monitoring ----------------------------------------------------------------
    default_idle_timeout_s: int = Field(
        0,
        ge=0,
        le=86400,
        description="Idle limit of a session that asks for none: ended after this long without code running "
        "(0: no idle limit).",
    )
    executor_unresponsive_timeout_s: float = Field(
        90.0,
        gt=0,
        le=3600,
        description="Silence of an idle executor whose container still runs after which its session is failed "
        "(longer than a claim's wait).",
    )
    orphan_sweep_interval_s: float = Field(
        30.0, gt=0, le=3600, description="How often the runtime's containers are compared with the sessions."
    )
    stats_interval_s: float = Field(
        15.0, gt=0, le=3600, description="Age of a container's usage sample before it is renewed."
    )
    stats_batch: int = Field(20, ge=1, le=1000, description="Containers sampled per sweep at most.")

    @field_validator("api_tokens")
    @classmethod
    def _tokens_are_long_enough(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for tenant, token in value.items():
            if not tenant or len(tenant) > 64:
                raise ValueError("tenant names are 1 to 64 characters")
            if len(token.get_secret_value()) < 16:
                raise ValueError(f"the token of tenant {tenant!r} is shorter than 16 characters")
        return value

    @field_validator("kube_callback_cidr")
    @classmethod
    def _cidr_is_a_network(cls, value: str) -> str:
        if value:
            ipaddress.ip_network(value, strict=False)  # ValueError says what is wrong
        return value

    @model_validator(mode="after")
    def _kubernetes_can_call_back(self) -> Settings:
        """A Pod cannot reach the host's socket folder: it calls the internal API over TCP, and its
        NetworkPolicy lets it reach only that address."""
        if self.runtime != "kubernetes":
            return self
        if not self.executor_callback_url:
            raise ValueError("runtime kubernetes needs executor_callback_url (Pods cannot reach the sockets)")
        url = urlsplit(self.executor_callback_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError("executor_callback_url must be an http(s) URL with a host")
        if not self.kube_callback_cidr:
            try:
                ipaddress.ip_address(url.hostname)
            except ValueError:
                raise ValueError(
                    "executor_callback_url names a host, not an IP address: set kube_callback_cidr to the "
                    "network it resolves to (the session NetworkPolicy allows egress there only)"
                ) from None
        return self

    @cached_property
    def tenants_by_token_hash(self) -> dict[bytes, str]:
        """Token digests to tenants: a lookup by digest does not leak a token's prefix through timing."""
        return {
            hashlib.sha256(token.get_secret_value().encode()).digest(): tenant
            for tenant, token in self.api_tokens.items()
        }

    @property
    def socket_dir(self) -> Path:
        return self.runtime_dir / "sock"

    @property
    def sessions_dir(self) -> Path:
        return self.runtime_dir / "sessions"
