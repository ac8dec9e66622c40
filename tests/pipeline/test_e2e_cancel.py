"""Cancel end to end in ``atto-work up``'s wiring (memory broker, in-process store, the real worker
server on its best device): DELETE /works/{hash} during a BETA search frees the device and sends no
callback; a request with a short timeout expires the same way."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx

from atto_work.embedded import create_stack_app
from atto_work.receiver import CallbackReceiver
from coordinator import CoordinatorSettings
from harness.stack import real_worker_app
from messaging.memory import MemoryBroker
from tests.pipeline.fakes import serve
from worker_adapter import AdapterSettings

HASH = "5A" * 32
WAIT = 60.0  # generous: the machine is shared


@asynccontextmanager
async def stack() -> AsyncIterator[tuple[httpx.AsyncClient, CallbackReceiver]]:
    broker = MemoryBroker(retry_min_seconds=0.05, retry_max_seconds=0.5)
    app = create_stack_app(CoordinatorSettings(messaging="memory", callback_allowed_networks="127.0.0.0/8"),
                           AdapterSettings(messaging="memory"), real_worker_app(), broker)
    with CallbackReceiver() as receiver:
        async with serve(app) as base, httpx.AsyncClient(base_url=base) as client:
            yield client, receiver


async def busy(client: httpx.AsyncClient) -> float:
    text = (await client.get("/solver/metrics")).text
    return sum(float(v) for v in re.findall(r"^solver_device_busy\{[^}]*\} (\S+)$", text, re.M))


async def counted(client: httpx.AsyncClient, name: str, outcome: str) -> float:
    text = (await client.get("/metrics")).text
    found = re.search(rf'^{name}\{{outcome="{outcome}"\}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


async def wait_for(check, within: float = WAIT) -> None:  # noqa: ANN001 - an async predicate
    """Poll ``check`` (it reads metrics over HTTP: there is no event to wait on) until it holds."""
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def test_delete_during_a_beta_search_frees_the_device_and_sends_no_callback() -> None:
    async with stack() as (client, receiver):
        await wait_for(lambda: _ready(client))
        body = {"network": "BETA", "timestamp": datetime.now(UTC).isoformat(), "callback": receiver.url}
        assert (await client.post(f"/works/{HASH}", json=body)).json()["state"] == "queued"
        await wait_for(lambda: _is(busy(client), lambda v: v >= 1))
        answer = await client.delete(f"/works/{HASH}")
        assert answer.json() == {"hash": HASH, "state": "cancelled", "cancelled": 1}
        await wait_for(lambda: _is(busy(client), lambda v: v == 0), within=10)
        await wait_for(lambda: _is(counted(client, "adapter_messages_total", "cancelled"), lambda v: v == 1))
        assert (await client.get(f"/works/{HASH}")).json()["state"] == "cancelled"
        await asyncio.sleep(0.5)
        assert receiver.callbacks == []
        assert await counted(client, "adapter_messages_total", "worker_failed") == 0


async def test_a_request_past_its_timeout_expires_and_its_search_stops() -> None:
    async with stack() as (client, receiver):
        await wait_for(lambda: _ready(client))
        # LIVE: about a minute of search on a CPU, so the 2 s deadline comes first (a BETA search,
        # ~7 s on average at 60 MH/s, can find its work within 2 s, and a found work is not expired)
        body = {"network": "LIVE", "timestamp": datetime.now(UTC).isoformat(), "callback": receiver.url,
                "timeout": 2}
        assert (await client.post(f"/works/{HASH}", json=body)).status_code == 202
        await wait_for(lambda: _is(busy(client), lambda v: v >= 1))
        await wait_for(lambda: _is(busy(client), lambda v: v == 0), within=15)
        await wait_for(lambda: _is(counted(client, "coordinator_work_requests_total", "expired"),
                                   lambda v: v == 1))
        assert (await client.get(f"/works/{HASH}")).json()["state"] == "expired"
        await wait_for(lambda: _is(counted(client, "adapter_messages_total", "expired"), lambda v: v == 1))
        assert await counted(client, "adapter_messages_total", "worker_failed") == 0
        assert receiver.callbacks == []


async def _ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/adapter/ready")).status_code == 200


async def _is(value, test) -> bool:  # noqa: ANN001
    return test(await value)
