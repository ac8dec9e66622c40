"""How callbacks are sent: connections only to addresses the policy has checked, and signed.

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

import ssl
import typing

import httpcore
import httpx
from httpcore import AnyIOBackend, AsyncNetworkBackend, AsyncNetworkStream

from coordinator.callback_policy import CallbackPolicy, CallbackRefused, CallbackUnresolved
from coordinator.callbacks import CallbackFailed, CallbackSender
from coordinator.signing import signature_headers


class PinnedNetworkBackend(AsyncNetworkBackend):
    """Opens TCP connections to policy-checked addresses of the requested host."""

    def __init__(self, policy: CallbackPolicy, inner: AsyncNetworkBackend | None = None):
        self.policy = policy
        self.inner = inner or AnyIOBackend()

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


def pinned_transport(policy: CallbackPolicy, *, verify: ssl.SSLContext | bool = True,
                     limits: httpx.Limits | None = None) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose connections go through ``PinnedNetworkBackend``."""
    limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
    transport = httpx.AsyncHTTPTransport(verify=verify, trust_env=False, limits=limits)
    # httpx builds its pool without a network-backend argument; rebuild the same pool with ours.
    # The transport maps httpcore errors to httpx ones around ``_pool``, which is why we keep it.
    # ``_pool`` is private: pyproject bounds httpx to the versions this was tested on, and the
    # policy tests (a refused address never connects) fail if a new httpx stops using it.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=transport._pool._ssl_context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=PinnedNetworkBackend(policy),
    )
    return transport


class CallbackRejected(CallbackFailed):
    """The callback URL is refused by the policy: retrying cannot help, the result is dropped."""


class GuardedCallbackSender(CallbackSender):
    """``CallbackSender`` with the SSRF policy on every connection and, with a secret, a signature.

    At intake (``admit``) the URL and all its addresses are checked. At delivery the form is checked
    again before anything else, and the addresses inside the connection (``PinnedNetworkBackend``).
    A refusal raises ``CallbackRejected``; a host that does not resolve now raises a plain
    ``CallbackFailed`` (retried: DNS may come back).
    """

    def __init__(self, timeout: float, policy: CallbackPolicy, secret: str | None = None,
                 verify: ssl.SSLContext | bool = True) -> None:
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
        super().__init__(timeout, transport=pinned_transport(policy, verify=verify, limits=limits))
        self.policy = policy
        self._secret = secret

    async def admit(self, url: str) -> None:
        """At intake: the form and every address the host resolves to (a ValueError is a 400)."""
        await self.policy.check(url)

    async def prepare(self, url: str, body: bytes) -> tuple[str, dict[str, str]]:
        target, headers = await super().prepare(url, body)
        try:
            self.policy.check_url(target)
        except CallbackRefused as exc:
            raise CallbackRejected(str(exc)) from None
        return target, {**headers, **signature_headers(self._secret, body)}

    async def send(self, url: str, hash: str, work: str) -> None:
        try:
            await super().send(url, hash, work)
        except CallbackRefused as exc:
            raise CallbackRejected(str(exc)) from None
        except CallbackUnresolved as exc:
            raise CallbackFailed(str(exc)) from None
