"""WorkLifecycle on the in-process store: what intake, delivery, GET, DELETE and the sweep decide."""

from __future__ import annotations

import asyncio

import pytest

from coordinator.lifecycle import Deliveries, WorkLifecycle, caller_id
from messaging import BrokerUnavailable, WorkGenerated, WorkRequested
from store import Decision, StoreSettings, StoreUnavailable
from store.memory import MemoryStore
from tests.store.conftest import Clock
from work import difficulty, format_target

TARGET = bytes(32)
H = format_target(TARGET)
WORK = bytes.fromhex("576887B000000000")  # docs/spec.md's test vector: difficulty 5029785218
D = difficulty(WORK, TARGET)
LOOSE, STRICT = D + 1000, D - 1000
RESULT = WorkGenerated("http://127.0.0.1:9/message", TARGET, LOOSE, WORK)


class Queue:
    """The two callables the lifecycle is given, recording what it asked; ``fail`` makes them raise."""

    def __init__(self) -> None:
        self.published: list[tuple[WorkRequested, float]] = []
        self.stopped: list[str] = []
        self.fail = False

    async def publish(self, message: WorkRequested, deadline: float) -> None:
        if self.fail:
            raise BrokerUnavailable("queue down")
        self.published.append((message, deadline))

    async def stop_search(self, hash: str) -> None:
        if self.fail:
            raise BrokerUnavailable("queue down")
        self.stopped.append(hash)


@pytest.fixture
def queue() -> Queue:
    return Queue()


@pytest.fixture
def store(clock: Clock) -> MemoryStore:
    return MemoryStore(clock=clock)


@pytest.fixture
def lifecycle(store: MemoryStore, queue: Queue, clock: Clock) -> WorkLifecycle:
    return WorkLifecycle(store, queue.publish, queue.stop_search, StoreSettings(), lease=30, clock=clock)


async def submit(lifecycle: WorkLifecycle, threshold: int, key: str | None = None, wait: float | None = None):
    return await lifecycle.submit(TARGET, threshold, f"http://127.0.0.1:9/{threshold}", key, wait)


def count(lifecycle: WorkLifecycle, outcome: str) -> float:
    registry = lifecycle.metrics.registry
    return registry.get_sample_value("coordinator_work_requests_total", {"outcome": outcome}) or 0.0


async def test_one_search_is_published_for_requests_it_satisfies(lifecycle, queue, clock):
    before = count(lifecycle, "queued"), count(lifecycle, "joined")
    first = await submit(lifecycle, STRICT)
    assert first.body() == {"hash": H, "threshold": STRICT, "state": "queued"}
    assert (await submit(lifecycle, LOOSE)).decision is Decision.JOINED
    message = WorkRequested(f"http://127.0.0.1:9/{STRICT}", TARGET, STRICT)
    assert queue.published == [(message, clock.now + 600)]
    assert (count(lifecycle, "queued"), count(lifecycle, "joined")) == (before[0] + 1, before[1] + 1)


async def test_a_request_s_own_timeout_sets_its_deadline(lifecycle, queue, clock):
    await submit(lifecycle, LOOSE, wait=5)
    assert queue.published[0][1] == clock.now + 5


@pytest.mark.parametrize("wait", [0, 0.5, 3601])
async def test_a_timeout_out_of_range_is_refused_before_anything_happens(lifecycle, queue, wait):
    with pytest.raises(ValueError, match="timeout"):
        await submit(lifecycle, LOOSE, wait=wait)
    assert queue.published == [] and await lifecycle.status(TARGET) is None


async def test_a_refused_publish_leaves_nothing_behind(lifecycle, queue):
    queue.fail = True
    with pytest.raises(BrokerUnavailable):
        await submit(lifecycle, LOOSE)
    assert await lifecycle.status(TARGET) is None
    queue.fail = False
    assert (await submit(lifecycle, LOOSE)).decision is Decision.QUEUED  # the retry publishes


async def test_a_result_is_delivered_once_and_then_answers_from_the_cache(lifecycle, queue):
    first = (await submit(lifecycle, LOOSE)).request
    second = (await submit(lifecycle, LOOSE + 1)).request
    strict = (await submit(lifecycle, STRICT)).request
    found = await lifecycle.on_result(RESULT)
    assert (found.requests, found.work, found.retry_later) == ((first, second), WORK, False)
    assert (await lifecycle.on_result(RESULT)).retry_later  # a duplicate while delivering
    await lifecycle.delivered(found.requests)
    assert await lifecycle.on_result(RESULT) == Deliveries((), WORK, False)
    assert (await lifecycle.status(TARGET))["state"] == "queued"  # the strict one still waits
    await lifecycle.cancel(TARGET, None)
    assert await lifecycle.status(TARGET) == {"hash": H, "state": "cancelled", "threshold": strict.threshold}
    cached = await submit(lifecycle, D)
    assert (cached.decision, cached.work) == (Decision.CACHED, WORK)
    assert await lifecycle.status(TARGET) == {"hash": H, "state": "done", "threshold": D,
                                              "work": "576887B000000000"}
    assert len(queue.published) == 2  # the loose search, then the strict one: nothing for the cached


async def test_a_failed_callback_is_called_back_by_the_redelivered_result(lifecycle):
    request = (await submit(lifecycle, LOOSE)).request
    found = await lifecycle.on_result(RESULT)
    await lifecycle.failed(found.requests)
    again = await lifecycle.on_result(RESULT)
    assert again.requests == (request,)


async def test_waiting_requests_without_a_running_search_get_one(lifecycle, store, queue):
    await submit(lifecycle, LOOSE)
    too_strict = (await submit(lifecycle, D - 1)).request
    await store.forget_search(H)  # as after a requeue the queue refused
    queue.fail = True
    with pytest.raises(BrokerUnavailable):
        await lifecycle.on_result(RESULT)
    queue.fail = False
    found = await lifecycle.on_result(RESULT)  # the result, redelivered
    assert queue.published[-1] == (WorkRequested(too_strict.callback, TARGET, D - 1), too_strict.deadline)
    assert found.requests == ()  # the loose one was claimed by the first attempt; its lease runs


async def test_cancel_is_per_api_key_and_stops_the_search_with_the_last(lifecycle, queue):
    alice = (await submit(lifecycle, LOOSE, key="alice")).request
    await submit(lifecycle, LOOSE, key="bob")
    assert alice.caller == caller_id("alice")  # the store keeps a digest, never the key
    assert await lifecycle.cancel(TARGET, "mallory") == 0
    assert await lifecycle.cancel(TARGET, "alice") == 1
    assert queue.stopped == []
    assert await lifecycle.cancel(TARGET, "bob") == 1
    assert queue.stopped == [H]
    assert (await lifecycle.status(TARGET))["state"] == "cancelled"


async def test_without_api_keys_a_cancel_cancels_every_request(lifecycle, queue):
    await submit(lifecycle, LOOSE, key=None)
    await submit(lifecycle, STRICT, key=None)
    assert await lifecycle.cancel(TARGET, None) == 2
    assert queue.stopped == [H]


async def test_a_lost_stop_does_not_fail_the_cancel(lifecycle, queue):
    await submit(lifecycle, LOOSE)
    queue.fail = True
    assert await lifecycle.cancel(TARGET, None) == 1


async def test_the_sweep_expires_requests_and_stops_their_search(lifecycle, queue, clock):
    before = count(lifecycle, "expired")
    await submit(lifecycle, LOOSE, wait=10)
    assert await lifecycle.is_live(TARGET)
    clock.now += 5
    assert await lifecycle.sweep() == [] and queue.stopped == []
    clock.now += 6
    assert [(e.hash, e.count, e.stop) for e in await lifecycle.sweep()] == [(H, 1, True)]
    assert queue.stopped == [H] and count(lifecycle, "expired") == before + 1
    assert (await lifecycle.status(TARGET))["state"] == "expired"
    assert not await lifecycle.is_live(TARGET)
    assert (await lifecycle.on_result(RESULT)).requests == ()  # no callback once expired


class FlakyStore(MemoryStore):
    """Its first expire fails as a Redis outage would; every call is counted."""

    def __init__(self) -> None:
        super().__init__()
        self.sweeps = 0
        self.twice = asyncio.Event()

    async def expire(self, now: float, limit: int = 1000):
        self.sweeps += 1
        if self.sweeps >= 2:
            self.twice.set()
        if self.sweeps == 1:
            raise StoreUnavailable("down")
        return await super().expire(now, limit)


async def test_the_sweeper_keeps_going_through_a_store_outage(queue):
    store = FlakyStore()
    lifecycle = WorkLifecycle(store, queue.publish, queue.stop_search, StoreSettings(), lease=30)
    sweeper = asyncio.create_task(lifecycle.run_sweeper(interval=0.01))
    try:
        await asyncio.wait_for(store.twice.wait(), timeout=30)
    finally:
        sweeper.cancel()
    assert store.sweeps >= 2


def test_the_caller_is_a_digest_of_the_key():
    assert caller_id(None) is None
    assert caller_id("alice") == caller_id("alice") != caller_id("bob")
    assert "alice" not in caller_id("alice")


async def test_a_result_for_a_hash_the_store_lost_goes_to_the_message_s_callback(lifecycle):
    found = await lifecycle.on_result(RESULT)  # e.g. Redis restarted empty since the request
    assert [(r.callback, r.threshold) for r in found.requests] == [(RESULT.callback_url, LOOSE)]
    await lifecycle.failed(found.requests)  # nothing to release: the redelivered message comes back
    await lifecycle.delivered(found.requests)
    assert (await lifecycle.on_result(RESULT)).requests == found.requests  # still unknown


async def test_a_result_after_a_cancel_calls_nobody_back(lifecycle):
    await submit(lifecycle, LOOSE)
    await lifecycle.cancel(TARGET, None)
    assert (await lifecycle.on_result(RESULT)).requests == ()
