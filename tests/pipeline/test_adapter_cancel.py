"""The adapter and WorkCancelled / deadlines: a cancelled or expired request is dropped when taken,
a running one is stopped on the worker server (real loopback HTTP, the memory broker's fan-out)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

import pytest

from harness.polling import until
from messaging import WorkCancelled
from messaging.messages import deadline_attributes
from tests.pipeline.fakes import TinyWorker
from tests.pipeline.test_adapter import WAIT, Harness, request, running


async def cancel(harness: Harness, i: int) -> None:
    await harness.broker.publish("work-cancelled", WorkCancelled(request(i).target).to_json())


async def test_queued_request_cancelled_before_it_is_taken_is_dropped() -> None:
    worker = TinyWorker(capacity=1, delay=0.5)
    async with running(worker) as harness:
        await harness.send(request(1), request(2))  # both held: the adapter holds two (READ_AHEAD)
        await until(lambda: len(worker.calls) >= 1)
        await harness.send(request(3))  # waits in the queue
        await cancel(harness, 3)
        await harness.send(request(3))  # published after the cancel: a new search, solved
        got = await harness.generated(3)
        assert sorted(g.hash for g in got) == sorted(request(i).hash for i in (1, 2, 3))
        await until(lambda: harness.count("cancelled") == 1)
        assert worker.calls.count(request(3).hash) == 1


@pytest.mark.parametrize("protocol", ["works", "rpc"])  # DELETE /works/{hash}, RPC work_cancel
async def test_running_search_is_stopped_on_the_worker_server_and_acked(protocol: str) -> None:
    worker = TinyWorker(capacity=1, delay=WAIT)
    async with running(worker, worker_protocol=protocol) as harness:
        await harness.send(request(7))
        await until(lambda: len(worker.calls) == 1)
        started = time.monotonic()
        await cancel(harness, 7)
        await until(lambda: harness.count("cancelled") == 1)
        assert time.monotonic() - started < WAIT / 2
        assert worker.cancelled == [request(7).hash]
        if protocol == "rpc":
            assert json.loads(worker.rpc_bodies[-1]) == {"action": "work_cancel", "hash": request(7).hash}
        await asyncio.sleep(0.5)  # a nacked request would be back within 0.2 s
        assert worker.calls == [request(7).hash]
        assert harness.count("worker_failed") == 0
        assert harness.broker.backlog("adapter-probe") == 0


async def test_request_past_its_deadline_is_dropped_without_solving() -> None:
    worker = TinyWorker(capacity=1)
    async with running(worker) as harness:
        await harness.broker.publish("work-requested", request(4).to_json(),
                                     deadline_attributes(time.time() - 1))
        await until(lambda: harness.count("expired") == 1)
        assert worker.calls == []


async def test_deadline_bounds_the_solve_and_a_request_reaching_it_is_acked() -> None:
    worker = TinyWorker(capacity=1, delay=5)
    async with running(worker) as harness:
        started = time.monotonic()
        await harness.broker.publish("work-requested", request(5).to_json(),
                                     deadline_attributes(time.time() + 1))
        await until(lambda: harness.count("expired") == 1, within=WAIT)
        assert time.monotonic() - started < 4  # the worker's 5 s delay was not waited out
        await asyncio.sleep(0.5)  # a nacked request would be back within 0.2 s
        assert worker.calls == [request(5).hash]
        assert harness.count("worker_failed") == 0


async def test_every_adapter_hears_every_cancel() -> None:
    worker = TinyWorker(capacity=1)
    async with running(worker) as first:
        second = first.adapter.__class__(first.adapter.settings, first.broker, first.adapter.worker)
        second.cancel_subscription = await first.broker.fanout("work-cancelled", second.on_cancel)
        before = datetime.now(UTC)  # a request published now is covered by the cancel that follows
        await cancel(first, 9)
        await until(lambda: first.adapter.cancelled.covers(request(9).hash, before)
                    and second.cancelled.covers(request(9).hash, before))
        await second.cancel_subscription.stop()
