"""One slow or dead callback receiver must not hold up anybody else's callbacks (issue 10, item 1),
nor take memory without bound (item 5): the coordinator app on the in-process broker, with real
receivers on loopback (IP literals: no lookup is made)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from prometheus_client import CollectorRegistry

from atto_work.receiver import CallbackReceiver
from coordinator import CoordinatorSettings, create_app
from harness.emulator import free_port
from harness.polling import until
from messaging import WorkGenerated
from messaging.memory import MemoryBroker
from tests.faults.slow_peers import DrippingReceiver
from tests.pipeline.fakes import search

TARGET = bytes(range(32))
LOCAL_2026 = 429496729550000
WORK = search(TARGET, LOCAL_2026)
PER_ORIGIN = 4
PROBE = "isolation-probe"  # a subscription on work-requested: what intake queued
BODY = {"network": "LOCAL", "timestamp": "2026-01-01T00:00:00Z"}


@dataclass
class Coordinator:
    broker: MemoryBroker
    client: httpx.AsyncClient
    metrics: CollectorRegistry

    def results(self, outcome: str) -> float:
        return self.metrics.get_sample_value("coordinator_results_total", {"outcome": outcome}) or 0.0

    async def request(self, hash: str, callback: str) -> httpx.Response:
        return await self.client.post(f"/works/{hash}", json={**BODY, "callback": callback})

    async def result_for(self, callback: str, target: bytes = TARGET) -> None:
        """A result for ``target``; the store knows nothing of it, so it goes to ``callback``."""
        work = WORK if target == TARGET else search(target, LOCAL_2026)
        result = WorkGenerated(callback, target, LOCAL_2026, work)
        await self.broker.publish("work-generated", result.to_json())


@pytest.fixture
async def coordinator(request: pytest.FixtureRequest) -> AsyncIterator[Coordinator]:
    settings = CoordinatorSettings(messaging="memory", callback_allowed_networks="127.0.0.0/8",
                                   **{"callback_timeout_seconds": 60, "messaging_retry_min_seconds": 0.05,
                                      "messaging_retry_max_seconds": 0.5,
                                      "callback_connections_per_origin": PER_ORIGIN,
                                      **getattr(request, "param", {})})
    # The app's own broker, made from the settings (its per-topic bound included).
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await app.state.broker.declare("work-requested", PROBE)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://coordinator") as client:
            yield Coordinator(app.state.broker, client, app.state.metrics.registry)


@pytest.mark.timeout(120)
async def test_a_dripping_receiver_does_not_hold_up_another_receivers_callbacks(
        coordinator: Coordinator) -> None:
    """300 results for a receiver that answers one byte a second (for longer than any timeout of
    this test): another receiver's 20 callbacks still arrive, long before the dripping ones time out
    (60 s here), and the dripping receiver never holds more than its share of connections."""
    with DrippingReceiver(interval=1.0) as dripping, CallbackReceiver() as receiver:
        for _ in range(300):
            await coordinator.result_for(dripping.url)
        await until(lambda: dripping.open >= PER_ORIGIN, within=30,
                    what="the dripping receiver to hold connections")
        for _ in range(20):
            await coordinator.result_for(receiver.url)
        callbacks = await asyncio.to_thread(receiver.wait_for, 20, 30)
        assert len(callbacks) == 20
        assert dripping.most_open <= PER_ORIGIN


# Failed callbacks come back after 60 s: each of the three fails once within the test.
@pytest.mark.parametrize("coordinator", [{"callback_max_pending_per_origin": 3,
                                          "messaging_retry_min_seconds": 60,
                                          "messaging_retry_max_seconds": 60}], indirect=True)
async def test_intake_answers_503_for_an_origin_whose_failed_callbacks_are_at_their_bound(
        coordinator: Coordinator) -> None:
    down = f"http://127.0.0.1:{free_port()}/cb"  # nothing listens there
    for n in range(3):
        await coordinator.result_for(down, bytes([n]) * 32)  # three results, three hashes
    await until(lambda: coordinator.results("retried") >= 3, what="three failed callbacks")
    same_origin = down.replace("/cb", "/other")
    response = await coordinator.request("AB" * 32, same_origin)
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) > 0
    assert "retry" in response.json()["error"]
    assert coordinator.broker.backlog(PROBE) == 0  # nothing queued
    assert (await coordinator.client.get(f"/works/{'AB' * 32}")).status_code == 404  # nor recorded
    with CallbackReceiver() as receiver:  # another origin is not affected
        assert (await coordinator.request("AB" * 32, receiver.url)).status_code == 202
    assert coordinator.broker.backlog(PROBE) == 1


@pytest.mark.parametrize("coordinator", [{"messaging_memory_max_backlog": 2}], indirect=True)
async def test_intake_answers_503_when_the_in_process_queue_is_full(coordinator: Coordinator) -> None:
    hashes = [f"{n:064X}" for n in range(1, 4)]
    answers = [await coordinator.request(hash, "http://127.0.0.1:9/cb") for hash in hashes]
    assert [a.status_code for a in answers] == [202, 202, 503], answers[-1].text
    assert int(answers[-1].headers["Retry-After"]) > 0
    assert coordinator.broker.backlog(PROBE) == 2
    assert (await coordinator.client.get(f"/works/{hashes[2]}")).status_code == 404  # not recorded
    await coordinator.broker.pull(PROBE)  # one taken off the queue: room for one more
    assert (await coordinator.request(hashes[2], "http://127.0.0.1:9/cb")).status_code == 202
