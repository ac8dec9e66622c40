"""The coordinator's work lifecycle, wired: coalescing, the cache, GET and DELETE /works/{hash},
deadlines and the WorkCancelled they publish, on the in-process store and on a real redis-server
(a real loopback callback receiver; the memory broker, read through probe subscriptions)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from atto_work.receiver import CallbackReceiver
from coordinator import CoordinatorSettings, create_app
from harness.polling import until
from harness.redis_server import RedisServer
from messaging import Message, WorkGenerated
from messaging.memory import MemoryBroker
from messaging.messages import deadline_of
from store.redis_store import RedisStore
from tests.pipeline.fakes import search
from work import Network, format_work, threshold

HASH = "89EB0D6A8A691DAE2CD15ED0369931CE0A949ECAFA5C3F93F8121833646E15C3"
TARGET = bytes.fromhex(HASH)
REQUESTED = "lifecycle-requested-probe"
CANCELLED = "lifecycle-cancelled-probe"
KEYS = ("key-one-0123456789", "key-two-0123456789")
LIMIT = threshold(Network.LOCAL, datetime(2026, 1, 1, tzinfo=UTC))  # the bodies' timestamp


class Service:
    def __init__(self, client: httpx.AsyncClient, broker: MemoryBroker, receiver: CallbackReceiver,
                 app: object) -> None:
        self.client = client
        self.broker = broker
        self.receiver = receiver
        self.app = app

    def body(self, **extra: object) -> dict[str, object]:
        return {"network": "LOCAL", "timestamp": "2026-01-01T00:00:00Z", "callback": self.receiver.url,
                **extra}

    async def post(self, key: str | None = None, **extra: object) -> httpx.Response:
        return await self.client.post(f"/works/{HASH}", json=self.body(**extra), headers=_auth(key))

    async def published(self, subscription: str) -> Message:
        return await asyncio.wait_for(self.broker.pull(subscription), 5)

    async def result(self, work: bytes) -> None:
        await self.broker.publish("work-generated",
                                  WorkGenerated("http://127.0.0.1:9/x", TARGET, LIMIT, work).to_json())

    def counted(self, outcome: str) -> float:
        registry = self.app.state.metrics.registry  # type: ignore[attr-defined]
        return registry.get_sample_value("coordinator_work_requests_total", {"outcome": outcome}) or 0.0


def _auth(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


async def _service(store_url: str | None, **settings: object) -> AsyncIterator[Service]:
    broker = MemoryBroker(retry_min_seconds=0.05, retry_max_seconds=0.2)
    await broker.declare("work-requested", REQUESTED)
    await broker.declare("work-cancelled", CANCELLED)
    config = CoordinatorSettings(messaging="memory", callback_timeout_seconds=2,
                                 callback_allowed_networks="127.0.0.0/8", **settings)
    store = (RedisStore(store_url, prefix=f"t{uuid.uuid4().hex[:8]}:", timeout=1.0,
                        cache_seconds=config.work_cache_seconds) if store_url else None)
    app = create_app(config, broker=broker, store=store)
    with CallbackReceiver() as receiver:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://coordinator") as client:
                yield Service(client, broker, receiver, app)


@pytest.fixture(params=["memory", "redis"])
async def service(request: pytest.FixtureRequest) -> AsyncIterator[Service]:
    url = request.getfixturevalue("redis_server").url if request.param == "redis" else None
    async for made in _service(url, **getattr(request, "param_settings", {})):
        yield made


@pytest.fixture(params=["memory", "redis"])
async def keyed(request: pytest.FixtureRequest) -> AsyncIterator[Service]:
    url = request.getfixturevalue("redis_server").url if request.param == "redis" else None
    async for made in _service(url, coordinator_api_keys=",".join(KEYS)):
        yield made


async def test_requests_for_one_hash_coalesce_and_each_gets_its_callback(service: Service) -> None:
    answers = await asyncio.gather(*(service.post() for _ in range(20)))
    assert all(a.status_code == 202 for a in answers), [a.text for a in answers]
    states = sorted(a.json()["state"] for a in answers)
    assert states == ["joined"] * 19 + ["queued"]
    message = await service.published(REQUESTED)
    assert service.broker.backlog(REQUESTED) == 0  # one search for twenty requests
    assert json.loads(message.data)["hash"] == HASH
    deadline = deadline_of(message)
    assert deadline is not None and abs(deadline - (time.time() + 600)) < 30  # WORK_TIMEOUT_SECONDS
    work = search(TARGET, json.loads(message.data)["threshold"])
    await service.result(work)
    callbacks = await asyncio.to_thread(service.receiver.wait_for, 20, 15)
    assert len(callbacks) == 20
    assert all(c.body == {"hash": HASH, "work": format_work(work)} for c in callbacks)
    assert service.counted("queued") == 1 and service.counted("joined") == 19


async def test_cached_work_answers_at_once_and_get_returns_it(service: Service) -> None:
    assert (await service.post()).json()["state"] == "queued"
    message = await service.published(REQUESTED)
    work = search(TARGET, json.loads(message.data)["threshold"])
    await service.result(work)
    await asyncio.to_thread(service.receiver.wait_for, 1, 10)
    answer = await service.post()
    assert answer.status_code == 202 and answer.json()["state"] == "cached"
    callbacks = await asyncio.to_thread(service.receiver.wait_for, 2, 10)
    assert [c.body["work"] for c in callbacks] == [format_work(work)] * 2
    assert service.broker.backlog(REQUESTED) == 0  # nothing queued for the cached answer
    status = await service.client.get(f"/works/{HASH.lower()}")
    assert status.status_code == 200
    assert status.json()["state"] == "done" and status.json()["work"] == format_work(work)


async def test_delete_cancels_stops_the_search_and_sends_no_callback(service: Service) -> None:
    await service.post()
    await service.post()
    message = await service.published(REQUESTED)
    answer = await service.client.delete(f"/works/{HASH}")
    assert answer.status_code == 200
    assert answer.json() == {"hash": HASH, "state": "cancelled", "cancelled": 2}
    cancel = await service.published(CANCELLED)
    assert json.loads(cancel.data) == {"hash": HASH}
    status = await service.client.get(f"/works/{HASH}")
    assert status.json()["state"] == "cancelled"
    again = await service.client.delete(f"/works/{HASH}")
    assert again.status_code == 404 and "error" in again.json()
    await service.result(search(TARGET, json.loads(message.data)["threshold"]))
    await until(lambda: service.broker.backlog("work-generated-coordinator") == 0)
    await asyncio.sleep(0.3)
    assert service.receiver.callbacks == []
    assert service.counted("cancelled") == 2


async def test_a_caller_cancels_only_its_own_requests(keyed: Service) -> None:
    assert (await keyed.post(KEYS[0])).status_code == 202
    assert (await keyed.post(KEYS[1])).status_code == 202
    assert (await keyed.client.delete(f"/works/{HASH}")).status_code == 401
    first = await keyed.client.delete(f"/works/{HASH}", headers=_auth(KEYS[0]))
    assert first.json()["cancelled"] == 1
    assert (await keyed.client.delete(f"/works/{HASH}", headers=_auth(KEYS[0]))).status_code == 404
    assert keyed.broker.backlog(CANCELLED) == 0  # the other caller still waits: the search goes on
    assert (await keyed.client.delete(f"/works/{HASH}", headers=_auth(KEYS[1]))).json()["cancelled"] == 1
    await keyed.published(CANCELLED)


@pytest.mark.parametrize("value", [0, 0.5, 3601, "60", True, None, [1]])
async def test_bad_timeout_is_refused_and_nothing_published(service: Service, value: object) -> None:
    answer = await service.client.post(f"/works/{HASH}", json=service.body(timeout=value))
    if value is None:  # an explicit null: the default applies
        assert answer.status_code == 202
        return
    assert answer.status_code == 400, answer.text
    assert "timeout" in answer.json()["error"]
    assert service.broker.backlog(REQUESTED) == 0


async def test_request_expires_at_its_deadline(service: Service) -> None:
    answer = await service.post(timeout=1)
    assert answer.status_code == 202
    message = await service.published(REQUESTED)
    deadline = deadline_of(message)
    assert deadline is not None and deadline - time.time() < 1.5
    cancel = await asyncio.wait_for(service.broker.pull(CANCELLED), 10)  # the sweep stops the search
    assert json.loads(cancel.data) == {"hash": HASH}
    assert (await service.client.get(f"/works/{HASH}")).json()["state"] == "expired"
    assert service.counted("expired") == 1
    await service.result(search(TARGET, json.loads(message.data)["threshold"]))
    await until(lambda: service.broker.backlog("work-generated-coordinator") == 0)
    await asyncio.sleep(0.3)
    assert service.receiver.callbacks == []


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", f"/works/{HASH}", 404), ("DELETE", f"/works/{HASH}", 404),
    ("GET", "/works/XYZ", 400), ("DELETE", f"/works/{HASH}00", 400),
])
async def test_unknown_or_bad_hash(service: Service, method: str, path: str, status: int) -> None:
    answer = await service.client.request(method, path)
    assert answer.status_code == status
    assert isinstance(answer.json()["error"], str)


async def test_redis_down_refuses_intake_and_holds_results_until_it_is_back() -> None:
    with RedisServer() as redis:
        async for service in _service(redis.url):
            assert (await service.client.get("/ready")).status_code == 200
            redis.kill()
            answer = await service.post()
            assert answer.status_code == 503 and answer.headers["Retry-After"]
            assert "error" in answer.json()
            assert service.broker.backlog(REQUESTED) == 0  # nothing queued
            assert (await service.client.get(f"/works/{HASH}")).status_code == 503
            assert (await service.client.delete(f"/works/{HASH}")).status_code == 503
            ready = await service.client.get("/ready")
            assert ready.status_code == 503 and ready.json()["checks"]["store"] is False
            # A result meanwhile waits in the queue (nacked) and is delivered once Redis is back:
            # empty, so to the callback its message carries.
            work = search(TARGET, LIMIT)
            await service.broker.publish("work-generated",
                                         WorkGenerated(service.receiver.url, TARGET, LIMIT, work).to_json())
            await asyncio.sleep(1.0)
            assert service.receiver.callbacks == []
            redis.start()
            [callback] = await asyncio.to_thread(service.receiver.wait_for, 1, 20)
            assert callback.body == {"hash": HASH, "work": format_work(work)}
            assert (await service.post()).json()["state"] == "cached"
