"""``create_app``: the adapter's probes app (``/health``, ``/ready``, ``/metrics`` on port 8091);
its lifespan is the adapter's life (start on start-up, drain on shutdown, which SIGTERM triggers)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from common.http import RequestLimits, add_probes, install_error_handlers
from messaging import Broker, create_broker
from worker_adapter.adapter import Adapter
from worker_adapter.http_worker import HttpWorkerClient
from worker_adapter.metrics import AdapterMetrics
from worker_adapter.settings import AdapterSettings
from worker_adapter.worker_client import WorkerClient


def create_app(
    settings: AdapterSettings,
    broker: Broker | None = None,
    worker: WorkerClient | None = None,
) -> FastAPI:
    """The adapter. ``broker`` is shared when given (``atto-work up``: its owner starts and closes
    it); ``worker`` reaches the worker server another way than ``WORKER_URL`` (``atto-work up``
    passes one that calls the in-process worker server's device pool)."""
    owns_broker = broker is None
    the_broker: Broker = broker if broker is not None else create_broker(settings)
    metrics = AdapterMetrics()
    adapter = Adapter(settings, the_broker, worker if worker is not None else HttpWorkerClient(settings),
                      metrics)

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
    app.state.metrics = metrics
    install_error_handlers(app)
    app.add_middleware(RequestLimits)

    async def ready() -> dict[str, object]:
        return {"broker": await the_broker.ping(), "worker": await adapter.worker.ready(),
                "subscribed": adapter.subscribed.is_set()}

    add_probes(app, ready, registry=metrics.registry)
    return app
