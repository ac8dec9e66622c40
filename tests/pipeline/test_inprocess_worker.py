"""``atto_work.embedded.InProcessWorker``: what ``atto-work up``'s adapter calls instead of HTTP.

Every way the device pool ends a search without a work is a ``WorkerFailed`` (nack, redeliver
later, one short log line), including a search stopped from outside by ``DELETE /solver/works/{hash}``.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from atto_work.embedded import InProcessWorker
from harness.polling import until
from solver.api import create_app
from solver.settings import SolverSettings
from worker_adapter import WorkerFailed

TARGET = bytes([7]) * 32
NEVER = 1  # a threshold no work meets in the life of a test


async def test_a_search_cancelled_by_delete_is_a_worker_failure(open_devices) -> None:  # noqa: ANN001
    [device] = open_devices("numpy")
    app = create_app(SolverSettings(), [device])
    worker = InProcessWorker(app)
    registry = app.state.metrics.registry
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://solver") as client:
        assert await worker.ready() and await worker.capacity() == 1
        search = asyncio.create_task(worker.solve(TARGET, NEVER, 60.0))
        await until(lambda: registry.get_sample_value("solver_device_busy", {"device": device.name}) == 1)
        answer = await client.delete(f"/works/{TARGET.hex()}")
        assert answer.status_code == 200, answer.text
        with pytest.raises(WorkerFailed, match="Cancelled"):
            await asyncio.wait_for(search, 30)
    assert not await worker.ready()  # the worker server has stopped: its pool is gone


async def test_a_search_past_its_time_limit_is_a_worker_failure(open_devices) -> None:  # noqa: ANN001
    app = create_app(SolverSettings(), open_devices("numpy"))
    worker = InProcessWorker(app)
    async with app.router.lifespan_context(app):
        with pytest.raises(WorkerFailed, match="SearchTimeout"):
            await asyncio.wait_for(worker.solve(TARGET, NEVER, 0.5), 30)
