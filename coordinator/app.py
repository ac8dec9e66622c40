"""``create_app``: the coordinator's FastAPI app; its lifespan starts and stops result delivery."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from common.http import RequestLimits, add_probes, install_error_handlers
from coordinator.auth import ApiKeyGuard
from coordinator.callbacks import CallbackPolicy, CallbackSender
from coordinator.delivery import ResultDelivery
from coordinator.intake import create_router
from coordinator.metrics import CoordinatorMetrics
from coordinator.settings import CoordinatorSettings
from messaging import Broker, create_broker

log = logging.getLogger(__name__)


def create_app(
    settings: CoordinatorSettings,
    broker: Broker | None = None,
    sender: CallbackSender | None = None,
) -> FastAPI:
    """The coordinator. ``broker`` is shared when given (``atto-work up``) and then started and
    closed by its owner; otherwise one is made from ``settings`` and owned by the app. ``sender``
    replaces the callback sender made from ``settings`` (tests). The app's metrics are in
    ``app.state.metrics``, served by its ``/metrics``."""
    owns_broker = broker is None
    the_broker: Broker = broker if broker is not None else create_broker(settings.broker_settings())
    policy = CallbackPolicy(settings.allowed_networks, cache_seconds=settings.callback_dns_cache_seconds)
    the_sender = sender or CallbackSender(settings.callback_timeout_seconds, policy, settings.signing_secret)
    metrics = CoordinatorMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if owns_broker:
            await the_broker.start()
        await the_broker.declare(settings.pubsub_work_requested_topic)
        await the_broker.declare(
            settings.pubsub_work_generated_topic, settings.pubsub_work_generated_subscription
        )
        delivery = ResultDelivery(
            the_broker, the_sender, settings.pubsub_work_requested_topic, settings.callback_max_age,
            metrics,
        )
        subscription = await the_broker.subscribe(
            settings.pubsub_work_generated_subscription,
            delivery,
            max_outstanding=settings.pubsub_subscriber_max_outstanding_element_count,
        )
        log.info("coordinator started", extra={"messaging": settings.backend})
        try:
            yield
        finally:
            await subscription.stop(grace=settings.callback_timeout_seconds)
            await the_sender.close()
            if owns_broker:
                await the_broker.close()

    app = FastAPI(
        title="atto-work coordinator",
        summary="Request Atto proof of work; receive it on your callback URL.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.broker = the_broker
    app.state.sender = the_sender
    app.state.requested_topic = settings.pubsub_work_requested_topic
    app.state.metrics = metrics
    install_error_handlers(app)
    app.add_middleware(RequestLimits)
    guard = ApiKeyGuard(settings.api_keys, settings.coordinator_rate_limit)
    app.include_router(create_router(settings.coordinator_max_clock_skew_seconds, metrics, guard))

    async def ready() -> dict[str, object]:
        return {"broker": await the_broker.ping()}

    add_probes(app, ready, registry=metrics.registry)
    return app
