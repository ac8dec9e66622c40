"""End to end in one process: coordinator, adapter and the real worker server wired as
``atto-work up`` wires them (memory broker), requests over real HTTP, callbacks over real HTTP to a
loopback receiver, every work checked with ``work.difficulty``. The adapter calls the worker
server's device pool, never its HTTP routes (which stay reachable from outside under /solver)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx
from fastapi import Request, Response

from atto_work.embedded import create_stack_app
from atto_work.receiver import CallbackReceiver
from coordinator import CoordinatorSettings
from harness.stack import real_worker_app
from messaging.memory import MemoryBroker
from tests.pipeline.fakes import serve
from work import Network, difficulty, parse_target, parse_work, threshold
from worker_adapter import AdapterSettings

COUNT = 20


async def test_requests_in_callbacks_out_with_valid_works() -> None:
    broker = MemoryBroker(retry_min_seconds=0.05, retry_max_seconds=0.5)
    worker_app = real_worker_app()
    solver_calls: list[str] = []  # every HTTP request the worker server's app runs

    @worker_app.middleware("http")
    async def count(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        solver_calls.append(request.url.path)
        return await call_next(request)

    app = create_stack_app(
        CoordinatorSettings(messaging="memory", callback_allowed_networks="127.0.0.0/8"),
        AdapterSettings(messaging="memory"),
        worker_app,
        broker,
    )
    now = datetime.now(UTC)
    expected = threshold(Network.LOCAL, now)
    hashes = [bytes([i]) * 32 for i in range(1, COUNT + 1)]
    with CallbackReceiver() as receiver:
        async with serve(app) as base, httpx.AsyncClient(base_url=base) as client:
            answers = await asyncio.gather(*(
                client.post(f"/works/{h.hex()}", json={
                    "network": "LOCAL", "timestamp": now.isoformat(), "callback": receiver.url})
                for h in hashes))
            assert [a.status_code for a in answers] == [202] * COUNT
            assert {a.json()["threshold"] for a in answers} == {expected}
            callbacks = await asyncio.to_thread(
                receiver.wait_for_hashes, [h.hex().upper() for h in hashes], 60)
            # No handler of the adapter ran the worker server's HTTP layer (whose "client went
            # away" path cancels the task it runs in) ...
            assert not [path for path in solver_calls if "/works" in path], solver_calls
            # ... which still answers from outside.
            outside = await client.post(f"/solver/works/{'AB' * 32}", json={"threshold": str(expected)})
            assert outside.status_code == 200, outside.text
            assert difficulty(parse_work(outside.json()["work"]), bytes([0xAB]) * 32) <= expected
            assert solver_calls == ["/solver/works/" + "AB" * 32]
            # Paths the coordinator refuses get its JSON errors, whatever they hold.
            bad = await client.post("/works/ab%0Ac", json={
                "network": "LOCAL", "timestamp": now.isoformat(), "callback": receiver.url})
            assert bad.status_code == 400 and "hash" in bad.json()["error"]
            assert (await client.get("/nowhere")).json() == {"error": "Not Found"}
            ready = await client.get("/ready")
            assert ready.status_code == 200
            assert (await client.get("/adapter/ready")).status_code == 200
            # Each service's /metrics shows its own registry.
            metrics = (await client.get("/metrics")).text
            assert 'coordinator_results_total{outcome="delivered"}' in metrics
            adapter_metrics = (await client.get("/adapter/metrics")).text
            assert 'adapter_messages_total{outcome="solved"}' in adapter_metrics
    assert len(callbacks) == COUNT
    got = {hash_hex: c.body["work"] for hash_hex, c in callbacks.items()}
    for hash_hex, work_hex in got.items():
        assert difficulty(parse_work(work_hex), parse_target(hash_hex)) <= expected
