"""The three services in one process, sharing one broker: what ``atto-work up`` serves.

The adapter reaches the in-process worker server through ``httpx.ASGITransport``: the same HTTP
contract and code path as across processes (request validation, error mapping, JSON), without a
second listening port or loopback TCP per work. The worker server stays reachable from outside
under ``/solver`` and the adapter's probes under ``/adapter``; everything else is the coordinator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp

import coordinator
import worker_adapter
from messaging import Broker


def create_stack_app(
    coordinator_settings: coordinator.CoordinatorSettings,
    adapter_settings: worker_adapter.AdapterSettings,
    worker_app: ASGIApp,
    broker: Broker,
    on_started: Callable[[], None] | None = None,
) -> Starlette:
    """One ASGI app whose lifespan starts the broker, the worker server, the coordinator and the
    adapter (in that order: the adapter asks the worker server its capacity) and stops them in
    reverse, so the adapter drains while the coordinator can still deliver what it finishes.
    ``on_started`` is called once everything runs (``atto-work up`` prints its banner there)."""
    coordinator_app = coordinator.create_app(coordinator_settings, broker=broker)
    adapter_app = worker_adapter.create_app(
        adapter_settings, broker=broker, worker_transport=httpx.ASGITransport(app=worker_app)
    )

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

    stack = Starlette(routes=[Mount("/solver", worker_app), Mount("/adapter", adapter_app)],
                      lifespan=lifespan)
    # Everything else goes to the coordinator as it is: a Mount("/") would not match paths holding
    # a newline (%0A) and answer a plain-text 404 instead of the coordinator's JSON 400.
    stack.router.default = coordinator_app
    return stack
