"""Coordinator intake: every bad input gets a 4xx ``{"error"}`` and publishes nothing; the broker
down gets 503 with Retry-After; a good request is published in the reference JSON form."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from coordinator import CoordinatorSettings, create_app
from coordinator.callbacks import CallbackRefused, CallbackSender
from messaging import WorkRequested
from messaging.memory import MemoryBroker
from tests.clock import Ahead, resolve
from work import Network, threshold

HASH = "89EB0D6A8A691DAE2CD15ED0369931CE0A949ECAFA5C3F93F8121833646E15C3"
GOOD = {"network": "LOCAL", "timestamp": "2026-01-01T00:00:00Z", "callback": "http://127.0.0.1:9/cb"}
PROBE = "intake-probe"  # a second subscription on work-requested, to see what was published


def _future(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def _with(**changes: object) -> dict[str, object]:
    body = dict(GOOD)
    for key, value in changes.items():
        if value is _MISSING:
            body.pop(key)
        else:
            body[key] = value
    return body


_MISSING = object()

# (case id, path hash, raw body or JSON object, expected status, words expected in the error)
BAD_INPUTS = [
    ("hash too short", HASH[:-1], GOOD, 400, "64 hex"),
    ("hash too long", HASH + "0", GOOD, 400, "64 hex"),
    ("hash not hex", "G" * 64, GOOD, 400, "hex"),
    ("network unknown", HASH, _with(network="UNKNOWN"), 400, "unknown network"),
    ("network wrong case", HASH, _with(network="live"), 400, "unknown network"),
    ("network not a string", HASH, _with(network=1), 400, "network"),
    ("network missing", HASH, _with(network=_MISSING), 400, "network"),
    ("timestamp before 2024", HASH, _with(timestamp="2023-12-31T23:59:59Z"), 400, "before 2024"),
    ("timestamp epoch ms before 2024", HASH, _with(timestamp=1703980800000), 400, "before 2024"),
    ("timestamp 2 min ahead", HASH, _with(timestamp=Ahead(120)), 400, "future"),
    ("timestamp epoch ms ahead", HASH, _with(timestamp=Ahead(3600, epoch_ms=True)), 400, "future"),
    ("timestamp not ISO", HASH, _with(timestamp="yesterday"), 400, "ISO-8601"),
    ("timestamp without zone", HASH, _with(timestamp="2026-01-01T00:00:00"), 400, "zone"),
    ("timestamp boolean", HASH, _with(timestamp=True), 400, "timestamp"),
    ("timestamp float", HASH, _with(timestamp=1.7e12), 400, "timestamp"),
    ("timestamp negative", HASH, _with(timestamp=-1), 400, "range"),
    ("timestamp missing", HASH, _with(timestamp=_MISSING), 400, "timestamp"),
    ("callback ftp", HASH, _with(callback="ftp://example.com/cb"), 400, "http"),
    ("callback relative", HASH, _with(callback="/cb"), 400, "http"),
    ("callback without scheme", HASH, _with(callback="example.com/cb"), 400, "http"),
    ("callback without host", HASH, _with(callback="http:///cb"), 400, "host"),
    ("callback bad port", HASH, _with(callback="http://example.com:99999/cb"), 400, "valid URL"),
    ("callback with space", HASH, _with(callback="http://exa mple.com/cb"), 400, "space"),
    ("callback empty", HASH, _with(callback=""), 400, "callback"),
    ("callback not a string", HASH, _with(callback=["http://example.com"]), 400, "callback"),
    ("callback missing", HASH, _with(callback=_MISSING), 400, "callback"),
    ("callback refused by the sender's policy", HASH, _with(callback="http://forbidden.test/cb"), 400,
     "not allowed"),
    ("body not JSON", HASH, b"{\"network\": ", 400, "JSON"),
    ("body a JSON array", HASH, b"[]", 400, ""),
    ("body JSON null", HASH, b"null", 400, ""),
    ("body empty", HASH, b"", 400, ""),
    ("body over 4 KiB", HASH, _with(callback="http://example.com/" + "a" * 5000), 400, "larger"),
]


class RefusingSender(CallbackSender):
    """A policy layered on the sender: what the intake does when ``admit`` refuses a URL."""

    async def admit(self, url: str) -> None:
        if "forbidden" in url:
            raise CallbackRefused("callback host is not allowed")


@pytest.fixture
async def service() -> AsyncIterator[tuple[httpx.AsyncClient, MemoryBroker]]:
    broker = MemoryBroker()
    await broker.declare("work-requested", PROBE)
    app = create_app(CoordinatorSettings(messaging="memory"), broker=broker,
                     sender=RefusingSender(timeout=1))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://coordinator") as client:
            yield client, broker


async def _post(client: httpx.AsyncClient, hash: str, body: object) -> httpx.Response:
    if isinstance(body, bytes):
        return await client.post(f"/works/{hash}", content=body,
                                 headers={"Content-Type": "application/json"})
    return await client.post(f"/works/{hash}", json=resolve(body))


@pytest.mark.parametrize(("path_hash", "body", "status", "words"),
                         [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS])
async def test_bad_input_is_refused_and_nothing_published(
    service: tuple[httpx.AsyncClient, MemoryBroker], path_hash: str, body: object, status: int,
    words: str,
) -> None:
    client, broker = service
    response = await _post(client, path_hash, body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert isinstance(error, str) and error
    assert words.lower() in error.lower()
    assert broker.backlog(PROBE) == 0


async def test_good_request_is_published_in_reference_form(
    service: tuple[httpx.AsyncClient, MemoryBroker],
) -> None:
    client, broker = service
    response = await _post(client, HASH.lower(), GOOD)
    assert response.status_code == 202, response.text
    expected = threshold(Network.LOCAL, datetime(2026, 1, 1, tzinfo=UTC))
    assert response.json() == {"hash": HASH, "threshold": expected, "state": "queued"}
    assert broker.backlog(PROBE) == 1
    message = await asyncio.wait_for(broker.pull(PROBE), 5)
    assert json.loads(message.data) == {"callbackUrl": GOOD["callback"], "hash": HASH,
                                        "threshold": expected}
    assert WorkRequested.from_json(message.data).threshold == expected


async def test_epoch_milliseconds_and_skew_within_tolerance_are_accepted(
    service: tuple[httpx.AsyncClient, MemoryBroker],
) -> None:
    client, broker = service
    soon = int(_future(30).timestamp() * 1000)
    response = await _post(client, HASH, _with(timestamp=soon, network="LIVE"))
    assert response.status_code == 202, response.text
    assert response.json()["threshold"] == threshold(Network.LIVE, datetime.now(UTC))
    assert broker.backlog(PROBE) == 1


async def test_broker_down_answers_503_with_retry_after(
    service: tuple[httpx.AsyncClient, MemoryBroker],
) -> None:
    client, broker = service
    await broker.close()
    response = await _post(client, HASH, GOOD)
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert "unavailable" in response.json()["error"]
    assert broker.backlog(PROBE) == 0
