"""The adapter's read-ahead: it holds ``ADAPTER_READ_AHEAD`` requests per device while the worker
server still gets two per device; a request that waits too long for a slot is released (nacked)
and comes back; on stop, the requests waiting in the adapter go back to the queue."""

from __future__ import annotations

import asyncio

from harness.polling import until
from tests.pipeline.fakes import TinyWorker
from tests.pipeline.test_adapter import request, running
from worker_adapter.adapter import READ_AHEAD

QUEUE = "work-requested-adapter"


async def test_it_holds_the_read_ahead_and_the_worker_server_gets_two_per_device() -> None:
    worker = TinyWorker(capacity=1, delay=1.0)
    async with running(worker, adapter_read_ahead=8, adapter_read_ahead_max_wait_seconds=30) as harness:
        assert (harness.adapter.max_outstanding, harness.adapter.read_ahead) == (READ_AHEAD, 8)
        await harness.send(*[request(i) for i in range(10)])
        # eight leased from the queue, two of them at the worker server, six waiting in the adapter
        await until(lambda: harness.broker.backlog(QUEUE) == 2 and len(worker.calls) == READ_AHEAD,
                    what="8 of 10 leased, 2 at the worker server")
        await asyncio.sleep(0.2)  # a third call, were the bound not kept, would arrive now
        assert len(worker.calls) == READ_AHEAD
        assert worker.finished == []
        await harness.generated(10)
        assert harness.count("released") == 0
    assert len(worker.calls) == 10


async def test_a_request_waiting_too_long_is_released_and_comes_back() -> None:
    worker = TinyWorker(capacity=1, delay=1.0)
    async with running(worker, adapter_read_ahead=4, adapter_read_ahead_max_wait_seconds=0.2) as harness:
        await harness.send(*[request(i) for i in range(4)])
        await until(lambda: harness.count("released") >= 2, what="the two waiting released")
        assert len(worker.calls) == READ_AHEAD  # released, never sent to the worker server
        got = await harness.generated(4)
    assert {g.hash for g in got} == {request(i).hash for i in range(4)}


async def test_stop_puts_back_the_requests_waiting_in_the_adapter() -> None:
    worker = TinyWorker(capacity=1, delay=0.5)
    async with running(worker, adapter_read_ahead=8, adapter_read_ahead_max_wait_seconds=30,
                       adapter_shutdown_grace_seconds=5) as harness:
        await harness.send(*[request(i) for i in range(8)])
        await until(lambda: harness.broker.backlog(QUEUE) == 0 and len(worker.calls) == READ_AHEAD)
    # the two at the worker server finished and were published; the six waiting never started
    assert len(worker.calls) == READ_AHEAD
    assert harness.broker.backlog(QUEUE) == 8 - READ_AHEAD
