"""Coordinator result delivery against a real loopback callback receiver (memory broker)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client import REGISTRY

from atto_work.receiver import CallbackReceiver
from coordinator import CoordinatorSettings, create_app
from coordinator.callbacks import MAX_RESPONSE_BYTES, CallbackFailed, CallbackSender
from harness.polling import until
from messaging import WorkGenerated
from messaging.memory import MemoryBroker
from tests.pipeline.fakes import invalid_work, search
from work import difficulty, format_work

TARGET = bytes(range(32))
LOCAL_2026 = 429496729550000
PROBE = "delivery-probe"  # sees what the coordinator publishes to work-requested


def results(outcome: str) -> float:
    return REGISTRY.get_sample_value("coordinator_results_total", {"outcome": outcome}) or 0.0



class Harness:
    def __init__(self, broker: MemoryBroker, receiver: CallbackReceiver) -> None:
        self.broker = broker
        self.receiver = receiver

    async def publish(self, work: bytes, callback: str | None = None) -> WorkGenerated:
        result = WorkGenerated(callback or self.receiver.url, TARGET, LOCAL_2026, work)
        await self.broker.publish("work-generated", result.to_json())
        return result

    async def wait(self, count: int, within: float = 10.0) -> list:
        return await asyncio.to_thread(self.receiver.wait_for, count, within)


@pytest.fixture
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    overrides = getattr(request, "param", {})
    broker = MemoryBroker(retry_min_seconds=0.05, retry_max_seconds=0.2)
    await broker.declare("work-requested", PROBE)
    settings = CoordinatorSettings(messaging="memory", callback_timeout_seconds=2,
                                   callback_allowed_networks="127.0.0.0/8", **overrides)
    app = create_app(settings, broker=broker)
    with CallbackReceiver() as receiver:
        async with app.router.lifespan_context(app):
            yield Harness(broker, receiver)


async def test_valid_work_is_posted_as_hash_and_work(harness: Harness) -> None:
    work = search(TARGET, LOCAL_2026)
    result = await harness.publish(work)
    [callback] = await harness.wait(1)
    assert callback.body == {"hash": result.hash, "work": format_work(work)}
    assert callback.headers["Content-Type"] == "application/json"
    assert difficulty(work, TARGET) <= LOCAL_2026


async def test_failing_receiver_is_retried_until_it_answers(harness: Harness) -> None:
    retried = results("retried")
    harness.receiver.fail_next(3, status=500)
    work = search(TARGET, LOCAL_2026)
    await harness.publish(work)
    [callback] = await harness.wait(1)
    assert harness.receiver.refused == 3
    assert callback.body["work"] == format_work(work)
    assert results("retried") - retried == 3


async def test_unreachable_receiver_is_retried_until_it_is_back(harness: Harness) -> None:
    retried = results("retried")
    harness.receiver.stop()
    await harness.publish(search(TARGET, LOCAL_2026))
    await asyncio.sleep(0.5)  # several failed attempts at 0.05-0.2 s intervals
    assert results("retried") - retried >= 2
    assert harness.receiver.callbacks == []
    harness.receiver.start()
    [callback] = await harness.wait(1)
    assert callback.body["hash"] == TARGET.hex().upper()


async def test_invalid_work_is_never_sent_and_the_request_is_requeued(harness: Harness) -> None:
    before = results("invalid_work")
    bad = invalid_work(TARGET, LOCAL_2026)
    await harness.publish(bad)
    await until(lambda: harness.broker.backlog(PROBE) > 0)
    message = harness.broker._queues[PROBE].ready.get_nowait()
    assert json.loads(message.data) == {"callbackUrl": harness.receiver.url,
                                        "hash": TARGET.hex().upper(), "threshold": LOCAL_2026}
    assert results("invalid_work") - before == 1
    await asyncio.sleep(0.3)
    assert harness.receiver.callbacks == []


@pytest.mark.parametrize("harness", [{"callback_max_age": 0.3}], indirect=True)
async def test_result_older_than_max_age_is_dropped(harness: Harness) -> None:
    before = results("dropped")
    harness.receiver.stop()
    await harness.publish(search(TARGET, LOCAL_2026))
    await until(lambda: results("dropped") > before)
    assert results("dropped") - before == 1
    await asyncio.sleep(0.3)
    assert harness.broker.backlog("work-generated-coordinator") == 0
    assert harness.broker.backlog(PROBE) == 0


async def test_malformed_result_is_acked_and_counted(harness: Harness) -> None:
    before = results("malformed")
    await harness.broker.publish("work-generated", b'{"hash": "nope"}')
    await until(lambda: results("malformed") > before)
    assert results("malformed") - before == 1
    await asyncio.sleep(0.2)
    assert harness.broker.backlog("work-generated-coordinator") == 0
    assert results("malformed") - before == 1  # not redelivered


async def test_sender_does_not_follow_redirects_and_bounds_the_read() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.path == "/redirect":
            return httpx.Response(307, headers={"Location": "http://127.0.0.1:9/elsewhere"})
        return httpx.Response(500, content=b"x" * 100_000)

    sender = CallbackSender(timeout=2, transport=httpx.MockTransport(answer))
    with pytest.raises(CallbackFailed, match="307"):
        await sender.send("http://client.test/redirect", "AB" * 32, "00" * 8)
    assert seen == ["http://client.test/redirect"]
    with pytest.raises(CallbackFailed, match="500") as failure:
        await sender.send("http://client.test/big", "AB" * 32, "00" * 8)
    assert len(str(failure.value)) < MAX_RESPONSE_BYTES + 100
    await sender.close()
