"""``/works/{hash}``: ``POST`` validates a request, derives its threshold and hands it to the work
lifecycle (which queues a search, joins a pending one or answers from the cache), answers 202;
``GET`` reads a hash's state; ``DELETE`` cancels the caller's pending requests.

Every check runs before the store and the queue are touched, so a refused request is neither
recorded nor published. ``POST`` is the coordinator's hot path (intake target: thousands of requests
a second on two cores): the rule checks, one store call and at most one publish, nothing else. It is
declared to FastAPI like the other routes (its OpenAPI schema comes from the endpoint's signature),
but served by ``LeanRoute``, which calls the endpoint without FastAPI's per-request dependency and
serialisation machinery (most of the CPU a request cost).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field, StrictFloat, StrictInt, StrictStr, ValidationError, field_validator

from common.http import error
from coordinator.auth import ApiKeyGuard
from coordinator.callbacks import CallbackError
from coordinator.metrics import CoordinatorMetrics
from messaging import BrokerUnavailable
from store import Decision, RequestLimit, StoreUnavailable
from work import check_not_future, format_target, parse_network, parse_target, parse_timestamp, threshold

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Seconds a client is told to wait when the broker or the store cannot take its request.
RETRY_AFTER_SECONDS = 5
#: Seconds a client is told to wait when too many requests already wait for its hash.
BUSY_HASH_RETRY_AFTER_SECONDS = 1
#: What a callback URL may not hold: whitespace, or any character from NUL to space.
_SPACE_OR_CONTROL = re.compile(r"[\x00-\x20\s]")
HashPath = Annotated[str, Path(description="the block's previous hash or public key, 64 hex")]


def _unavailable(exc: Exception, hash: str) -> JSONResponse:
    log.warning("work state or queue unavailable: %s", exc, extra={"hash": hash})
    return error(503, "the work queue or its state store is unavailable; retry later",
                 headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def parse_callback_url(value: str) -> str:
    """An absolute ``http``/``https`` URL with a host, or ``ValueError`` saying what is wrong."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        raise ValueError("callback is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("callback must be an absolute http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("callback URL has no host")
    if _SPACE_OR_CONTROL.search(value):
        raise ValueError("callback URL contains spaces or control characters")
    return value


def _state_responses(missing: str) -> dict[int | str, dict[str, Any]]:
    """The error answers of GET and DELETE /works/{hash} (OpenAPI)."""
    return {
        400: {"description": "bad hash"},
        401: {"description": "COORDINATOR_API_KEYS is set and no valid Bearer key was sent"},
        404: {"description": missing},
        503: {"description": "the state store is unavailable; retry after Retry-After"},
    }


async def _ask_store(hash: str, ask: Callable[[bytes], Awaitable[T]]) -> tuple[bytes, T] | JSONResponse:
    """``ask(target)`` for a valid hash; the 400 or 503 answer otherwise."""
    try:
        target = parse_target(hash)
    except ValueError as exc:
        return error(400, str(exc))
    try:
        return target, await ask(target)
    except StoreUnavailable as exc:
        return _unavailable(exc, hash)


class WorkRequest(BaseModel):
    """The seed's request body."""

    network: StrictStr = Field(description="LIVE, BETA, DEV or LOCAL", examples=["LIVE"])
    timestamp: StrictStr | StrictInt = Field(
        description="block timestamp: ISO-8601 with a zone, or epoch milliseconds",
        examples=["2026-11-05T12:00:00Z", 1793880000000],
    )
    callback: StrictStr = Field(
        description="absolute http(s) URL the work is POSTed to", examples=["http://example.com/callback"]
    )
    timeout: StrictInt | StrictFloat | None = Field(None, description=(
        "seconds the request may wait for its work, 1 to WORK_MAX_TIMEOUT_SECONDS; unanswered by "
        "then it expires (no callback); default WORK_TIMEOUT_SECONDS"), examples=[600])

    @field_validator("callback")
    @classmethod
    def _callback(cls, value: str) -> str:
        return parse_callback_url(value)


def _is_json(content_type: str | None) -> bool:
    """``application/json`` or ``application/*+json``, parameters aside (FastAPI's strict rule: a
    body without a content type is not JSON)."""
    if not content_type:
        return False
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def _work_request(request: Request) -> WorkRequest:
    """The body as a ``WorkRequest``; failures raise what FastAPI raises for a body parameter (the
    app's error handlers make each a 400 ``{"error"}``)."""
    raw = await request.body()
    if not raw:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required",
                                       "input": None}])
    body: Any = raw
    if _is_json(request.headers.get("content-type")):
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise RequestValidationError([{"type": "json_invalid", "loc": ("body", exc.pos),
                                           "msg": "JSON decode error", "input": {}}]) from None
        except Exception:  # not UTF-8, nested too deep, ...
            raise HTTPException(400, "There was an error parsing the body") from None
    try:
        return WorkRequest.model_validate(body, from_attributes=True)  # as FastAPI validates a body
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


class LeanRoute(APIRoute):
    """``POST /works/{hash}`` as FastAPI declares it (path, body model, dependencies, answers: the
    OpenAPI schema), served without FastAPI's generic per-request work: the route's dependencies
    (the API key guard) are awaited with the request alone, the body is parsed once into a
    ``WorkRequest`` and the endpoint is called with ``(request, hash, body)``; its response is sent
    as it is. Errors are raised as FastAPI raises them, so the app's handlers answer them alike."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        checks = [depends.dependency for depends in self.dependencies]
        endpoint = self.endpoint

        async def handle(request: Request) -> Response:
            for check in checks:
                await check(request)
            body = await _work_request(request)
            return await endpoint(request, request.path_params["hash"], body)

        return handle


class WorkAccepted(BaseModel):
    hash: str = Field(description="the target, 64 upper-case hex characters")
    threshold: int = Field(description="the threshold the work will meet, unsigned 64-bit")
    state: str = Field(description="queued (a new search), joined (a pending search at least as "
                                   "strict) or cached (answered from the cache: the callback is on its way)")


class WorkStatus(BaseModel):
    hash: str = Field(description="the target, 64 upper-case hex characters")
    state: str = Field(description="queued, done, cancelled or expired")
    threshold: int = Field(description="queued: the pending search's; otherwise the strictest "
                                       "request's it answered, cancelled or expired")
    work: str | None = Field(None, description="with state done, while the work is cached")


class WorkCancelledAnswer(BaseModel):
    hash: str
    state: str = Field(description="cancelled")
    cancelled: int = Field(description="how many of the caller's pending requests were cancelled")


def create_router(max_clock_skew: float, metrics: CoordinatorMetrics,
                  guard: ApiKeyGuard | None = None) -> APIRouter:
    router = APIRouter()
    guard = guard or ApiKeyGuard()
    accepted_ = metrics.requests.labels("accepted")
    rejected = metrics.requests.labels("rejected")
    limited = metrics.requests.labels("limited")
    unavailable = metrics.requests.labels("unavailable")

    async def request_work(
        request: Request,
        hash: HashPath,
        body: WorkRequest,
    ) -> JSONResponse:
        try:
            target = parse_target(hash)
            timestamp = parse_timestamp(body.timestamp)
            check_not_future(timestamp, max_clock_skew)
            limit = threshold(parse_network(body.network), timestamp)
            await request.app.state.sender.admit(body.callback)
        except (ValueError, CallbackError) as exc:  # a refused or unresolvable callback too
            rejected.inc()
            return error(400, str(exc))
        state = request.app.state
        if state.delivery.backlog.full(body.callback):  # its receiver is down: queue nothing more
            unavailable.inc()
            return error(503, "too many callbacks to this callback URL's server wait for a retry; "
                              "retry later", headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        try:
            accepted = await state.lifecycle.submit(target, limit, body.callback, request.state.api_key,
                                                    body.timeout)
        except ValueError as exc:  # the timeout is out of range
            rejected.inc()
            return error(400, str(exc))
        except RequestLimit as exc:
            limited.inc()
            return error(429, str(exc), headers={"Retry-After": str(BUSY_HASH_RETRY_AFTER_SECONDS)})
        except (StoreUnavailable, BrokerUnavailable) as exc:
            unavailable.inc()
            return _unavailable(exc, hash)
        if accepted.decision is Decision.CACHED:
            state.delivery.answer_from_cache(accepted.request, accepted.work)
        accepted_.inc()
        return JSONResponse(accepted.body(), status_code=202)

    router.add_api_route(
        "/works/{hash}",
        request_work,
        methods=["POST"],
        route_class_override=LeanRoute,
        status_code=202,
        response_model=WorkAccepted,
        summary="Request a work; it is POSTed to the callback URL when found",
        dependencies=[Depends(guard)],
        responses={
            400: {"description": "bad hash, network, timestamp, timeout, callback (form, or an "
                                 "address that is not allowed) or JSON; body over 4 KiB"},
            401: {"description": "COORDINATOR_API_KEYS is set and no valid Bearer key was sent"},
            414: {"description": "URL longer than 2,048 characters"},
            429: {"description": "over COORDINATOR_RATE_LIMIT, or STORE_MAX_REQUESTS_PER_HASH requests "
                                 "already wait for this hash; retry after Retry-After"},
            503: {"description": "the queue or the state store cannot take the request now, or "
                                 "CALLBACK_MAX_PENDING_PER_ORIGIN callbacks to the callback's origin "
                                 "wait for a retry; retry after Retry-After"},
        },
    )

    @router.get(
        "/works/{hash}",
        response_model=WorkStatus,
        summary="The state of a hash's requests, and its work while cached",
        dependencies=[Depends(guard)],
        responses=_state_responses("nothing is known of this hash"),
    )
    async def work_status(request: Request, hash: HashPath) -> JSONResponse:
        asked = await _ask_store(hash, request.app.state.lifecycle.status)
        if isinstance(asked, JSONResponse):
            return asked
        target, body = asked
        if body is None:
            return error(404, f"no request for {format_target(target)} is known")
        return JSONResponse(body)

    @router.delete(
        "/works/{hash}",
        response_model=WorkCancelledAnswer,
        summary="Cancel the caller's pending requests for a hash (no callback is sent for them)",
        dependencies=[Depends(guard)],
        responses=_state_responses("none of the caller's requests for this hash is pending"),
    )
    async def cancel_work(request: Request, hash: HashPath) -> JSONResponse:
        api_key = request.state.api_key
        asked = await _ask_store(hash, lambda target: request.app.state.lifecycle.cancel(target, api_key))
        if isinstance(asked, JSONResponse):
            return asked
        target, count = asked
        if not count:
            return error(404, f"no pending request for {format_target(target)} to cancel")
        return JSONResponse({"hash": format_target(target), "state": "cancelled", "cancelled": count})

    return router
