"""The session and execution state machines."""

from __future__ import annotations

import pytest

from sandbox_control_plane.domain import ExecutionStatus, SessionState
from sandbox_control_plane.session_manager.lifecycle import (
    EXECUTION_TRANSITIONS,
    TRANSITIONS,
    check_transition,
    sources_of,
)
from sandbox_control_plane.utils.errors import InvalidStateTransitionError

S = SessionState


def reachable(start: SessionState) -> set[SessionState]:
    seen, todo = {start}, [start]
    while todo:
        for target in TRANSITIONS[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_every_state_is_in_the_table_and_every_session_can_end() -> None:
    assert set(TRANSITIONS) == set(SessionState)
    for state in SessionState:
        assert S.TERMINATED in reachable(state), state


def test_terminated_is_final_and_nothing_returns_to_creating() -> None:
    assert TRANSITIONS[S.TERMINATED] == frozenset()
    assert sources_of(S.CREATING) == frozenset()


@pytest.mark.parametrize(
    ("current", "target"),
    [(S.TERMINATED, S.TERMINATING), (S.FAILED, S.READY), (S.TERMINATING, S.READY), (S.READY, S.CREATING)],
)
def test_invalid_transitions_are_refused_with_the_allowed_sources(current: SessionState, target: SessionState) -> None:
    with pytest.raises(InvalidStateTransitionError) as raised:
        check_transition("ses_x", current, target)
    detail = raised.value.detail
    assert detail["current_state"] == current
    assert detail["requested_state"] == target
    assert detail["allowed_from"] == sorted(str(state) for state in sources_of(target))


@pytest.mark.parametrize(
    ("current", "target"),
    [(S.CREATING, S.READY), (S.READY, S.RUNNING), (S.RUNNING, S.READY), (S.FAILED, S.TERMINATING)],
)
def test_valid_transitions_pass(current: SessionState, target: SessionState) -> None:
    check_transition("ses_x", current, target)


def test_final_execution_statuses_never_change() -> None:
    for status, targets in EXECUTION_TRANSITIONS.items():
        assert (targets == frozenset()) == status.is_final
    assert ExecutionStatus.CANCELLED in EXECUTION_TRANSITIONS[ExecutionStatus.PENDING]
