"""The HTTP client that sends callbacks: it connects only to addresses the policy has checked.

httpx resolves a host inside its network backend when it opens a connection. We replace that backend
with one that resolves through ``CallbackPolicy.resolve`` (which refuses the host when any address
is not allowed) and then opens the socket to one of those checked addresses. The check and the
connect use one lookup, so there is no window for DNS rebinding. Everything above the socket still
sees the original name: the ``Host`` header comes from the URL, and TLS gets the original name for
SNI and certificate verification (httpcore passes the origin host to ``start_tls``).

Pooled keep-alive connections were checked when they were opened; they go to the same address.
Environment proxies are ignored (``trust_env=False``): a proxy would connect on our behalf to
whatever the name resolves to there, skipping the check. Redirects are never followed.
"""

from __future__ import annotations

import typing

import httpcore
import httpx
from httpcore import AsyncNetworkBackend, AsyncNetworkStream
from httpcore._backends.auto import AutoBackend

from coordinator.callback_policy import CallbackPolicy

#: At most this much of a callback's response is read; the body is ignored anyway.
MAX_RESPONSE_BYTES = 64 * 1024


class PinnedNetworkBackend(AsyncNetworkBackend):
    """Opens TCP connections to policy-checked addresses of the requested host."""

    def __init__(self, policy: CallbackPolicy, inner: AsyncNetworkBackend | None = None):
        self.policy = policy
        self.inner = inner or AutoBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        # Raises CallbackRefused / CallbackUnresolved before any socket exists.
        addresses = await self.policy.resolve(host, port)
        last: Exception | None = None
        for address in addresses:  # every one of them passed the check; try them in order
            try:
                return await self.inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        raise httpcore.ConnectError("callbacks never use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def pinned_transport(policy: CallbackPolicy, *, verify: bool | typing.Any = True,
                     limits: httpx.Limits | None = None) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose connections go through ``PinnedNetworkBackend``."""
    limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
    transport = httpx.AsyncHTTPTransport(verify=verify, trust_env=False, limits=limits)
    # httpx builds its pool without a network-backend argument; rebuild the same pool with ours.
    # The transport maps httpcore errors to httpx ones around ``_pool``, which is why we keep it.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=transport._pool._ssl_context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=PinnedNetworkBackend(policy),
    )
    return transport


def callback_client(policy: CallbackPolicy, timeout: float = 10.0, **kwargs: typing.Any) -> httpx.AsyncClient:
    """The client for callbacks: pinned connections, no redirects, no env proxies, bounded time."""
    return httpx.AsyncClient(
        transport=pinned_transport(policy, **kwargs),
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(timeout),
    )


async def post_callback(client: httpx.AsyncClient, url: str, body: bytes,
                        headers: dict[str, str] | None = None) -> int:
    """POST ``body`` as JSON to ``url``; return the status, reading at most MAX_RESPONSE_BYTES."""
    all_headers = {"content-type": "application/json", **(headers or {})}
    async with client.stream("POST", url, content=body, headers=all_headers) as response:
        read = 0
        async for chunk in response.aiter_raw():
            read += len(chunk)
            if read >= MAX_RESPONSE_BYTES:
                break  # a receiver that talks too much: its status is all we need
        return response.status_code
