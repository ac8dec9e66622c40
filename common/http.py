"""HTTP conventions shared by every service.

- client errors are ``4xx {"error": "<what is wrong>"}``, never a 5xx for bad input;
- request bodies and URLs are bounded before anything parses them;
- ``/health`` (the process lives), ``/ready`` (its dependencies answer) and ``/metrics`` (Prometheus).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from work import WorkError

MAX_BODY_BYTES = 4096
MAX_URL_CHARS = 2048


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _describe(exc: RequestValidationError) -> str:
    parts = []
    for item in exc.errors():
        where = ".".join(str(p) for p in item.get("loc", ()) if p != "body") or "body"
        message = str(item.get("msg", "invalid"))
        # Pydantic prefixes messages of errors raised in validators; the client needs only ours.
        message = message.removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Map validation, rule and HTTP errors to ``{"error": ...}`` bodies."""

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error(400, _describe(exc))

    @app.exception_handler(WorkError)
    async def _rules(request: Request, exc: WorkError) -> JSONResponse:
        return error(400, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))


class RequestLimits:
    """ASGI middleware refusing over-long URLs (414) and bodies (400, as all bad input) before the app
    reads them."""

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY_BYTES, max_url: int = MAX_URL_CHARS):
        self.app = app
        self.max_body = max_body
        self.max_url = max_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        url_length = len(scope.get("raw_path", b"")) + len(scope.get("query_string", b"")) + 1
        if url_length > self.max_url:
            await error(414, f"URL longer than {self.max_url} characters")(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_body:
                    await error(400, f"body larger than {self.max_body} bytes")(scope, receive, send)
                    return
        received = 0
        too_large = False

        async def bounded_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    too_large = True
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, bounded_receive, send)
        except _BodyTooLarge:
            await error(400, f"body larger than {self.max_body} bytes")(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


def add_probes(
    app: FastAPI,
    ready: Callable[[], Awaitable[dict[str, object]]],
    registry: CollectorRegistry = REGISTRY,
) -> None:
    """``/health``, ``/ready`` and ``/metrics``.

    ``ready`` returns a dict of checks; the service is ready when every value is truthy. The
    registry ``/metrics`` serves is kept as ``app.state.metrics_registry`` (``atto-work up`` serves
    several apps' registries on one ``/metrics``).
    """
    app.state.metrics_registry = registry

    @app.get("/health", tags=["probes"], summary="Liveness: the process serves requests")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", tags=["probes"], summary="Readiness: the service's dependencies answer")
    async def readiness() -> JSONResponse:
        checks = await ready()
        ok = all(bool(v) for v in checks.values())
        return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["probes"], summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
