"""``CALLBACK_FORMAT=work``: the callback body is the bare work as ``text/plain``, as the Kotlin
reference coordinator sends it, and the signature covers those bytes. In one process as
``atto-work up`` wires it (memory broker, the real worker server on NumPy), callbacks over real loopback
HTTP to a receiver."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from atto_work.embedded import create_stack_app
from atto_work.receiver import CallbackReceiver
from coordinator import CoordinatorSettings
from coordinator.callbacks.signing import HEADER, verify
from messaging.memory import MemoryBroker
from solver.api import create_app as create_solver
from solver.backends.base import SearchDevice
from solver.settings import SolverSettings
from tests.pipeline.fakes import serve
from work import Network, difficulty, parse_target, parse_work, threshold
from worker_adapter import AdapterSettings

SECRET = "s3cret"


async def test_bare_work_callbacks_are_text_signed_and_valid(
        open_devices: Callable[[str], list[SearchDevice]]) -> None:
    app = create_stack_app(
        CoordinatorSettings(messaging="memory", callback_allowed_networks="127.0.0.0/8",
                            callback_format="work", callback_signing_secret=SECRET),
        AdapterSettings(messaging="memory"), create_solver(SolverSettings(), open_devices("numpy")),
        MemoryBroker(retry_min_seconds=0.05, retry_max_seconds=0.5))
    now = datetime.now(UTC)
    hashes = [bytes([i]) * 32 for i in range(1, 4)]
    with CallbackReceiver() as receiver:
        async with serve(app) as base, httpx.AsyncClient(base_url=base, trust_env=False) as client:
            for h in hashes:  # the body no longer names the hash: the callback's path does
                answer = await client.post(f"/works/{h.hex()}", json={
                    "network": "LOCAL", "timestamp": now.isoformat(),
                    "callback": f"{receiver.url}/{h.hex()}"})
                assert answer.status_code == 202, answer.text
            callbacks = await asyncio.to_thread(receiver.wait_for, len(hashes), 60)
    limit = threshold(Network.LOCAL, now)
    assert sorted(c.path.rsplit("/", 1)[1] for c in callbacks) == sorted(h.hex() for h in hashes)
    for callback in callbacks:
        headers = {key.lower(): value for key, value in callback.headers.items()}
        assert headers["content-type"].startswith("text/plain")
        assert len(callback.raw) == 16 and callback.raw.decode().upper() == callback.raw.decode()
        work = parse_work(callback.raw.decode())
        assert difficulty(work, parse_target(callback.path.rsplit("/", 1)[1])) <= limit
        assert verify(SECRET, callback.raw, headers[HEADER.lower()])
