"""The worker adapter's whole life, in the order it runs.

1. start: create what is missing (in-process broker, emulator); then, in the background (the
   probes are served meanwhile: ``/health`` 200, ``/ready`` 503), wait for the worker server to be
   ready, polling with backoff and logging while it waits (a pod scaled from zero may wait minutes
   for its GPU), learn how many works it runs at once (it gets at most twice that: the seed's
   precise load control, one running and one waiting per device), and only then subscribe. Nothing
   gives up: a broker that refuses the subscription is asked again, with the same backoff;
   It reads ahead: it holds up to ``ADAPTER_READ_AHEAD`` requests per device (fewer, larger pulls:
   the queue's CPU per work falls), the extra ones waiting in the adapter for a worker-server slot,
   each at most ``ADAPTER_READ_AHEAD_MAX_WAIT_SECONDS``: one that would wait longer (long works) is
   released (nacked) for another adapter;
   Before the requests, it subscribes to WorkCancelled through a subscription of its own (every
   adapter hears every cancel);
2. handle one WorkRequested: drop it (ack, counted) when it is past its deadline (the ``deadline``
   attribute) or a WorkCancelled for its hash came after it was published; otherwise ask the worker
   server (a ``WorkerClient``) within the deadline, check the answer with ``work``, publish
   WorkGenerated, and only then return so the broker acks it. Any other failure raises and the
   broker nacks, so the request comes back later (at-least-once). A malformed message is acked,
   logged and counted: redelivering it cannot help. A WorkCancelled for a hash being solved tells
   the worker server to stop that search; the request is then acked as cancelled;
3. stop (SIGTERM, via the app's lifespan): take no new requests, let the running ones finish within
   the grace period, nack the rest (the subscription does that), close the client.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from messaging import (
    Broker,
    BrokerUnavailable,
    Message,
    Redeliver,
    Subscription,
    WorkCancelled,
    WorkGenerated,
    WorkRequested,
)
from messaging.messages import deadline_of, decode
from work import difficulty, format_work
from worker_adapter.cancels import CancelledHashes
from worker_adapter.metrics import AdapterMetrics
from worker_adapter.settings import AdapterSettings
from worker_adapter.worker_client import WorkerClient, WorkerFailed

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Worker-server calls at once per work it runs at once: one running and one waiting in the worker
#: server's queue, so a device never idles while we publish a result and fetch the next request.
#: The device load stays exactly its capacity. With long works this is also all the adapter holds,
#: and the rest of the backlog stays in the queue for other adapters.
READ_AHEAD = 2

#: Waits between start-up attempts (worker server readiness, subscribing) grow to this.
MAX_BACKOFF_SECONDS = 10.0
FIRST_BACKOFF_SECONDS = 0.25


class InvalidWork(Redeliver):
    """The worker server returned a work that does not meet the threshold."""


class Released(Redeliver):
    """A read-ahead request waited too long for a worker-server slot: it goes back to the queue,
    for an adapter with a free device (or this one, later), after the shortest redelivery delay
    (it did not fail: a delay that grows with its age would hold back a request that has queued
    longest)."""

    prompt = True


class Adapter:
    def __init__(self, settings: AdapterSettings, broker: Broker, worker: WorkerClient,
                 metrics: AdapterMetrics | None = None) -> None:
        self.settings = settings
        self.broker = broker
        self.worker = worker
        self.metrics = metrics if metrics is not None else AdapterMetrics()
        self.subscription: Subscription | None = None
        self.cancel_subscription: Subscription | None = None
        self.cancelled = CancelledHashes()
        #: hash -> publish times of the requests for it being solved now
        self._solving: dict[str, list[datetime]] = {}
        #: Set once the adapter consumes requests (after its worker server said it is ready).
        self.subscribed = asyncio.Event()
        #: Worker-server calls at once (the precise load control).
        self.max_outstanding = 0
        #: Requests held at once (leased from the queue): ``max_outstanding`` plus the read-ahead.
        self.read_ahead = 0
        self.running = 0
        self._slots = asyncio.Semaphore(1)
        self._draining: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._starting: asyncio.Task[None] | None = None

    # 1. start ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Declare the queues now; wait for the worker server and subscribe in the background."""
        s = self.settings
        await self.broker.declare(s.pubsub_work_requested_topic, s.pubsub_work_requested_subscription)
        await self.broker.declare(s.pubsub_work_generated_topic)
        await self.broker.declare(s.pubsub_work_cancelled_topic)
        self._starting = asyncio.create_task(self._subscribe_when_worker_ready())

    async def _subscribe_when_worker_ready(self) -> None:
        s = self.settings
        await self._retry("the worker server to be ready", self._worker_ready)
        capacity = await self.worker.capacity()
        if capacity is None and not s.pubsub_subscriber_max_outstanding_element_count:
            log.warning("worker server did not say its capacity; holding 1 request at a time")
        self.max_outstanding = (s.pubsub_subscriber_max_outstanding_element_count
                                or READ_AHEAD * (capacity or 1))
        self.read_ahead = (self.max_outstanding if s.pubsub_subscriber_max_outstanding_element_count
                           else max(self.max_outstanding, s.adapter_read_ahead * (capacity or 1)))
        self._slots = asyncio.Semaphore(self.max_outstanding)
        self.metrics.capacity.set(self.read_ahead)
        self.cancel_subscription = await self._retry("the cancel subscription", self._hear_cancels)
        self.subscription = await self._retry("the subscription", self._subscribe)
        self.subscribed.set()
        log.info("adapter started: holding at most %d requests, %d at the worker server",
                 self.read_ahead, self.max_outstanding, extra={"worker": self.worker.name})

    async def _worker_ready(self) -> bool:
        if await self.worker.ready():
            return True
        raise WorkerFailed("not ready")

    async def _hear_cancels(self) -> Subscription:
        return await self.broker.fanout(self.settings.pubsub_work_cancelled_topic, self.on_cancel)

    async def _subscribe(self) -> Subscription:
        return await self.broker.subscribe(self.settings.pubsub_work_requested_subscription, self.handle,
                                           max_outstanding=self.read_ahead)

    @staticmethod
    async def _retry(what: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """``await attempt()`` until it succeeds, backing off and logging each failure: short for an
        expected one, with the traceback for a surprise (still retried: giving up would leave the
        process up but unsubscribed)."""
        delay = FIRST_BACKOFF_SECONDS
        started = time.monotonic()
        while True:
            try:
                return await attempt()
            except (Redeliver, BrokerUnavailable) as exc:
                log.info("waiting for %s (%.0f s so far): %s; next try in %.1f s",
                         what, time.monotonic() - started, exc, delay)
            except Exception:
                log.exception("waiting for %s (%.0f s so far); next try in %.1f s",
                              what, time.monotonic() - started, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    # 2. handle one request --------------------------------------------------------------------

    async def handle(self, message: Message) -> None:
        request = decode(WorkRequested, message)
        if request is None:
            self.metrics.messages.labels("malformed").inc()
            return
        context = {"hash": request.hash, "message_id": message.message_id}
        deadline = deadline_of(message)
        if deadline is not None and deadline <= time.time():
            self.metrics.messages.labels("expired").inc()
            log.info("request past its deadline dropped", extra=context)
            return
        if self.cancelled.covers(request.hash, message.publish_time):
            self._dropped(context)
            return
        await self._take_slot(context)
        try:
            work = await self._run(request, message, deadline, context)
        finally:
            self._slots.release()
        if work is None:
            return
        try:
            await self.broker.publish(
                self.settings.pubsub_work_generated_topic, WorkGenerated.answering(request, work).to_json()
            )
        except Exception:
            self.metrics.messages.labels("publish_failed").inc()
            raise
        self.metrics.messages.labels("solved").inc()
        log.info("work generated", extra={**context, "work": format_work(work)})

    async def _take_slot(self, context: dict[str, str]) -> None:
        """Wait for a worker-server slot (a read-ahead request may have to); raise ``Released``
        past ``ADAPTER_READ_AHEAD_MAX_WAIT_SECONDS``."""
        if not self._slots.locked():  # a slot is free and nobody waits: no timer needed
            await self._slots.acquire()
            return
        wait = self.settings.adapter_read_ahead_max_wait_seconds
        try:
            await asyncio.wait_for(self._slots.acquire(), wait)
        except TimeoutError:
            self.metrics.messages.labels("released").inc()
            log.info("no worker-server slot within %g s: request released", wait, extra=context)
            raise Released(f"no worker-server slot within {wait:g} s") from None

    async def _run(self, request: WorkRequested, message: Message, deadline: float | None,
                   context: dict[str, str]) -> bytes | None:
        """Solve ``request`` holding a worker-server slot; None when it was dropped."""
        if self._stopping:  # it waited in the adapter: another adapter takes it now
            raise Redeliver("the adapter is stopping")
        if deadline is not None and deadline <= time.time():  # it waited past its deadline
            self.metrics.messages.labels("expired").inc()
            log.info("request past its deadline dropped", extra=context)
            return None
        if self.cancelled.covers(request.hash, message.publish_time):  # cancelled while it waited
            self._dropped(context)
            return None
        self.metrics.in_flight.inc()
        self.running += 1
        solving = self._solving.setdefault(request.hash, [])
        solving.append(message.publish_time)
        try:
            return await self._solve(request, message.publish_time, deadline, context)
        finally:
            self.metrics.in_flight.dec()
            self.running -= 1
            solving.remove(message.publish_time)
            if not solving:
                self._solving.pop(request.hash, None)

    def _dropped(self, context: dict[str, str]) -> None:
        self.metrics.messages.labels("cancelled").inc()
        log.info("cancelled request dropped", extra=context)

    async def on_cancel(self, message: Message) -> None:
        """A WorkCancelled: remember it; stop the search when a request published before it runs."""
        cancel = decode(WorkCancelled, message)
        if cancel is None:
            return
        self.cancelled.add(cancel.hash, message.publish_time)
        if any(published <= message.publish_time for published in self._solving.get(cancel.hash, ())):
            log.info("stopping a cancelled search", extra={"hash": cancel.hash})
            await self.worker.cancel(cancel.target)

    async def _solve(self, request: WorkRequested, published: datetime, deadline: float | None,
                     context: dict[str, str]) -> bytes | None:
        """The work, or None when a WorkCancelled or the deadline stopped the search (the request
        is acked)."""
        time_limit = self.settings.worker_timeout_seconds
        if deadline is not None:
            time_limit = min(time_limit, deadline - time.time())
        started = time.perf_counter()
        try:
            work = await self.worker.solve(request.target, request.threshold, time_limit)
        except WorkerFailed as exc:
            if self.cancelled.covers(request.hash, published):  # on_cancel stopped it
                self._dropped(context)
                return None
            if deadline is not None and time.time() >= deadline:  # nobody waits for it any more
                self.metrics.messages.labels("expired").inc()
                log.info("request reached its deadline while solving; dropped", extra=context)
                return None
            self.metrics.messages.labels("worker_failed").inc()
            log.warning("worker server failed, request will come back: %s", exc, extra=context)
            raise
        self.metrics.solve_seconds.observe(time.perf_counter() - started)
        value = difficulty(work, request.target)
        if value > request.threshold:
            self.metrics.messages.labels("invalid_work").inc()
            log.error("worker server returned invalid work %s (difficulty %d > threshold %d)",
                      format_work(work), value, request.threshold, extra=context)
            raise InvalidWork(format_work(work))
        return work

    # 3. stop ----------------------------------------------------------------------------------

    async def stop(self) -> None:
        """Take no new requests; running ones get the grace period, the rest are nacked."""
        self._stopping = True
        if self._starting is not None:
            self._starting.cancel()
            await asyncio.gather(self._starting, return_exceptions=True)
            self._starting = None
        if self.cancel_subscription is not None:
            await self.cancel_subscription.stop()  # deletes its subscription
            self.cancel_subscription = None
        if self.subscription is not None:
            log.info("adapter stopping: %d requests running, %.0f s grace",
                     self.running, self.settings.adapter_shutdown_grace_seconds)
            await asyncio.gather(self.subscription.stop(grace=self.settings.adapter_shutdown_grace_seconds),
                                 *self._draining)
            self.subscription = None
            self.subscribed.clear()
        await self.worker.close()
