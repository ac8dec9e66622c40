"""``create_app``: the adapter's probes app (``/health``, ``/ready``, ``/metrics`` on port 8091);
its lifespan is the adapter's life (start on start-up, drain on shutdown, which SIGTERM triggers)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from common.http import RequestLimits, add_probes, install_error_handlers
from messaging import Broker, create_broker
from worker_adapter.adapter import Adapter
from worker_adapter.settings import AdapterSettings


def create_app(
    settings: AdapterSettings,
    broker: Broker | None = None,
    worker_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The adapter. ``broker`` is shared when given (``atto-work up``: its owner starts and closes
    it); ``worker_transport`` reaches the worker server another way than ``WORKER_URL`` over TCP
    (``atto-work up`` passes an ``httpx.ASGITransport`` of the in-process worker server)."""
    owns_broker = broker is None
    the_broker: Broker = broker if broker is not None else create_broker(settings)
    adapter = Adapter(settings, the_broker, worker_transport)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if owns_broker:
            await the_broker.start()
        await adapter.start()
        try:
            yield
        finally:
            await adapter.stop()
            if owns_broker:
                await the_broker.close()

    app = FastAPI(title="atto-work worker adapter", version="0.1.0", lifespan=lifespan)
    app.state.adapter = adapter
    install_error_handlers(app)
    app.add_middleware(RequestLimits)

    async def ready() -> dict[str, object]:
        return {"broker": await the_broker.ping(), "worker": await adapter.worker_ready(),
                "subscribed": adapter.subscription is not None}

    add_probes(app, ready)
    return app
