"""Coordinator result delivery against a real loopback callback receiver (memory broker)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry

from atto_work.receiver import CallbackReceiver
from coordinator import CoordinatorSettings, create_app
from harness.polling import until
from messaging import WorkGenerated
from messaging.memory import MemoryBroker
from tests.pipeline.fakes import invalid_work, search
from work import difficulty, format_work

TARGET = bytes(range(32))
LOCAL_2026 = 429496729550000
PROBE = "delivery-probe"  # sees what the coordinator publishes to work-requested


class Harness:
    def __init__(self, broker: MemoryBroker, receiver: CallbackReceiver, registry: CollectorRegistry) -> None:
        self.broker = broker
        self.receiver = receiver
        self.registry = registry

    def results(self, outcome: str) -> float:
        """The app's own ``coordinator_results_total`` (its registry: no state shared between tests)."""
        return self.registry.get_sample_value("coordinator_results_total", {"outcome": outcome}) or 0.0

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
            yield Harness(broker, receiver, app.state.metrics.registry)


async def test_valid_work_is_posted_as_hash_and_work(harness: Harness) -> None:
    work = search(TARGET, LOCAL_2026)
    result = await harness.publish(work)
    [callback] = await harness.wait(1)
    assert callback.body == {"hash": result.hash, "work": format_work(work)}
    assert callback.headers["Content-Type"] == "application/json"
    assert difficulty(work, TARGET) <= LOCAL_2026


CONCURRENCY = 8


@pytest.mark.parametrize("harness", [{"pubsub_subscriber_max_outstanding_element_count": CONCURRENCY}],
                         indirect=True)
async def test_callbacks_reuse_kept_alive_connections(harness: Harness) -> None:
    """200 callbacks to one keep-alive receiver open at most one connection per concurrent delivery."""
    work = search(TARGET, LOCAL_2026)
    for _ in range(200):
        await harness.publish(work)
    callbacks = await harness.wait(200, within=60)
    assert len(callbacks) == 200
    assert 1 <= harness.receiver.connections_accepted <= CONCURRENCY


async def test_failing_receiver_is_retried_until_it_answers(harness: Harness) -> None:
    retried = harness.results("retried")
    harness.receiver.fail_next(3, status=500)
    work = search(TARGET, LOCAL_2026)
    await harness.publish(work)
    [callback] = await harness.wait(1)
    assert harness.receiver.refused == 3
    assert callback.body["work"] == format_work(work)
    assert harness.results("retried") - retried == 3


async def test_unreachable_receiver_is_retried_until_it_is_back(harness: Harness) -> None:
    retried = harness.results("retried")
    harness.receiver.stop()
    await harness.publish(search(TARGET, LOCAL_2026))
    await until(lambda: harness.results("retried") - retried >= 2, what="two failed attempts")
    assert harness.receiver.callbacks == []
    harness.receiver.start()
    [callback] = await harness.wait(1)
    assert callback.body["hash"] == TARGET.hex().upper()


async def test_invalid_work_is_never_sent_and_the_request_is_requeued(harness: Harness) -> None:
    before = harness.results("invalid_work")
    bad = invalid_work(TARGET, LOCAL_2026)
    await harness.publish(bad)
    await until(lambda: harness.broker.backlog(PROBE) > 0)
    message = await asyncio.wait_for(harness.broker.pull(PROBE), 5)
    assert json.loads(message.data) == {"callbackUrl": harness.receiver.url,
                                        "hash": TARGET.hex().upper(), "threshold": LOCAL_2026}
    assert harness.results("invalid_work") - before == 1
    await asyncio.sleep(0.3)
    assert harness.receiver.callbacks == []


@pytest.mark.parametrize("harness", [{"callback_max_age": 0.3}], indirect=True)
async def test_result_older_than_max_age_is_dropped(harness: Harness) -> None:
    before = harness.results("dropped")
    harness.receiver.stop()
    await harness.publish(search(TARGET, LOCAL_2026))
    await until(lambda: harness.results("dropped") > before)
    assert harness.results("dropped") - before == 1
    await asyncio.sleep(0.3)
    assert harness.broker.backlog("work-generated-coordinator") == 0
    assert harness.broker.backlog(PROBE) == 0


async def test_malformed_result_is_acked_and_counted(harness: Harness) -> None:
    before = harness.results("malformed")
    await harness.broker.publish("work-generated", b'{"hash": "nope"}')
    await until(lambda: harness.results("malformed") > before)
    assert harness.results("malformed") - before == 1
    await asyncio.sleep(0.2)
    assert harness.broker.backlog("work-generated-coordinator") == 0
    assert harness.results("malformed") - before == 1  # not redelivered


async def test_a_refused_callback_is_dropped_not_retried(harness: Harness) -> None:
    """An address the policy refuses (here link-local metadata) is never contacted nor retried."""
    await harness.publish(search(TARGET, LOCAL_2026), callback="http://169.254.169.254/cb")
    await until(lambda: harness.results("refused") == 1)
    await asyncio.sleep(0.3)  # several redelivery intervals: a nacked message would be back
    assert harness.results("refused") == 1 and harness.results("retried") == 0
    assert harness.broker.backlog("work-generated-coordinator") == 0


async def test_metrics_are_the_apps_own() -> None:
    first, second = (create_app(CoordinatorSettings(messaging="memory")) for _ in range(2))
    first.state.metrics.results.labels("delivered").inc()
    assert first.state.metrics.registry.get_sample_value(
        "coordinator_results_total", {"outcome": "delivered"}) == 1
    assert not second.state.metrics.registry.get_sample_value(
        "coordinator_results_total", {"outcome": "delivered"})
