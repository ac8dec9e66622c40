"""The worker server's app owns its device pool (closed at shutdown, off the event loop) and its
metrics registry."""

from __future__ import annotations

import asyncio
import threading

import httpx
from prometheus_client import REGISTRY

from solver.api import create_app
from solver.settings import SolverSettings
from tests.solver_api.fakes import HashlibDevice


def feeders(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"feed {name}" and t.is_alive()]


async def test_shutdown_closes_the_pool_off_the_event_loop_and_leaves_given_devices_open() -> None:
    device = HashlibDevice("hashlib:lifespan", gate=(gate := threading.Event()))
    app = create_app(SolverSettings(max_expected_hashes=2.0**64), [device])  # threshold 1: no bound
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


async def test_an_app_given_its_devices_to_own_closes_them_at_shutdown() -> None:
    device = HashlibDevice("hashlib:owned")
    app = create_app(SolverSettings(), [device], own_devices=True)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://solver", timeout=60) as client:
            r = await client.post(f"/works/{'00' * 32}", json={"threshold": str(2**64 - 1)})
            assert r.status_code == 200, r.text
        assert not device.closed
    assert device.closed and not feeders(device.name)


async def test_each_app_counts_in_its_own_registry_and_none_in_the_global_one() -> None:
    apps = [create_app(SolverSettings(), [HashlibDevice(f"hashlib:app{i}")]) for i in range(2)]
    async with apps[0].router.lifespan_context(apps[0]), apps[1].router.lifespan_context(apps[1]):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[0]),
                                     base_url="http://solver", timeout=60) as client:
            r = await client.post(f"/works/{'00' * 32}", json={"threshold": str(2**64 - 1)})
            assert r.status_code == 200, r.text
            assert 'solver_searches_total{outcome="solved"} 1.0' in (await client.get("/metrics")).text
    first, second = (app.state.metrics for app in apps)
    assert first.registry is not second.registry
    assert first.value("solver_searches_total", outcome="solved") == 1
    assert second.value("solver_searches_total", outcome="solved") == 0
    assert not [m for m in REGISTRY.collect() if m.name.startswith("solver_")]
