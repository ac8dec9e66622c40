"""``create_app``: the coordinator's FastAPI app. Its lifespan starts the work-state store, result
delivery and the deadline sweeper, and stops them in reverse. ``POST /works/{hash}``, the hot path,
is dispatched before FastAPI's middleware stack and router (``CoordinatorApp``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from common.http import RequestLimits, add_probes, install_error_handlers
from coordinator.auth import ApiKeyGuard
from coordinator.callbacks import CallbackPolicy, CallbackSender
from coordinator.callbacks.dns import DnsResolver
from coordinator.callbacks.origins import OriginBacklog
from coordinator.callbacks.signing import SigningSecrets
from coordinator.delivery import ResultDelivery
from coordinator.intake import LeanRoute, create_router
from coordinator.lifecycle import WorkLifecycle, caller_id
from coordinator.metrics import CoordinatorMetrics
from coordinator.settings import CoordinatorSettings
from messaging import Broker, WorkCancelled, WorkRequested, create_broker
from messaging.messages import deadline_attributes
from store import WorkStore, create_store
from work import parse_target

log = logging.getLogger(__name__)

#: Seconds between two deadline sweeps.
SWEEP_SECONDS = 1.0
#: One delivery's lease (its callbacks, all at once) in callback timeouts: past it another replica
#: may take the delivery over.
LEASE_CALLBACK_TIMEOUTS = 3


class CoordinatorApp(FastAPI):
    """The coordinator's FastAPI app, with one shortcut: a request its ``LeanRoute`` (``POST
    /works/{hash}``) matches is served by that route's handler at once, under the same
    ``RequestLimits`` and error handlers, rather than through FastAPI's middleware stack and
    router, which cost more CPU per request than the intake itself. Everything else, and the
    OpenAPI schema, is FastAPI's as usual."""

    hot_route: LeanRoute | None = None  # set by serve_ahead, with the two below
    hot_handler: Callable[[Request], Awaitable[Response]]
    _hot_path: ASGIApp

    def serve_ahead(self, route: LeanRoute) -> None:
        """Serve ``route`` (one of the app's, so its errors are the app's to answer) ahead."""
        self.hot_route = route
        self._hot_path = RequestLimits(self._serve_hot)
        self.hot_handler = self.hot_route.get_route_handler()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.hot_route is not None and scope["type"] == "http":
            match, child_scope = self.hot_route.matches(scope)
            if match is Match.FULL:
                scope.update(child_scope)
                scope["app"] = self
                await self._hot_path(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def _serve_hot(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        try:
            response = await self.hot_handler(request)
        except Exception as exc:  # what FastAPI's ExceptionMiddleware would do: the app's handler
            handler = next((self.exception_handlers[kind] for kind in type(exc).__mro__
                            if kind in self.exception_handlers), None)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)


def create_app(
    settings: CoordinatorSettings,
    broker: Broker | None = None,
    sender: CallbackSender | None = None,
    store: WorkStore | None = None,
) -> CoordinatorApp:
    """The coordinator. ``broker`` is shared when given (``atto-work up``) and then started and
    closed by its owner; otherwise one is made from ``settings`` and owned by the app. ``sender``
    replaces the callback sender made from ``settings`` (tests); ``store`` the store ``STORE_URL``
    names (started and closed by the app either way). The app's metrics are in
    ``app.state.metrics``, served by its ``/metrics``."""
    owns_broker = broker is None
    the_broker: Broker = broker if broker is not None else create_broker(settings.broker_settings())
    the_store: WorkStore = store if store is not None else create_store(settings)
    policy = CallbackPolicy(settings.allowed_networks, DnsResolver(settings.dns_servers),
                            cache_seconds=settings.callback_dns_cache_seconds)
    signing = SigningSecrets(settings.signing_secret,
                             {caller_id(key): secret for key, secret in settings.signing_keys.items()})
    the_sender = sender or CallbackSender(settings.callback_timeout_seconds, policy, signing,
                                          per_origin=settings.callback_connections_per_origin,
                                          format=settings.callback_format)
    metrics = CoordinatorMetrics()

    async def publish(message: WorkRequested, deadline: float) -> None:
        await the_broker.publish(settings.pubsub_work_requested_topic, message.to_json(),
                                 deadline_attributes(deadline))

    async def stop_search(hash: str) -> None:
        await the_broker.publish(settings.pubsub_work_cancelled_topic,
                                 WorkCancelled(parse_target(hash)).to_json())

    lifecycle = WorkLifecycle(the_store, publish, stop_search, settings,
                              lease=LEASE_CALLBACK_TIMEOUTS * settings.callback_timeout_seconds,
                              metrics=metrics)
    # A failing result is retried within the longest redelivery delay plus one callback timeout.
    backlog = OriginBacklog(settings.callback_max_pending_per_origin,
                            hold=settings.broker_settings().messaging_retry_max_seconds
                            + 2 * settings.callback_timeout_seconds)
    delivery = ResultDelivery(the_broker, the_sender, lifecycle, settings.pubsub_work_requested_topic,
                              settings.callback_max_age, metrics, backlog)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if owns_broker:
            await the_broker.start()
        await the_store.start()
        await the_broker.declare(settings.pubsub_work_requested_topic)
        await the_broker.declare(settings.pubsub_work_cancelled_topic)
        await the_broker.declare(
            settings.pubsub_work_generated_topic, settings.pubsub_work_generated_subscription
        )
        subscription = await the_broker.subscribe(
            settings.pubsub_work_generated_subscription,
            delivery,
            max_outstanding=settings.pubsub_subscriber_max_outstanding_element_count,
        )
        sweeper = asyncio.create_task(lifecycle.run_sweeper(SWEEP_SECONDS))
        log.info("coordinator started",
                 extra={"messaging": settings.backend, "store": settings.store_url.split(":")[0]})
        try:
            yield
        finally:
            sweeper.cancel()
            await asyncio.gather(sweeper, return_exceptions=True)
            await subscription.stop(grace=settings.callback_timeout_seconds)
            await delivery.close(grace=settings.callback_timeout_seconds)
            await the_sender.close()
            await the_store.close()
            if owns_broker:
                await the_broker.close()

    app = CoordinatorApp(
        title="atto-work coordinator",
        summary="Request Atto proof of work; receive it on your callback URL.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.broker = the_broker
    app.state.sender = the_sender
    app.state.store = the_store
    app.state.lifecycle = lifecycle
    app.state.delivery = delivery
    app.state.metrics = metrics
    install_error_handlers(app)
    app.add_middleware(RequestLimits)
    guard = ApiKeyGuard(settings.api_keys, settings.coordinator_rate_limit)
    works = create_router(settings.coordinator_max_clock_skew_seconds, metrics, guard)
    app.include_router(works)

    async def ready() -> dict[str, object]:
        return {"broker": await the_broker.ping(), "store": await the_store.ping()}

    add_probes(app, ready, registry=metrics.registry)
    app.serve_ahead(next(route for route in works.routes if isinstance(route, LeanRoute)))
    return app
