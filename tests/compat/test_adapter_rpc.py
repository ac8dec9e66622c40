"""The adapter in RPC mode (``WORKER_PROTOCOL=rpc``, what ``ATTO_ADAPTER_URL`` without a ``/works``
path selects): the Kotlin reference adapter's call to a worker server over real loopback HTTP, its
errors as worker failures (cancellation through ``work_cancel``: ``tests/pipeline/test_adapter_cancel``)."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tests.pipeline.fakes import TinyWorker, search, serve
from tests.pipeline.test_adapter import LOCAL_2026, adapter_for, request
from work import difficulty, format_work, parse_target, parse_threshold
from worker_adapter import AdapterSettings, WorkerFailed
from worker_adapter.http_worker import HttpWorkerClient


async def test_rpc_mode_sends_the_reference_call_and_publishes_valid_works() -> None:
    worker = TinyWorker(probes=False)  # only POST /, as nano-work-server: ready when it answers
    sent = [request(i) for i in range(1, 4)]
    async with serve(worker.app()) as url, adapter_for(f"{url}/", worker_protocol="rpc") as harness:
        await harness.send(*sent)
        got = await harness.generated(len(sent))
    for g in got:
        assert difficulty(g.work, g.target) <= LOCAL_2026
    assert {g.hash for g in got} == {r.hash for r in sent}
    calls = [json.loads(body) for body in worker.rpc_bodies]
    # The reference adapter's body: these fields in this order, the hash in upper-case hex and the
    # threshold as a decimal string (Jackson writes the Kotlin data class so).
    assert [list(call) for call in calls] == [["action", "hash", "threshold"]] * len(sent)
    assert sorted(call["hash"] for call in calls) == sorted(r.hash for r in sent)
    assert {(call["action"], call["threshold"]) for call in calls} == {("work_generate", str(LOCAL_2026))}
    assert len(worker.calls) == len(sent)  # every search came through the RPC


def flaky_rpc_worker(failures: int, status: int) -> tuple[FastAPI, list[str]]:
    """An RPC worker server that answers ``{"error"}`` with ``status`` to its first ``failures``
    calls, then works."""
    app, seen = FastAPI(), []

    @app.post("/")
    async def rpc(request: Request) -> Response:
        call = await request.json()
        seen.append(call["hash"])
        if len(seen) <= failures:
            return JSONResponse({"error": "Work generation failed"}, status_code=status)
        work = await asyncio.to_thread(search, parse_target(call["hash"]), parse_threshold(call["threshold"]))
        return JSONResponse({"work": format_work(work)})

    return app, seen


@pytest.mark.parametrize("status", [200, 500])
async def test_an_rpc_error_is_a_worker_failure_and_the_request_comes_back(status: int) -> None:
    app, seen = flaky_rpc_worker(failures=2, status=status)
    async with serve(app) as url, adapter_for(url, worker_protocol="rpc") as harness:
        await harness.send(request(5))
        [got] = await harness.generated(1)
        assert harness.count("worker_failed") == 2
    assert got.hash == request(5).hash and difficulty(got.work, got.target) <= LOCAL_2026
    assert seen == [request(5).hash] * 3


async def test_rpc_answers_the_client_cannot_use_raise_worker_failed() -> None:
    app = FastAPI()
    answers = iter([JSONResponse({"error": "Unknown action"}), JSONResponse({"work": "not hex"}),
                    Response(b"<html>busy</html>", status_code=200)])

    @app.post("/rpc")
    async def rpc() -> Response:
        return next(answers)

    async with serve(app) as url:
        client = HttpWorkerClient(AdapterSettings(worker_url=f"{url}/rpc", worker_protocol="rpc"))
        try:
            with pytest.raises(WorkerFailed, match="answered 200 error 'Unknown action'"):
                await client.solve(bytes(32), LOCAL_2026, 5.0)
            with pytest.raises(WorkerFailed, match="unusable answer"):
                await client.solve(bytes(32), LOCAL_2026, 5.0)
            with pytest.raises(WorkerFailed, match="answered 200 b'<html>"):
                await client.solve(bytes(32), LOCAL_2026, 5.0)
        finally:
            await client.close()


async def test_rpc_mode_still_reads_the_capacity_from_ready_when_served() -> None:
    worker = TinyWorker(capacity=3)
    async with serve(worker.app()) as url, adapter_for(url, worker_protocol="rpc") as harness:
        assert harness.adapter.max_outstanding == 2 * 3


async def test_works_mode_does_not_take_a_server_without_probes_as_ready() -> None:
    worker = TinyWorker(probes=False)
    async with serve(worker.app()) as url:
        client = HttpWorkerClient(AdapterSettings(worker_url=url))
        rpc = HttpWorkerClient(AdapterSettings(worker_url=url, worker_protocol="rpc"))
        try:
            assert not await client.ready()
            assert await rpc.ready()
        finally:
            await client.close()
            await rpc.close()
