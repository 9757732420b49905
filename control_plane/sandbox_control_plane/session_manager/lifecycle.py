"""The session state machine: one table of the transitions allowed, read by every layer.

    creating ──warm──► warm ──claim──► ready        (a pool's container, waiting for a create)
    creating ──ready──► ready ◄──► running          (running: an execution is being run)
        │                 │           │
        └──── failed ◄────┴───────────┘             (start timeout, container gone, OOM of the executor)
        │                 │           │      │
        └────────────► terminating ◄──┴──────┘      (delete, session timeout)
                              │
                              ▼
                          terminated

Repositories apply a transition as ``UPDATE ... WHERE state IN (allowed sources)``, so two
instances can never both move one session: the second finds no row to update.
"""

from __future__ import annotations

from typing import Any

from sandbox_control_plane.domain import ExecutionStatus, SessionState
from sandbox_control_plane.utils.errors import InvalidStateTransitionError

S = SessionState

TRANSITIONS: dict[SessionState, frozenset[SessionState]] = {
    S.WARM: frozenset({S.READY, S.FAILED, S.TERMINATING}),
    S.CREATING: frozenset({S.WARM, S.READY, S.FAILED, S.TERMINATING}),
    S.READY: frozenset({S.RUNNING, S.FAILED, S.TERMINATING}),
    S.RUNNING: frozenset({S.READY, S.FAILED, S.TERMINATING}),
    S.FAILED: frozenset({S.TERMINATING}),
    S.TERMINATING: frozenset({S.TERMINATED}),
    S.TERMINATED: frozenset(),
}

# Sessions that may still be given executions (queued while creating, run when ready).
ACCEPTS_EXECUTIONS = frozenset({S.CREATING, S.READY, S.RUNNING})
# Sessions whose container should exist.
LIVE = frozenset({S.WARM, S.CREATING, S.READY, S.RUNNING})


def sources_of(target: SessionState) -> frozenset[SessionState]:
    """States from which ``target`` may be reached."""
    return frozenset(source for source, targets in TRANSITIONS.items() if target in targets)


def check_transition(session_id: str, current: SessionState, target: SessionState) -> None:
    if target not in TRANSITIONS[current]:
        raise transition_error("session", session_id, current, target, sources_of(target))


def transition_error(
    kind: str, resource_id: str, current: str, target: str, allowed_from: frozenset[Any]
) -> InvalidStateTransitionError:
    allowed = sorted(str(state) for state in allowed_from)
    return InvalidStateTransitionError(
        f"The {kind} {resource_id} is '{current}'; it cannot become '{target}' from there.",
        {
            "id": resource_id,
            "current_state": str(current),
            "requested_state": str(target),
            "allowed_from": allowed,
        },
    )


# Executions: pending -> running -> final, or pending -> cancelled. Final states never change.
EXECUTION_TRANSITIONS: dict[ExecutionStatus, frozenset[ExecutionStatus]] = {
    ExecutionStatus.PENDING: frozenset({ExecutionStatus.RUNNING, ExecutionStatus.CANCELLED, ExecutionStatus.FAILED}),
    ExecutionStatus.RUNNING: frozenset(
        {
            ExecutionStatus.COMPLETED,
            ExecutionStatus.FAILED,
            ExecutionStatus.TIMED_OUT,
            ExecutionStatus.CANCELLED,
        }
    ),
    **{status: frozenset() for status in ExecutionStatus if status.is_final},
}


def execution_sources_of(target: ExecutionStatus) -> frozenset[ExecutionStatus]:
    return frozenset(source for source, targets in EXECUTION_TRANSITIONS.items() if target in targets)
