"""``POST /works/{hash}``: validate a request, derive its threshold, publish WorkRequested, answer 202.

Every check runs before the publish, so a refused request never reaches the queue. This path is
the coordinator's hot path (intake target: thousands of requests a second on two cores): it does
the rule checks, one JSON encode and one publish, nothing else.
"""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, StrictInt, StrictStr, field_validator

from common.http import error
from coordinator.auth import ApiKeyGuard
from coordinator.callbacks import CallbackError
from coordinator.metrics import CoordinatorMetrics
from messaging import BrokerUnavailable, WorkRequested
from work import check_not_future, parse_network, parse_target, parse_timestamp, threshold

log = logging.getLogger(__name__)

#: Seconds a client is told to wait when the broker cannot take its request.
RETRY_AFTER_SECONDS = 5


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
    if any(ch.isspace() or ord(ch) < 0x21 for ch in value):
        raise ValueError("callback URL contains spaces or control characters")
    return value


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

    @field_validator("callback")
    @classmethod
    def _callback(cls, value: str) -> str:
        return parse_callback_url(value)


class WorkAccepted(BaseModel):
    hash: str = Field(description="the target, 64 upper-case hex characters")
    threshold: int = Field(description="the threshold the work will meet, unsigned 64-bit")


def create_router(max_clock_skew: float, metrics: CoordinatorMetrics,
                  guard: ApiKeyGuard | None = None) -> APIRouter:
    router = APIRouter()
    accepted = metrics.requests.labels("accepted")
    rejected = metrics.requests.labels("rejected")
    unavailable = metrics.requests.labels("unavailable")

    @router.post(
        "/works/{hash}",
        status_code=202,
        response_model=WorkAccepted,
        summary="Request a work; it is POSTed to the callback URL when found",
        dependencies=[Depends(guard or ApiKeyGuard())],
        responses={
            400: {"description": "bad hash, network, timestamp, callback (form, or an address "
                                 "that is not allowed) or JSON; body over 4 KiB"},
            401: {"description": "COORDINATOR_API_KEYS is set and no valid Bearer key was sent"},
            414: {"description": "URL longer than 2,048 characters"},
            429: {"description": "over COORDINATOR_RATE_LIMIT; retry after Retry-After"},
            503: {"description": "the queue cannot take the request now; retry after Retry-After"},
        },
    )
    async def request_work(
        request: Request,
        hash: Annotated[str, Path(description="the block's previous hash or public key, 64 hex")],
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
        message = WorkRequested(body.callback, target, limit)
        state = request.app.state
        try:
            await state.broker.publish(state.requested_topic, message.to_json())
        except BrokerUnavailable as exc:
            unavailable.inc()
            log.warning("queue unavailable: %s", exc, extra={"hash": message.hash})
            return error(503, "the work queue is unavailable; retry later",
                         headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        accepted.inc()
        return JSONResponse({"hash": message.hash, "threshold": limit}, status_code=202)

    return router
