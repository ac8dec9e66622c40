"""Looking up callback host names: c-ares (through aiodns) on the event loop, never in threads.

The loop's ``getaddrinfo`` runs in a small pool of threads, and a name whose servers never answer
holds its thread until the system resolver gives up; a timeout frees the caller, not the thread.
Eight such names once held every thread, and every other host name then failed for half a minute.
A c-ares lookup is a little state in one channel on the event loop: a silent server costs the other
lookups nothing, a caller's timeout cancels its wait at once, and c-ares drops the query at its own
timeout. Concurrent lookups of one name share one query (at most one in flight per name), so a
burst of requests naming one slow name costs one query, not one each. The answers intake keeps
(found or not) live in ``CallbackPolicy.check``; delivery looks up afresh every time.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence

import aiodns

#: c-ares' wait for one server's answer (seconds) and its tries; the policy's timeout ends the wait
#: of a caller earlier.
QUERY_TIMEOUT = 2.0
QUERY_TRIES = 2


class DnsResolver:
    """``(host, port) -> addresses`` (A and AAAA, and ``/etc/hosts``) for ``CallbackPolicy``."""

    def __init__(self, servers: Sequence[str] = ()) -> None:
        """``servers``: ``address[:port]`` of the DNS servers to ask; empty: the system's."""
        self.servers = list(servers)
        self._channel: tuple[asyncio.AbstractEventLoop, aiodns.DNSResolver] | None = None
        self._in_flight: dict[str, asyncio.Future[list[str]]] = {}

    def _dns(self) -> aiodns.DNSResolver:
        loop = asyncio.get_running_loop()
        if self._channel is None or self._channel[0] is not loop:  # one channel per event loop
            channel = aiodns.DNSResolver(self.servers or None, loop=loop, timeout=QUERY_TIMEOUT,
                                         tries=QUERY_TRIES)
            self._channel = loop, channel
        return self._channel[1]

    async def __call__(self, host: str, port: int) -> list[str]:
        query = self._in_flight.get(host)
        if query is None:
            query = asyncio.ensure_future(self._lookup(host))
            self._in_flight[host] = query
            query.add_done_callback(lambda done: self._finished(host, done))
        # A waiter that gives up (its timeout) leaves the shared query to the other waiters.
        return await asyncio.shield(query)

    def _finished(self, host: str, query: asyncio.Future[list[str]]) -> None:
        if self._in_flight.get(host) is query:
            del self._in_flight[host]
        if not query.cancelled():
            query.exception()  # retrieved: every waiter may have given up already

    async def _lookup(self, host: str) -> list[str]:
        try:
            result = await self._dns().getaddrinfo(host, family=socket.AF_UNSPEC, type=socket.SOCK_STREAM)
        except aiodns.error.DNSError as exc:
            raise OSError(f"DNS: {exc.args[-1] if exc.args else exc}") from None
        found = (node.addr[0] for node in result.nodes)
        return list(dict.fromkeys(a.decode() if isinstance(a, bytes) else str(a) for a in found))

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel[1].close()
            self._channel = None
