"""The worker adapter against a test-only worker server (in-process through ASGITransport)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from prometheus_client import REGISTRY

from messaging import WorkGenerated, WorkRequested
from messaging.memory import MemoryBroker
from tests.pipeline.fakes import TinyWorker
from work import difficulty
from worker_adapter import Adapter, AdapterSettings, create_app
from worker_adapter.adapter import READ_AHEAD, capacity_from_ready

LOCAL_2026 = 429496729550000
PROBE = "adapter-probe"  # sees what the adapter publishes to work-generated


def messages(outcome: str) -> float:
    return REGISTRY.get_sample_value("adapter_messages_total", {"outcome": outcome}) or 0.0


def request(i: int) -> WorkRequested:
    return WorkRequested(f"http://127.0.0.1:9/cb/{i}", i.to_bytes(32, "big"), LOCAL_2026)


class Harness:
    def __init__(self, broker: MemoryBroker, adapter: Adapter) -> None:
        self.broker = broker
        self.adapter = adapter

    async def send(self, *requests: WorkRequested) -> None:
        for item in requests:
            await self.broker.publish("work-requested", item.to_json())

    async def generated(self, count: int, within: float = 10.0) -> list[WorkGenerated]:
        queue = self.broker._queues[PROBE].ready
        out = []
        async with asyncio.timeout(within):
            while len(out) < count:
                out.append(WorkGenerated.from_json((await queue.get()).data))
        return out


@asynccontextmanager
async def running(worker: TinyWorker, **settings: object) -> AsyncIterator[Harness]:
    broker = MemoryBroker(retry_min_seconds=0.05, retry_max_seconds=0.2)
    await broker.declare("work-generated", PROBE)
    app = create_app(AdapterSettings(messaging="memory", **settings), broker=broker,
                     worker_transport=httpx.ASGITransport(app=worker.app()))
    async with app.router.lifespan_context(app):
        yield Harness(broker, app.state.adapter)


async def test_request_is_solved_and_published_in_reference_form() -> None:
    async with running(TinyWorker()) as harness:
        sent = [request(i) for i in range(5)]
        await harness.send(*sent)
        got = await harness.generated(5)
    by_hash = {g.hash: g for g in got}
    assert set(by_hash) == {r.hash for r in sent}
    for r in sent:
        g = by_hash[r.hash]
        assert (g.callback_url, g.threshold) == (r.callback_url, r.threshold)
        assert difficulty(g.work, g.target) <= LOCAL_2026


async def test_outstanding_bound_comes_from_the_worker_server_or_the_setting() -> None:
    async with running(TinyWorker(capacity=3)) as harness:
        assert harness.adapter.max_outstanding == 3 * READ_AHEAD
    async with running(TinyWorker(capacity=3),
                       pubsub_subscriber_max_outstanding_element_count=7) as harness:
        assert harness.adapter.max_outstanding == 7
    assert capacity_from_ready({"ready": True, "checks": {"devices": ["a", "b"]}}) == 2
    assert capacity_from_ready({"ready": True, "checks": {"devices": 3}}) == 3
    assert capacity_from_ready({"ready": True}) is None


async def test_at_most_max_outstanding_requests_reach_the_worker() -> None:
    worker = TinyWorker(capacity=1, delay=0.3)
    async with running(worker) as harness:
        await harness.send(*[request(i) for i in range(6)])
        await asyncio.sleep(0.15)
        assert len(worker.calls) == READ_AHEAD
        await harness.generated(6)


async def test_malformed_message_is_acked_and_counted() -> None:
    before = messages("malformed")
    worker = TinyWorker()
    async with running(worker) as harness:
        await harness.broker.publish("work-requested", b'{"callbackUrl": "x", "hash": 1}')
        await harness.broker.publish("work-requested", b"\xff")
        await asyncio.sleep(0.3)
        assert harness.broker.backlog("work-requested-adapter") == 0
    assert messages("malformed") - before == 2
    assert worker.calls == []


async def test_invalid_work_is_not_published_and_the_request_comes_back() -> None:
    before = messages("invalid_work")
    worker = TinyWorker(lying=True)
    async with running(worker) as harness:
        await harness.send(request(1))
        for _ in range(200):
            if len(worker.calls) >= 3:
                break
            await asyncio.sleep(0.02)
        assert harness.broker.backlog(PROBE) == 0
    assert len(worker.calls) >= 3  # nacked and redelivered each time
    assert messages("invalid_work") - before >= 3


async def test_unreachable_worker_server_nacks_and_retries() -> None:
    before = messages("worker_failed")
    broker = MemoryBroker(retry_min_seconds=0.05, retry_max_seconds=0.2)
    await broker.declare("work-generated", PROBE)
    settings = AdapterSettings(messaging="memory", worker_url="http://127.0.0.1:9",
                               pubsub_subscriber_max_outstanding_element_count=1)
    app = create_app(settings, broker=broker)
    async with app.router.lifespan_context(app):
        await broker.publish("work-requested", request(1).to_json())
        await asyncio.sleep(0.5)
        assert broker.backlog(PROBE) == 0
    assert messages("worker_failed") - before >= 2


async def test_stop_lets_running_requests_finish_and_puts_back_the_rest() -> None:
    worker = TinyWorker(capacity=1, delay=0.5)
    async with running(worker, adapter_shutdown_grace_seconds=5) as harness:
        await harness.send(*[request(i) for i in range(5)])
        await asyncio.sleep(0.2)
        assert len(worker.calls) == 2
    # the lifespan exit stopped the adapter: the two running finished and were published ...
    assert len(worker.finished) == 2
    assert harness.broker.backlog(PROBE) == 2
    # ... and the three never started are back in the queue for another adapter
    assert harness.broker.backlog("work-requested-adapter") == 3


async def test_stop_nacks_running_requests_after_the_grace_period() -> None:
    worker = TinyWorker(capacity=1, delay=5)
    async with running(worker, adapter_shutdown_grace_seconds=0.2) as harness:
        await harness.send(*[request(i) for i in range(3)])
        await asyncio.sleep(0.2)
    assert worker.finished == []
    assert harness.broker.backlog(PROBE) == 0
    assert harness.broker.backlog("work-requested-adapter") == 3
