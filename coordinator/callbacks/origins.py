"""Per-origin shares of the callback client, so one slow or dead receiver uses its own share only.

An origin is a callback URL's ``(scheme, host, port)``, the key aiohttp's ``limit_per_host`` pools
connections by (host, port, TLS). Two bounds hang on it:

- ``OriginGate`` (sending): at most ``limit`` callbacks in progress per origin (waiting for one of
  its pooled connections, connecting, sending, reading). One more is not started: it fails at once
  with ``CallbackBusy`` and its result waits in the queue (nacked, redelivered later), holding
  neither a connection nor a subscriber slot that another receiver's callbacks need.
- ``OriginBacklog`` (delivery and intake): the callbacks per origin that failed and wait for their
  retry. Intake answers 503 for an origin at its bound, so a receiver that is down stops adding to
  what the queue and the work-state store hold for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from yarl import URL

from coordinator.callbacks.errors import CallbackBusy

Origin = tuple[str, str, int]


def origin_of(url: URL) -> Origin:
    return url.scheme, (url.raw_host or "").lower(), url.port or 0


class OriginGate:
    """Callbacks in progress per origin, at most ``limit`` each."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._busy: dict[Origin, int] = {}

    @contextmanager
    def enter(self, url: URL) -> Iterator[None]:
        """Hold one of the origin's places for the block; ``CallbackBusy`` when none is free."""
        origin = origin_of(url)
        busy = self._busy.get(origin, 0)
        if busy >= self.limit:
            raise CallbackBusy(f"{busy} callbacks to {url.origin()} are in progress; retried later")
        self._busy[origin] = busy + 1
        try:
            yield
        finally:
            left = self._busy[origin] - 1
            if left:
                self._busy[origin] = left
            else:
                del self._busy[origin]  # an idle origin costs nothing


class OriginBacklog:
    """Failed callbacks waiting for their retry, per origin.

    An entry lasts ``hold`` seconds after its latest failure (a failing result is retried within
    the broker's longest redelivery delay, which renews it), so a result that leaves without a word
    to delivery (cancelled, expired, or taken by another replica) does not count for ever.
    """

    def __init__(self, limit: int, hold: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.hold = hold
        self._clock = clock
        self._waiting: dict[Origin, dict[str, float]] = {}

    def failed(self, url: str, key: str) -> None:
        self._waiting.setdefault(origin_of(URL(url)), {})[key] = self._clock() + self.hold

    def done(self, url: str, key: str) -> None:
        if not self._waiting:
            return
        origin = origin_of(URL(url))
        waiting = self._waiting.get(origin)
        if waiting is not None:
            waiting.pop(key, None)
            if not waiting:
                del self._waiting[origin]

    def full(self, url: str) -> bool:
        """Whether ``limit`` callbacks to the origin of ``url`` wait for a retry (intake: 503)."""
        if not self._waiting:
            return False  # the usual case, without parsing the URL
        waiting = self._waiting.get(origin_of(URL(url)))
        if not waiting or len(waiting) < self.limit:
            return False
        now = self._clock()
        for key in [key for key, until in waiting.items() if until <= now]:
            del waiting[key]
        return len(waiting) >= self.limit
