"""The adapter's read-ahead: with short works it holds ``ADAPTER_READ_AHEAD`` requests per device
while the worker server still gets two per device; with long works it holds only those two, the
rest staying in the queue for other adapters; on stop, the requests waiting in it go back."""

from __future__ import annotations

import pytest

import worker_adapter.adapter
from harness.polling import until
from messaging import WorkRequested
from tests.pipeline.fakes import TinyWorker
from tests.pipeline.test_adapter import request, running
from worker_adapter.adapter import READ_AHEAD

QUEUE = "work-requested-adapter"
ANY_WORK = 2**64 - 1  # every work meets it: the worker server answers at once


def easy(i: int) -> WorkRequested:
    return WorkRequested(f"http://127.0.0.1:9/cb/{i}", (10_000 + i).to_bytes(32, "big"), ANY_WORK)


@pytest.fixture(autouse=True)
def switch_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_adapter.adapter, "SWITCH_SECONDS", 0.0)


async def test_short_works_are_read_ahead_and_long_ones_turn_it_off() -> None:
    worker = TinyWorker(capacity=1)
    async with running(worker, adapter_read_ahead=8, adapter_read_ahead_max_wait_seconds=0.2) as harness:
        adapter = harness.adapter
        assert (adapter.max_outstanding, adapter.read_ahead, adapter.holding) == (READ_AHEAD, 8, READ_AHEAD)
        await harness.send(*[easy(i) for i in range(5)])
        await harness.generated(5)
        await until(lambda: adapter.holding == 8, what="read-ahead on")
        before = len(worker.calls)
        worker.delay = 0.5  # now long works
        await harness.send(*[request(i) for i in range(10)])
        # eight leased from the queue, two of them at the worker server, six waiting in the adapter
        await until(lambda: harness.broker.backlog(QUEUE) == 2, what="8 of 10 leased")
        assert len(worker.calls) - before == READ_AHEAD
        await harness.generated(10)
        assert adapter.holding == READ_AHEAD  # the long works turned it off


async def test_long_works_leave_the_backlog_in_the_queue() -> None:
    worker = TinyWorker(capacity=1, delay=0.3)
    async with running(worker, adapter_read_ahead_max_wait_seconds=0.2) as harness:
        await harness.send(*[request(i) for i in range(6)])
        await until(lambda: len(worker.calls) == READ_AHEAD)
        assert harness.broker.backlog(QUEUE) == 6 - READ_AHEAD
        await harness.generated(6)
        assert harness.adapter.holding == READ_AHEAD
    assert len(worker.calls) == 6


async def test_stop_puts_back_the_requests_waiting_in_the_adapter() -> None:
    worker = TinyWorker(capacity=1)
    async with running(worker, adapter_read_ahead=8, adapter_read_ahead_max_wait_seconds=5,
                       adapter_shutdown_grace_seconds=5) as harness:
        await harness.send(*[easy(i) for i in range(5)])
        await harness.generated(5)
        await until(lambda: harness.adapter.holding == 8, what="read-ahead on")
        worker.delay = 0.5
        await harness.send(*[request(i) for i in range(8)])
        await until(lambda: harness.broker.backlog(QUEUE) == 0 and len(worker.calls) == 5 + READ_AHEAD)
    # the two at the worker server finished and were published; the six waiting never started
    assert len(worker.calls) == 5 + READ_AHEAD
    assert harness.broker.backlog(QUEUE) == 8 - READ_AHEAD
