"""``Authorization: Bearer <token>`` checks shared by the services (coordinator API keys, SOLVER_TOKEN).

Comparison is constant-time and has no token-dependent early exit: the presented token and every
configured token are reduced to SHA-256 digests (equal length, so ``compare_digest`` does not stop at
a length mismatch) and compared against *all* configured tokens, whichever one matches.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Iterable

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPBearer
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from common.http import error

#: Documents the scheme in OpenAPI; ``auto_error=False`` so we answer 401 ourselves, as JSON.
bearer_scheme = HTTPBearer(auto_error=False, description="Authorization: Bearer <token>")


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def token_from_header(value: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, or None."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class BearerTokens:
    """A set of accepted tokens; ``match`` says which one (by index) a presented token is."""

    def __init__(self, tokens: Iterable[str], realm: str = "atto-work"):
        self._digests = [_digest(t) for t in tokens]
        self.realm = realm

    def __bool__(self) -> bool:
        return bool(self._digests)

    def __len__(self) -> int:
        return len(self._digests)

    def match(self, presented: str | None) -> int | None:
        """Index of the configured token equal to ``presented``; None when none is."""
        probe = _digest(presented or "")
        found = -1
        for index, digest in enumerate(self._digests):
            hit = hmac.compare_digest(probe, digest)
            found = index if hit else found  # no break: time does not depend on which one matched
        return found if found >= 0 and presented else None

    def unauthorized(self, reason: str) -> HTTPException:
        return HTTPException(401, reason, headers={"WWW-Authenticate": f'Bearer realm="{self.realm}"'})

    def require(self, request: Request) -> int | None:
        """The matched token's index; raises 401 when tokens are configured and none matches.

        Returns None (and lets the request through) when no token is configured.
        """
        return self.check(request.headers.get("authorization"))

    def check(self, authorization: str | None) -> int | None:
        """``require`` for the value of an ``Authorization`` header."""
        if not self:
            return None
        presented = token_from_header(authorization)
        if presented is None:
            raise self.unauthorized("missing Authorization: Bearer token")
        index = self.match(presented)
        if index is None:
            raise self.unauthorized("invalid bearer token")
        return index


def token_dependency(tokens: BearerTokens) -> Callable[..., Awaitable[None]]:
    """A FastAPI dependency enforcing ``tokens`` (e.g. the worker server's SOLVER_TOKEN).

    Declares the bearer scheme so the OpenAPI schema shows it; pass it in ``dependencies=[...]``.
    """

    async def require_token(request: Request, _=Depends(bearer_scheme)) -> None:  # noqa: B008
        tokens.require(request)

    return require_token


class BearerGuard:
    """ASGI middleware: every request to ``app`` but a ``GET``/``HEAD`` of ``open_paths`` (the probes)
    needs one of ``tokens`` (401 JSON otherwise); with no token configured, everything passes.

    For an app mounted inside another (``atto-work up``'s ``/solver``), where the app's own route
    dependencies cannot know the outer service's credentials. It guards every route, present and
    future, rather than the ones someone remembered to mark."""

    def __init__(self, app: ASGIApp, tokens: BearerTokens, open_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.tokens = tokens
        self.open_paths = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.tokens or self._is_open(scope):
            await self.app(scope, receive, send)
            return
        try:
            self.tokens.check(Headers(scope=scope).get("authorization"))
        except HTTPException as refused:
            await error(refused.status_code, str(refused.detail), refused.headers)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _is_open(self, scope: Scope) -> bool:
        if scope["method"] not in ("GET", "HEAD"):
            return False
        path, root = scope["path"], scope.get("root_path", "")
        return (path[len(root):] if root and path.startswith(root) else path) in self.open_paths
