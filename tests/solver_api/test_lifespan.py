"""The worker server's app owns its device pool: closed at shutdown, off the event loop."""

from __future__ import annotations

import asyncio
import threading

import httpx

from solver.api import create_app
from solver.settings import SolverSettings
from tests.solver_api.fakes import HashlibDevice


def feeders(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"feed {name}" and t.is_alive()]


async def test_shutdown_closes_the_pool_off_the_event_loop_and_leaves_given_devices_open() -> None:
    device = HashlibDevice("hashlib:lifespan", gate=(gate := threading.Event()))
    app = create_app(SolverSettings(), [device])
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://solver",
                                 timeout=60) as client:
        search = asyncio.create_task(client.post(f"/works/{'00' * 32}", json={"threshold": 1}))
        assert await asyncio.to_thread(device.started.wait, 10), "the search never started"
        assert feeders(device.name)
        closing = asyncio.create_task(lifespan.__aexit__(None, None, None))
        # Closing waits for the launch in flight (held by the gate); the loop runs on meanwhile.
        await asyncio.sleep(0.05)
        assert not closing.done(), "shutdown did not wait for the device's launch"
        gate.set()
        await closing
        answer = await search
    assert answer.status_code == 500 and "closed" in answer.json()["error"]
    assert not feeders(device.name), "a feeder thread outlived the app"
    assert not device.closed  # its opener closes it
