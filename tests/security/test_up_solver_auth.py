"""``atto-work up`` with ``COORDINATOR_API_KEYS``: the worker server under ``/solver`` (a search costs
CPU, and a threshold that cannot be met runs until its timeout) takes only a coordinator API key or
``SOLVER_TOKEN``; its probes stay open. Without keys or token it stays open (the local default).

The stack is wired as ``up`` wires it (memory broker, the real worker server on the NumPy device) and
served by uvicorn on loopback; requests go over real HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from atto_work.embedded import create_stack_app
from coordinator import CoordinatorSettings
from messaging.memory import MemoryBroker
from solver.api import create_app as create_worker_app
from solver.settings import SolverSettings
from tests.pipeline.fakes import serve
from worker_adapter import AdapterSettings

KEY = "client-key-0123456789abcdef"
SOLVER_TOKEN = "solver-token-0123456789"
EASY = {"threshold": str(2**64 - 1)}  # any work meets it: one hash
PATH = f"/solver/works/{'AB' * 32}"


@asynccontextmanager
async def stack(devices, api_keys: str | None, solver_token: str | None) -> AsyncIterator[httpx.AsyncClient]:  # noqa: ANN001
    broker = MemoryBroker()
    app = create_stack_app(
        CoordinatorSettings(messaging="memory", coordinator_api_keys=api_keys),
        AdapterSettings(messaging="memory"),
        create_worker_app(SolverSettings(), devices),
        broker,
        solver_token=solver_token,
    )
    async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_with_api_keys_solver_needs_a_key_or_the_solver_token(numpy_devices) -> None:  # noqa: ANN001
    async with stack(numpy_devices, KEY, SOLVER_TOKEN) as client:
        anonymous = await client.post(PATH, json=EASY)
        assert anonymous.status_code == 401, anonymous.text
        assert "error" in anonymous.json()
        assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await client.post(PATH, json=EASY, headers=bearer("wrong-key-0123456789"))).status_code == 401
        assert (await client.post("/solver/works", json={}, )).status_code == 401  # every work route
        assert (await client.delete(PATH)).status_code == 401
        with_key = await client.post(PATH, json=EASY, headers=bearer(KEY))
        assert with_key.status_code == 200, with_key.text
        with_token = await client.post(PATH, json=EASY, headers=bearer(SOLVER_TOKEN))
        assert with_token.status_code == 200, with_token.text
        # Orchestrators probe without credentials.
        assert (await client.get("/solver/health")).status_code == 200
        assert (await client.get("/solver/ready")).status_code == 200


async def test_with_api_keys_and_no_solver_token_a_key_is_needed(numpy_devices) -> None:  # noqa: ANN001
    async with stack(numpy_devices, KEY, None) as client:
        assert (await client.post(PATH, json=EASY)).status_code == 401
        assert (await client.post(PATH, json=EASY, headers=bearer(KEY))).status_code == 200


async def test_without_keys_the_solver_token_alone_guards_it(numpy_devices) -> None:  # noqa: ANN001
    async with stack(numpy_devices, None, SOLVER_TOKEN) as client:
        assert (await client.post(PATH, json=EASY)).status_code == 401
        assert (await client.post(PATH, json=EASY, headers=bearer(SOLVER_TOKEN))).status_code == 200


async def test_without_keys_or_token_solver_stays_open(numpy_devices) -> None:  # noqa: ANN001
    async with stack(numpy_devices, None, None) as client:
        assert (await client.post(PATH, json=EASY)).status_code == 200
