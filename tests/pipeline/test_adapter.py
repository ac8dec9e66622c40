"""The worker adapter against a test-only worker server on a loopback port (real HTTP)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from harness.polling import until
from messaging import WorkGenerated, WorkRequested
from messaging.memory import MemoryBroker
from tests.pipeline.fakes import TinyWorker, serve
from work import difficulty
from worker_adapter import Adapter, AdapterSettings, WorkerFailed, create_app
from worker_adapter.adapter import READ_AHEAD
from worker_adapter.http_worker import MAX_ANSWER_BYTES, HttpWorkerClient
from worker_adapter.worker_client import capacity_from_ready

LOCAL_2026 = 429496729550000
PROBE = "adapter-probe"  # sees what the adapter publishes to work-generated
WAIT = 30.0  # generous: the machine is shared; waits end as soon as the event happens


def request(i: int) -> WorkRequested:
    return WorkRequested(f"http://127.0.0.1:9/cb/{i}", i.to_bytes(32, "big"), LOCAL_2026)


class Harness:
    def __init__(self, broker: MemoryBroker, adapter: Adapter, app: FastAPI) -> None:
        self.broker = broker
        self.adapter = adapter
        self.app = app

    async def send(self, *requests: WorkRequested) -> None:
        for item in requests:
            await self.broker.publish("work-requested", item.to_json())

    async def generated(self, count: int, within: float = WAIT) -> list[WorkGenerated]:
        async with asyncio.timeout(within):
            return [WorkGenerated.from_json((await self.broker.pull(PROBE)).data) for _ in range(count)]

    def count(self, outcome: str) -> float:
        return self.adapter.metrics.count(outcome)


@asynccontextmanager
async def adapter_for(url: str, subscribed: bool = True, **settings: object) -> AsyncIterator[Harness]:
    """The adapter app (lifespan running) calling the worker server at ``url``; with ``subscribed``,
    entered once the adapter consumes requests."""
    broker = MemoryBroker(retry_min_seconds=0.05, retry_max_seconds=0.2)
    await broker.declare("work-generated", PROBE)
    app = create_app(AdapterSettings(messaging="memory", worker_url=url, **settings), broker=broker)
    async with app.router.lifespan_context(app):
        harness = Harness(broker, app.state.adapter, app)
        if subscribed:
            await asyncio.wait_for(harness.adapter.subscribed.wait(), WAIT)
        yield harness


@asynccontextmanager
async def running(worker: TinyWorker, **settings: object) -> AsyncIterator[Harness]:
    async with serve(worker.app()) as url, adapter_for(url, **settings) as harness:
        yield harness


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
        await until(lambda: len(worker.calls) >= READ_AHEAD)
        await asyncio.sleep(0.1)  # a third call, were the bound not kept, would arrive now
        assert len(worker.calls) == READ_AHEAD
        await harness.generated(6)


async def test_calls_reuse_kept_alive_connections() -> None:
    worker = TinyWorker(capacity=1)
    async with running(worker) as harness:
        await harness.send(*[request(i) for i in range(20)])
        await harness.generated(20)
    assert len(worker.calls) == 20
    # Never more connections than requests held at once.
    assert 1 <= len(worker.ports) <= READ_AHEAD


async def test_malformed_message_is_acked_and_counted() -> None:
    worker = TinyWorker()
    async with running(worker) as harness:
        await harness.broker.publish("work-requested", b'{"callbackUrl": "x", "hash": 1}')
        await harness.broker.publish("work-requested", b"\xff")
        await until(lambda: harness.count("malformed") == 2)
        assert harness.broker.backlog("work-requested-adapter") == 0
    assert worker.calls == []


async def test_invalid_work_is_not_published_and_the_request_comes_back() -> None:
    worker = TinyWorker(lying=True)
    async with running(worker) as harness:
        await harness.send(request(1))
        await until(lambda: len(worker.calls) >= 3)  # nacked and redelivered each time
        assert harness.broker.backlog(PROBE) == 0
    assert harness.count("invalid_work") >= 3


async def test_worker_server_gone_mid_life_nacks_and_retries() -> None:
    server = AsyncExitStack()
    url = await server.enter_async_context(serve(TinyWorker().app()))
    async with adapter_for(url, pubsub_subscriber_max_outstanding_element_count=1) as harness:
        await server.aclose()  # the worker server dies after the adapter subscribed
        await harness.send(request(1))
        await until(lambda: harness.count("worker_failed") >= 2)  # nacked, redelivered, failed again
        assert harness.broker.backlog(PROBE) == 0


async def test_adapter_subscribes_only_once_its_worker_server_is_ready(caplog) -> None:  # noqa: ANN001
    worker = TinyWorker(ready=False)  # e.g. a pod scaled from zero, its GPU still initialising
    caplog.set_level(logging.INFO, logger="worker_adapter.adapter")
    async with serve(worker.app()) as url, adapter_for(url, subscribed=False) as harness:
        await harness.send(request(1))  # waits in the queue, unconsumed
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=harness.app),
                                     base_url="http://adapter") as probes:
            await until(lambda: sum("waiting for the worker server" in r.getMessage()
                                    for r in caplog.records) >= 3)
            assert not harness.adapter.subscribed.is_set()
            assert worker.calls == []
            assert harness.broker.backlog("work-requested-adapter") == 1
            assert (await probes.get("/health")).status_code == 200  # alive while it waits
            not_ready = await probes.get("/ready")
            assert not_ready.status_code == 503 and not_ready.json()["checks"]["subscribed"] is False
            worker.ready = True
            await asyncio.wait_for(harness.adapter.subscribed.wait(), WAIT)
            [generated] = await harness.generated(1)
            assert (await probes.get("/ready")).status_code == 200
    assert generated.hash == request(1).hash
    assert harness.adapter.max_outstanding == worker.capacity * READ_AHEAD


# -- the HTTP client on its own -----------------------------------------------------------------


def odd_worker() -> FastAPI:
    """A worker server answering oddly: too much, a redirect, too late."""
    app = FastAPI()

    @app.post("/works/{hash}")
    async def works(hash: str) -> Response:
        if hash.startswith("01"):
            return JSONResponse({"work": "0" * 16, "padding": "x" * 2 * MAX_ANSWER_BYTES})
        if hash.startswith("04"):  # chunked: no Content-Length to refuse it by
            return StreamingResponse(iter([b'{"work": "0000000000000000", "padding": "'] + [b"x" * 1000] * 9))
        if hash.startswith("02"):
            return RedirectResponse("/elsewhere", status_code=307)
        await asyncio.sleep(2)
        return JSONResponse({"work": "0" * 16})

    return app


async def test_http_client_bounds_answers_refuses_redirects_and_times_out(monkeypatch) -> None:  # noqa: ANN001
    # Environment proxies are not used: this one does not exist.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with serve(odd_worker()) as url:
        client = HttpWorkerClient(AdapterSettings(worker_url=url))
        try:
            for first in (1, 4):
                with pytest.raises(WorkerFailed, match=f"more than {MAX_ANSWER_BYTES} bytes"):
                    await client.solve(bytes([first]) * 32, LOCAL_2026, 5.0)
            with pytest.raises(WorkerFailed, match="answered 307"):
                await client.solve(bytes([2]) * 32, LOCAL_2026, 5.0)
            with pytest.raises(WorkerFailed, match="Timeout"):
                await asyncio.wait_for(client.solve(bytes([3]) * 32, LOCAL_2026, 0.3), 4.0)
        finally:
            await client.close()


async def test_stop_lets_running_requests_finish_and_puts_back_the_rest() -> None:
    worker = TinyWorker(capacity=1, delay=0.5)
    async with running(worker, adapter_shutdown_grace_seconds=5) as harness:
        await harness.send(*[request(i) for i in range(5)])
        await until(lambda: len(worker.calls) == 2)
    # the lifespan exit stopped the adapter: the two running finished and were published ...
    assert len(worker.finished) == 2
    assert harness.broker.backlog(PROBE) == 2
    # ... and the three never started are back in the queue for another adapter
    assert harness.broker.backlog("work-requested-adapter") == 3


async def test_stop_nacks_running_requests_after_the_grace_period() -> None:
    worker = TinyWorker(capacity=1, delay=3)
    async with serve(worker.app()) as url:
        async with adapter_for(url, adapter_shutdown_grace_seconds=0.2) as harness:
            await harness.send(*[request(i) for i in range(3)])
            await until(lambda: len(worker.calls) == 2)
        # the adapter stopped (and hung up) while the worker server still searched
        assert worker.finished == []
        assert harness.broker.backlog(PROBE) == 0
        assert harness.broker.backlog("work-requested-adapter") == 3
