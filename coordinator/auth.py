"""Who may ask for work: API keys (``COORDINATOR_API_KEYS``) and the per-key rate limit.

``COORDINATOR_API_KEYS`` is either
- a comma-separated list of keys: ``COORDINATOR_API_KEYS=key-one...,key-two...``, or
- ``@`` followed by a file path: ``COORDINATOR_API_KEYS=@/run/secrets/atto-work-keys``; the file holds
  keys separated by newlines or commas; blank lines and lines starting with ``#`` are ignored
  (a Kubernetes/compose secret mounted as a file keeps keys out of the process environment).
Keys are at least 16 printable ASCII characters without spaces or commas, and cannot start with
``@``. Unset or empty: no key is needed (the local default).

With keys set, ``POST``, ``GET`` and ``DELETE /works/{hash}`` need ``Authorization: Bearer <key>``;
otherwise 401 with ``WWW-Authenticate: Bearer``. ``COORDINATOR_RATE_LIMIT`` (requests per second,
unset = no limit) applies per key, or per client address (IPv6: per /64) when no keys are configured;
over it, 429 + ``Retry-After``.
"""

from __future__ import annotations

from fastapi import Depends, HTTPException, Request

from common.bearer import BearerTokens, bearer_scheme
from common.settings import setting_entries
from coordinator.rate_limit import RateLimiter, address_key

MIN_KEY_LENGTH = 16


def _check_key(key: str) -> str:
    if len(key) < MIN_KEY_LENGTH:
        raise ValueError(f"API keys must be at least {MIN_KEY_LENGTH} characters")
    if not key.isascii() or not key.isprintable() or " " in key or key.startswith("@"):
        raise ValueError("API keys are printable ASCII without spaces and do not start with '@'")
    return key


def parse_api_keys(value: str | None) -> tuple[str, ...]:
    """The keys named by ``COORDINATOR_API_KEYS`` (a list, or ``@file``); raises ValueError."""
    keys = setting_entries(value, "API key")
    return tuple(dict.fromkeys(_check_key(key) for key in keys))


class ApiKeyGuard:
    """The FastAPI dependency of the ``/works/{hash}`` routes: bearer key (when configured), then
    rate limit."""

    def __init__(self, keys: tuple[str, ...] = (), rate_limit: float | None = None):
        self.keys = keys
        self.tokens = BearerTokens(keys, realm="atto-work")
        self.limiter = RateLimiter(rate_limit) if rate_limit else None

    def client_id(self, request: Request) -> str:
        """Also records the matched key as ``request.state.api_key`` (None without keys): the
        caller who may cancel the requests made with it."""
        index = self.tokens.require(request)  # 401 when keys are set and none matches
        request.state.api_key = self.keys[index] if index is not None else None
        if index is not None:
            return f"key:{index}"
        return f"addr:{address_key(request.client.host) if request.client else '?'}"

    async def __call__(self, request: Request, _=Depends(bearer_scheme)) -> None:  # noqa: B008
        client = self.client_id(request)
        if self.limiter is not None:
            wait = self.limiter.acquire(client)
            if wait > 0:
                raise HTTPException(429, "rate limit exceeded",
                                    headers={"Retry-After": self.limiter.retry_after(wait)})
