"""Waiting for a change that another request (or another instance) makes in the database.

The database is the only truth. A waiter re-reads it every ``poll_interval`` seconds, and a change
made by this same instance wakes it at once: the in-process events are a shortcut, never state.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class Notifier:
    def __init__(self, poll_interval: float) -> None:
        self._poll_interval = poll_interval
        self._events: dict[str, set[asyncio.Event]] = {}
        self._closing = False

    def notify(self, key: str) -> None:
        for event in self._events.get(key, ()):
            event.set()

    def close(self) -> None:
        """The server is stopping: every wait answers now with what it finds (no wait is cancelled
        mid-request when the grace period ends), and any wait that starts later does not wait."""
        self._closing = True
        for waiters in self._events.values():
            for event in waiters:
                event.set()

    async def wait_for(
        self, key: str, within_s: float, check: Callable[[], Awaitable[T | None]], poll_s: float | None = None
    ) -> T | None:
        """Return the first non-None result of ``check`` within ``within_s`` seconds, else None."""
        deadline = time.monotonic() + within_s
        event = asyncio.Event()
        self._events.setdefault(key, set()).add(event)
        try:
            while True:
                event.clear()
                result = await check()
                remaining = deadline - time.monotonic()
                if result is not None or remaining <= 0 or self._closing:
                    return result
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), min(poll_s or self._poll_interval, remaining))
        finally:
            waiters = self._events.get(key)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._events[key]
