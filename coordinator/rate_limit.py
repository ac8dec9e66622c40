"""Per-client token buckets: ``COORDINATOR_RATE_LIMIT`` requests per second, short bursts allowed.

Each client (an API key, or the client address when no keys are configured) has a bucket holding
up to ``burst`` tokens, refilled at ``rate`` per second; a request takes one token. An empty bucket
means 429 with ``Retry-After``: the whole seconds until a token is back.

Buckets of clients identified by address are kept in an LRU of bounded size, so a crowd of
addresses cannot grow memory without limit (a forgotten client starts again with a full bucket).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, rate: float, burst: float | None = None, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        # A burst of one second's worth (at least one request) absorbs client-side jitter.
        self.burst = burst if burst is not None else max(1.0, rate)
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def acquire(self, client: str) -> float:
        """Take a token for ``client``: 0.0 when allowed, else the seconds until one is available."""
        now = self.clock()
        bucket = self._buckets.pop(client, None)
        if bucket is None:
            bucket = _Bucket(self.burst, now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        self._buckets[client] = bucket  # most recently used last
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    @staticmethod
    def retry_after(wait: float) -> str:
        """``Retry-After`` is whole seconds; round up so a client that obeys it is let in."""
        return str(max(1, math.ceil(wait)))
