"""Session tokens, identifiers and the waiter."""

from __future__ import annotations

import asyncio
import re
import time

from sandbox_control_plane.utils.ids import ID_PATTERN, is_acceptable_request_id, new_id
from sandbox_control_plane.utils.notify import Notifier
from sandbox_control_plane.utils.tokens import session_token, token_opens_session


def test_a_session_token_opens_its_session_only() -> None:
    token = session_token("secret-0123456789", "ses_a")
    assert token_opens_session(token, "secret-0123456789", "ses_a")
    assert not token_opens_session(token, "secret-0123456789", "ses_b")
    assert not token_opens_session(token, "other-secret-0000", "ses_a")
    assert token_opens_session("secret-0123456789", "secret-0123456789", "ses_b")
    assert not token_opens_session("", "", "ses_a")
    assert "secret" not in token


def test_ids_match_the_pattern_and_sort_by_time() -> None:
    first = new_id("ses")
    time.sleep(0.002)
    second = new_id("ses")
    assert re.match(ID_PATTERN, first)
    assert re.match(ID_PATTERN, second)
    assert first < second
    assert len({new_id("exe") for _ in range(1000)}) == 1000


def test_request_ids_from_callers_are_kept_only_when_plain() -> None:
    assert is_acceptable_request_id("trace-1:abc.DEF_9")
    assert not is_acceptable_request_id("has space")
    assert not is_acceptable_request_id("x" * 65)
    assert not is_acceptable_request_id("new\nline")


async def test_a_notification_wakes_a_waiter_before_its_poll() -> None:
    notifier = Notifier(poll_interval=10)
    state = {"done": False}

    async def check() -> bool | None:
        return True if state["done"] else None

    async def finish() -> None:
        await asyncio.sleep(0.05)
        state["done"] = True
        notifier.notify("k")

    started = time.monotonic()
    result, _ = await asyncio.gather(notifier.wait_for("k", 5, check), finish())
    assert result is True
    assert time.monotonic() - started < 1


async def test_a_waiter_polls_and_gives_up() -> None:
    notifier = Notifier(poll_interval=0.02)
    calls = []

    async def never() -> bool | None:
        calls.append(1)
        return None

    started = time.monotonic()
    assert await notifier.wait_for("k", 0.2, never) is None
    assert 0.15 < time.monotonic() - started < 1
    assert len(calls) > 3


async def test_closing_answers_every_wait_at_once_with_a_last_check() -> None:
    notifier = Notifier(poll_interval=10)
    checks: list[str] = []

    async def check(key: str) -> bool | None:
        checks.append(key)
        return None

    async def close_soon() -> None:
        await asyncio.sleep(0.05)
        notifier.close()

    started = time.monotonic()
    results = await asyncio.gather(
        notifier.wait_for("a", 20, lambda: check("a")),
        notifier.wait_for("b", 20, lambda: check("b"), poll_s=20),
        close_soon(),
    )
    assert results[0] is None
    assert results[1] is None
    assert time.monotonic() - started < 1
    assert sorted(checks) == ["a", "a", "b", "b"]  # each looked once more before answering
    # A wait that starts while the server stops does not wait either.
    started = time.monotonic()
    assert await notifier.wait_for("c", 20, lambda: check("c")) is None
    assert time.monotonic() - started < 1
