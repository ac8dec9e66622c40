"""The three services in one process, sharing one broker: what ``atto-work up`` serves.

The adapter reaches the in-process worker server through ``InProcessWorker``, which calls the worker
server's device pool (``DevicePool.solve``) directly: no HTTP layer of the worker server runs inside
the adapter's message handlers, so the worker server's "client went away, cancel the search" path
can never cancel a handler; only the adapter's own stop does (and then the search stops with it).
The adapter still checks every work. The worker server stays reachable from outside under
``/solver``, the adapter's probes under ``/adapter``; ``/metrics`` serves the coordinator's and the
adapter's metrics; everything else is the coordinator.

``/solver`` is as open as the coordinator: with ``COORDINATOR_API_KEYS`` set, its routes (all but the
probes) take a coordinator API key or ``SOLVER_TOKEN``, and nothing else; a search costs CPU the
keyed clients' works need. With neither set it is open, as the rest of the local default is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

import coordinator
import worker_adapter
from common.bearer import BearerGuard, BearerTokens
from messaging import Broker
from solver.errors import SolverError
from solver.pool import DevicePool
from worker_adapter import WorkerFailed

#: The worker server's probes: open to orchestrators under ``/solver`` whatever guards the rest.
PROBES = ("/health", "/ready", "/metrics")


class InProcessWorker:
    """A ``worker_adapter.WorkerClient`` on the device pool of ``worker_app`` (``solver.api``), which
    must run its lifespan in this process; see the module docstring."""

    name = "in-process"

    def __init__(self, worker_app: FastAPI) -> None:
        self._app = worker_app

    def _pool(self) -> DevicePool | None:
        return getattr(self._app.state, "pool", None)

    async def solve(self, target: bytes, threshold: int, time_limit: float) -> bytes:
        pool = self._pool()
        if pool is None:
            raise WorkerFailed("the worker server's devices are not initialised")
        # The worker server's own limit (SOLVER_TIMEOUT_SECONDS) holds as it does over HTTP.
        limit = min(time_limit, self._app.state.settings.timeout_seconds)
        try:
            return (await pool.solve(target, threshold, limit)).work
        except SolverError as exc:  # timeout, queue full, cancelled, device failure
            raise WorkerFailed(f"{type(exc).__name__}: {exc}") from exc

    async def cancel(self, target: bytes) -> None:
        pool = self._pool()
        if pool is not None:
            pool.cancel(target)

    async def ready(self) -> bool:
        return self._pool() is not None

    async def capacity(self) -> int | None:
        pool = self._pool()
        return len(pool.devices) if pool is not None else None

    async def close(self) -> None:
        """Nothing to release: the worker server's lifespan owns the pool."""


def create_stack_app(
    coordinator_settings: coordinator.CoordinatorSettings,
    adapter_settings: worker_adapter.AdapterSettings,
    worker_app: FastAPI,
    broker: Broker,
    on_started: Callable[[], None] | None = None,
    solver_token: str | None = None,
) -> Starlette:
    """One ASGI app whose lifespan starts the broker, the worker server, the coordinator and the
    adapter (in that order: the adapter asks the worker server its capacity) and stops them in
    reverse, so the adapter drains while the coordinator can still deliver what it finishes.
    ``on_started`` is called once everything runs (``atto-work up`` prints its banner there).
    ``solver_token`` (``SOLVER_TOKEN``) and the coordinator's API keys guard ``/solver``: make
    ``worker_app`` without a token of its own, or it would refuse the API keys."""
    coordinator_app = coordinator.create_app(coordinator_settings, broker=broker)
    adapter_app = worker_adapter.create_app(adapter_settings, broker=broker,
                                            worker=InProcessWorker(worker_app))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await broker.start()
        try:
            async with AsyncExitStack() as stack:
                for part in (worker_app, coordinator_app, adapter_app):
                    await stack.enter_async_context(part.router.lifespan_context(part))  # type: ignore[attr-defined]
                if on_started is not None:
                    on_started()
                yield
        finally:
            await broker.close()

    async def metrics(request: Request) -> Response:
        body = b"".join(generate_latest(part.state.metrics_registry)
                        for part in (coordinator_app, adapter_app))
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    tokens = BearerTokens([*coordinator_settings.api_keys, *([solver_token] if solver_token else [])],
                          realm="atto-work")
    solver = BearerGuard(worker_app, tokens, open_paths=PROBES)
    stack = Starlette(routes=[Route("/metrics", metrics), Mount("/solver", solver),
                              Mount("/adapter", adapter_app)], lifespan=lifespan)
    # Everything else goes to the coordinator as it is: a Mount("/") would not match paths holding
    # a newline (%0A) and answer a plain-text 404 instead of the coordinator's JSON 400.
    stack.router.default = coordinator_app
    return stack
