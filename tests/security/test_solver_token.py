"""SOLVER_TOKEN end to end in one process: the adapter sends it, the worker server requires it.

The real worker server (NumPy device) behind the real adapter on the in-process broker: with the
same token on both, a request is solved; with a wrong token on the adapter, the worker server
answers 401, the adapter nacks, and nothing is generated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

from fastapi import Request, Response

from messaging import WorkGenerated, WorkRequested
from messaging.memory import MemoryBroker
from solver.api import create_app as create_solver
from solver.settings import SolverSettings
from tests.pipeline.fakes import serve
from work import difficulty
from worker_adapter import AdapterSettings
from worker_adapter import create_app as create_adapter

TOKEN = "solver-token-0123456789"
TARGET = bytes(range(32))
LOCAL_2026 = 429496729550000


async def run_once(devices, adapter_token: str | None) -> tuple[list[WorkGenerated], int]:  # noqa: ANN001
    broker = MemoryBroker(retry_min_seconds=0.05, retry_max_seconds=0.1)
    await broker.start()
    generated: list[WorkGenerated] = []

    async def collect(message) -> None:  # noqa: ANN001
        generated.append(WorkGenerated.from_json(message.data))

    calls: list[int] = []  # the status of each work call, as the worker server answered it
    solver = create_solver(SolverSettings(token=TOKEN), devices)

    @solver.middleware("http")
    async def note(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        if request.url.path.startswith("/works"):
            calls.append(response.status_code)
        return response

    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(serve(solver))  # over loopback HTTP, as deployed
        adapter = create_adapter(
            AdapterSettings(messaging="memory", solver_token=adapter_token, worker_url=url,
                            pubsub_subscriber_max_outstanding_element_count=1),
            broker=broker)
        await broker.declare("work-generated", "tap")
        await broker.subscribe("tap", collect)
        await stack.enter_async_context(adapter.router.lifespan_context(adapter))
        request = WorkRequested("http://127.0.0.1:9/cb", TARGET, LOCAL_2026)
        await broker.publish("work-requested", request.to_json())
        for _ in range(100):
            if generated or len(calls) >= 3:
                break
            await asyncio.sleep(0.05)
    await broker.close()
    return generated, calls[-1] if calls else 0


async def test_the_adapter_sends_the_token_the_worker_server_requires(numpy_devices) -> None:  # noqa: ANN001
    generated, status = await run_once(numpy_devices, TOKEN)
    assert status == 200
    assert len(generated) == 1
    assert difficulty(generated[0].work, TARGET) <= LOCAL_2026


async def test_a_wrong_or_missing_token_is_refused_and_nothing_is_generated(numpy_devices) -> None:  # noqa: ANN001
    for token in ["solver-token-wrong-0000", None]:
        generated, status = await run_once(numpy_devices, token)
        assert status == 401
        assert generated == []
