"""The callback HTTP client: aiohttp, with connections only to addresses the policy has checked.

aiohttp asks its connector's resolver for the addresses of a host each time it opens a connection.
``PinnedResolver`` is that resolver (aiohttp's public ``AbstractResolver``): it resolves through
``CallbackPolicy.resolve``, which refuses the host when any address is not allowed, and hands back
only checked addresses, which aiohttp then dials. The check and the connect use one lookup, so there
is no window for DNS rebinding (the connector's own DNS cache is off, so every new connection asks
again). aiohttp does not call the resolver for an IP literal: the sender checks those itself before
the request (``CallbackPolicy.check_literal``).

Everything above the socket still sees the original name: the ``Host`` header comes from the URL,
TLS gets the name for SNI and certificate verification (aiohttp takes it from the resolver's
``hostname`` field, which we fill with the name asked for), and pooled connections are keyed by the
URL's host name, port and TLS settings. A pooled keep-alive connection was checked when it was opened
and goes to the same address.

The session also: ignores environment proxies (``trust_env=False``: a proxy would connect on our
behalf to whatever the name resolves to there, skipping the check), keeps no cookies (one client's
receiver must not set cookies sent to another's), does not inflate compressed bodies, and bounds
the response's status line and header fields (``max_line_size``, ``max_field_size``) and the whole
exchange (``ClientTimeout(total=...)``: the wait for a pooled connection, the connect, and an answer
dripping in byte by byte all count). Redirects are refused per request (``allow_redirects=False``).
Connections are capped per origin (``limit_per_host``: aiohttp keys its pool by host, port and TLS,
which is the URL's scheme, host and port), so a slow receiver can hold its own share of the pool,
never all of it.
"""

from __future__ import annotations

import socket
import ssl

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from coordinator.callbacks.policy import CallbackPolicy

#: Longest status line and header field accepted in a callback's answer (bytes).
MAX_HEADER_BYTES = 8190
#: Open connections at most, all receivers together; idle ones are kept alive for reuse.
MAX_CONNECTIONS = 256


class PinnedResolver(AbstractResolver):
    """Resolves a callback host through the policy: only checked addresses come back."""

    def __init__(self, policy: CallbackPolicy) -> None:
        self.policy = policy

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        # Raises CallbackRefused / CallbackUnresolved before any socket exists; aiohttp passes them on.
        addresses = await self.policy.resolve(host, port)
        return [
            ResolveResult(
                hostname=host,  # TLS verifies the certificate against this name, not the address
                host=str(address),
                port=port,
                family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        pass


def open_session(policy: CallbackPolicy, timeout: float, per_origin: int,
                 verify: ssl.SSLContext | bool = True) -> aiohttp.ClientSession:
    """A session whose connections go through ``PinnedResolver``, at most ``per_origin`` of them to
    one origin; call within the event loop."""
    connector = aiohttp.TCPConnector(
        resolver=PinnedResolver(policy),
        use_dns_cache=False,  # every new connection is checked by a fresh lookup
        limit=MAX_CONNECTIONS,
        limit_per_host=per_origin,
        ssl=verify,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout),
        trust_env=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,
        max_line_size=MAX_HEADER_BYTES,
        max_field_size=MAX_HEADER_BYTES,
        headers={"User-Agent": "atto-work-coordinator"},
    )
