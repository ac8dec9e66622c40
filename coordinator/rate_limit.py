"""Per-client token buckets: ``COORDINATOR_RATE_LIMIT`` requests per second, short bursts allowed.

Each client (an API key, or the client address when no keys are configured) has a bucket holding
up to ``burst`` tokens, refilled at ``rate`` per second; a request takes one token. An empty bucket
means 429 with ``Retry-After``: the whole seconds until a token is back.

A client without an API key is its address (``address_key``): an IPv4 address, or the /64 of an
IPv6 one, since one subscriber is given a whole /64 and could otherwise take a fresh bucket for each
of its 2**64 addresses. Buckets of clients identified by address are kept in an LRU of bounded
size, so a crowd of addresses cannot grow memory without limit (a forgotten client starts again with
a full bucket).
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

#: The IPv6 prefix one client (a subscriber's network) is limited as.
IPV6_CLIENT_PREFIX = 64


def address_key(host: str) -> str:
    """The rate-limit client of a peer address: the IPv4 address (an IPv4-mapped IPv6 address is its
    IPv4 address), the /64 of an IPv6 address; anything else (a Unix socket) as it is."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_CLIENT_PREFIX), strict=False))
    return str(address)


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
