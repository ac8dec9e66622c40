"""One way to wait for a condition that has no event to wait on (a metric, a queue, a process).

The bounds are generous and only stop a hung test: they are never speed assertions. ``details``
is called only on failure, for the message (e.g. the logs of the processes involved).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

WITHIN = 20.0  # the machine is shared; a wait ends as soon as its condition holds


def _failure(what: str, within: float, details: Callable[[], str] | None) -> AssertionError:
    message = f"timed out after {within:g} s waiting for {what}"
    return AssertionError(f"{message}\n{details()}" if details else message)


def wait_until(condition: Callable[[], object], *, within: float = WITHIN, what: str = "the condition",
               details: Callable[[], str] | None = None, interval: float = 0.02) -> None:
    """Block until ``condition()`` is true; raise ``AssertionError`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise _failure(what, within, details)
        time.sleep(interval)


async def until(condition: Callable[[], object], *, within: float = WITHIN, what: str = "the condition",
                details: Callable[[], str] | None = None, interval: float = 0.01) -> None:
    """``wait_until`` for a coroutine: the event loop runs while it waits."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise _failure(what, within, details)
        await asyncio.sleep(interval)
