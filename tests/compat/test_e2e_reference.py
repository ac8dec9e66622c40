"""A deployment configured with the Kotlin reference's names, end to end on the real Pub/Sub
emulator: coordinator and adapter as separate processes, the adapter pointed through
``ATTO_ADAPTER_URL`` at the real worker server's RPC root (served on loopback in this process, so
the test sees which routes it ran), bare-work signed callbacks (``CALLBACK_FORMAT=work``) to a
loopback receiver, every work checked with ``work.difficulty``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import Request, Response

from atto_work.receiver import CallbackReceiver
from coordinator.callbacks.signing import HEADER, verify
from harness.server import ServerThread
from harness.stack import Stack
from solver.api import create_app as create_solver
from solver.backends.base import SearchDevice
from solver.settings import SolverSettings
from work import Network, difficulty, parse_target, parse_work, threshold

pytestmark = pytest.mark.emulator
SECRET = "s3cret"


@pytest.mark.timeout(240)
def test_reference_named_adapter_calls_the_worker_servers_rpc_root(
    pubsub_emulator: str, tmp_path: Path, open_devices: Callable[[str], list[SearchDevice]],
) -> None:
    solver_app = create_solver(SolverSettings(), open_devices("numpy"))
    routes: list[tuple[str, str]] = []  # every request the worker server ran

    @solver_app.middleware("http")
    async def record(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        routes.append((request.method, request.url.path))
        return await call_next(request)

    hashes = [bytes([i]) * 32 for i in range(1, 6)]
    with ServerThread(solver_app) as solver, CallbackReceiver() as receiver:
        stack = Stack(pubsub_emulator, tmp_path, env={
            "CALLBACK_FORMAT": "work", "CALLBACK_SIGNING_SECRET": SECRET,
            "ATTO_CALLBACK_CONNECTTIMEOUT": "2000", "ATTO_CALLBACK_READTIMEOUT": "5000"})
        # The adapter knows the worker server only by the reference's names.
        stack.adapter.env = {**{k: v for k, v in stack.env.items() if k != "WORKER_URL"},
                             "ATTO_ADAPTER_URL": f"{solver.url}/",
                             "ATTO_ADAPTER_CONNECTTIMEOUT": "5000", "ATTO_ADAPTER_READTIMEOUT": "120000"}
        try:
            stack.coordinator.start()
            stack.adapter.start()
            now = datetime.now(UTC)
            with httpx.Client(base_url=stack.coordinator.url, trust_env=False) as client:
                for h in hashes:  # a bare-work body does not name the hash: the callback URL does
                    answer = client.post(f"/works/{h.hex()}", json={
                        "network": "LOCAL", "timestamp": now.isoformat(),
                        "callback": f"{receiver.url}/{h.hex().upper()}"})
                    assert answer.status_code == 202, answer.text
            callbacks = receiver.wait_for(len(hashes), 90)
        finally:
            stack.stop()
    assert len(callbacks) >= len(hashes), stack.logs()
    limit = threshold(Network.LOCAL, now)
    by_hash = {c.path.rsplit("/", 1)[1]: c for c in callbacks}
    assert set(by_hash) == {h.hex().upper() for h in hashes}
    for hash_hex, callback in by_hash.items():
        headers = {key.lower(): value for key, value in callback.headers.items()}
        assert headers["content-type"].startswith("text/plain")
        assert difficulty(parse_work(callback.raw.decode()), parse_target(hash_hex)) <= limit
        assert verify(SECRET, callback.raw, headers[HEADER.lower()])
    # Every search came through the RPC root, none through /works.
    posts = [path for method, path in routes if method == "POST"]
    assert len(posts) >= len(hashes) and set(posts) == {"/"}, routes
