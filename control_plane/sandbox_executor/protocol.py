"""The contract between the control plane and the executor, defined once and read by both.

Standard library only: this module is copied into session images together with the executor.
"""

from __future__ import annotations

import enum

PROTOCOL_VERSION = 1


class ExecutionStatus(enum.StrEnum):
    """Where an execution is. ``pending`` and ``running`` are live; the others are final."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"  # the code ran to its own end; exit_code says how it went
    FAILED = "failed"  # it could not finish: see the reason
    TIMED_OUT = "timed_out"  # killed past its timeout
    CANCELLED = "cancelled"  # cancelled by its owner or by the end of its session

    @property
    def is_final(self) -> bool:
        return self not in (ExecutionStatus.PENDING, ExecutionStatus.RUNNING)


class Reason(enum.StrEnum):
    """Why an execution or a session ended other than by itself: a closed list, never free text."""

    TIMEOUT = "timeout"
    OOM_KILLED = "oom_killed"
    KILLED = "killed"  # by a signal that was not ours and not the OOM killer
    CANCELLED = "cancelled"
    HEARTBEAT_LOST = "heartbeat_lost"
    SESSION_TERMINATED = "session_terminated"
    CONTAINER_EXITED = "container_exited"
    EXECUTOR_ERROR = "executor_error"
    START_TIMEOUT = "start_timeout"
    SESSION_EXPIRED = "session_expired"
    DELETED = "deleted"
    SESSION_IDLE = "session_idle"
    EXECUTOR_UNRESPONSIVE = "executor_unresponsive"
    CONTAINER_LOST = "container_lost"
    POOL_RECYCLED = "pool_recycled"
    IMAGE_PULL_FAILED = "image_pull_failed"
    CONTAINER_CREATE_FAILED = "container_create_failed"
    EVICTED = "evicted"


# What each reason means, for people: API responses and logs carry the code, docs carry these.
REASON_TEXT: dict[Reason, str] = {
    Reason.TIMEOUT: "the code ran past its timeout and was killed",
    Reason.OOM_KILLED: "the kernel killed the code: the session's memory limit was reached",
    Reason.KILLED: "the code was killed by a signal",
    Reason.CANCELLED: "cancelled on request",
    Reason.HEARTBEAT_LOST: "the executor stopped reporting while the code ran",
    Reason.SESSION_TERMINATED: "the session ended before the code finished",
    Reason.CONTAINER_EXITED: "the session's container stopped",
    Reason.EXECUTOR_ERROR: "the executor could not run the code",
    Reason.START_TIMEOUT: "the session's executor did not report ready in time",
    Reason.SESSION_EXPIRED: "the session reached its timeout",
    Reason.DELETED: "deleted on request",
    Reason.SESSION_IDLE: "the session ran no code for longer than its idle limit",
    Reason.EXECUTOR_UNRESPONSIVE: "the session's executor stopped answering while its container ran",
    Reason.CONTAINER_LOST: "the session's container is gone (removed outside the control plane)",
    Reason.IMAGE_PULL_FAILED: "the session's image could not be pulled onto the node",
    Reason.CONTAINER_CREATE_FAILED: "the runtime could not make the session's container",
    Reason.EVICTED: "the node took the session's container away (disk or memory pressure)",
    Reason.POOL_RECYCLED: "a warm pool's unclaimed container was replaced (pool resized, template changed, or aged)",
}


class Language(enum.StrEnum):
    """Languages the executor runs, with the interpreter it starts for each."""

    PYTHON = "python"
    BASH = "bash"


INTERPRETERS: dict[Language, tuple[str, str]] = {
    # language: (program, file suffix)
    Language.PYTHON: ("python3", ".py"),
    Language.BASH: ("bash", ".sh"),
}

# Inside a session container.
WORKSPACE = "/workspace"
SOCKET_DIR = "/run/sbx/sock"
SESSION_DIR = "/run/sbx/session"
TOKEN_FILE = SESSION_DIR + "/token"

# The executor's environment; user variables may not use this prefix.
ENV_PREFIX = "SBX_"
ENV_SESSION_ID = "SBX_SESSION_ID"
ENV_CALLBACK_URL = "SBX_CALLBACK_URL"
ENV_HEARTBEAT_INTERVAL = "SBX_HEARTBEAT_INTERVAL_S"
ENV_MAX_OUTPUT = "SBX_MAX_OUTPUT_BYTES"
ENV_FILE_SIZE_LIMIT = "SBX_FILE_SIZE_LIMIT_BYTES"

REQUEST_ID_HEADER = "X-Request-ID"
# Image label that says the image carries this executor; templates naming other images are refused.
EXECUTOR_LABEL = "ai.oneclick.sandbox.executor"
