"""The life of a work request over the work-state store: what intake, result delivery, GET and DELETE
ask, and what they must then do. Free of HTTP and of any broker: it is given two callables.

- ``publish(message, deadline)``: put a WorkRequested on the queue (the deadline, epoch seconds,
  travels as a message attribute); raises ``messaging.BrokerUnavailable`` when the queue refuses.
- ``stop_search(hash)``: tell every adapter that nobody waits for H any more (WorkCancelled).

Errors it lets through, and what they become (see ``store.errors``): ``ValueError`` (a timeout out
of range: 400), ``RequestLimit`` (429), ``StoreUnavailable`` (503 at intake, status and cancel; a
nack in delivery) and ``BrokerUnavailable`` (503 at intake; a nack in delivery).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from coordinator.metrics import CoordinatorMetrics
from messaging import WorkGenerated, WorkRequested
from store import Decision, Expired, Request, StoreSettings, StoreUnavailable, WorkStore
from work import difficulty, format_target, format_work

log = logging.getLogger(__name__)

Publish = Callable[[WorkRequested, float], Awaitable[None]]
StopSearch = Callable[[str], Awaitable[None]]


def caller_id(api_key: str | None) -> str | None:
    """Who may cancel a request: a digest of its API key (the store never holds the key itself)."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:32] if api_key is not None else None


@dataclass(frozen=True)
class Accepted:
    """The answer to ``POST /works/{hash}``; when ``decision`` is CACHED, call back ``work`` now."""

    request: Request
    decision: Decision
    work: bytes | None

    def body(self) -> dict[str, Any]:
        return {"hash": self.request.hash, "threshold": self.request.threshold,
                "state": self.decision.value}


@dataclass(frozen=True)
class Deliveries:
    """What one WorkGenerated asks of delivery: call back ``requests`` (each exactly once, here),
    then ``delivered`` or ``failed``; with ``retry_later``, nack the message afterwards, as another
    replica delivers the rest of its requests now and may fail."""

    requests: tuple[Request, ...]
    work: bytes
    retry_later: bool


class WorkLifecycle:
    def __init__(
        self, store: WorkStore, publish: Publish, stop_search: StopSearch, settings: StoreSettings,
        lease: float, clock: Callable[[], float] = time.time, metrics: CoordinatorMetrics | None = None,
    ) -> None:
        """``lease``: how long one delivery of a work may take (its callbacks, retries included)
        before another replica may take it over; the callback timeout plus a margin. ``metrics``:
        the app's (a registry of its own when not given)."""
        self.metrics = metrics if metrics is not None else CoordinatorMetrics()
        self._store = store
        self._publish = publish
        self._stop_search = stop_search
        self._settings = settings
        self._lease = lease
        self._clock = clock

    async def submit(
        self, target: bytes, threshold: int, callback: str, api_key: str | None, wait: float | None
    ) -> Accepted:
        """``wait``: the body's ``timeout`` (None: WORK_TIMEOUT_SECONDS)."""
        deadline = self._clock() + self._settings.timeout(wait)
        submitted = await self._store.submit(
            format_target(target), threshold, callback, caller_id(api_key), deadline)
        request = submitted.request
        if submitted.decision is Decision.QUEUED:
            try:
                await self._publish(WorkRequested(callback, target, threshold), deadline)
            except BaseException:
                await self._withdraw(request)
                raise
        self.metrics.work_requests.labels(submitted.decision.value).inc()
        return Accepted(request, submitted.decision, submitted.work)

    async def _withdraw(self, request: Request) -> None:
        try:
            await self._store.withdraw(request)
        except StoreUnavailable as exc:  # the request stays recorded and expires at its deadline
            log.warning("could not withdraw an unpublished request: %s", exc, extra={"hash": request.hash})

    async def on_result(self, result: WorkGenerated) -> Deliveries:
        """A work was found (already checked against its message's threshold)."""
        hash, target, work = result.hash, result.target, result.work
        completion = await self._store.complete(hash, work, difficulty(work, target), self._lease)
        again = completion.requeue
        if again is not None:  # requests still wait and no search strict enough runs: start one
            try:
                await self._publish(WorkRequested(again.callback, target, again.threshold), again.deadline)
            except BaseException:
                await self._store.forget_search(hash)  # the redelivered result tries again
                raise
            self.metrics.work_requests.labels("requeued").inc()
        requests = completion.deliver
        nothing = not (requests or completion.in_flight or completion.pending)
        if nothing and await self._store.status(hash) is None:
            # The store knows nothing of H: it lost its state (a Redis restarted empty), or the
            # request came through a coordinator without one. Call back the message's own callback,
            # as the reference does. (After a delivery, a cancel or an expiry the state is known.)
            requests = (Request("", hash, result.threshold, result.callback_url, None, 0.0),)
        return Deliveries(requests, work, completion.in_flight > 0)

    async def delivered(self, requests: tuple[Request, ...]) -> None:
        """Their callbacks are done (delivered, refused, or given up after CALLBACK_MAX_AGE)."""
        if requests:
            await self._store.finish(requests[0].hash, [r.id for r in requests])

    async def failed(self, requests: tuple[Request, ...]) -> None:
        """Their callbacks failed: the redelivered result calls them back again."""
        if requests:
            await self._store.release(requests[0].hash, [r.id for r in requests])

    async def status(self, target: bytes) -> dict[str, Any] | None:
        """The body of ``GET /works/{hash}``, or None for a 404."""
        status = await self._store.status(format_target(target))
        if status is None:
            return None
        body: dict[str, Any] = {"hash": status.hash, "state": status.state.value,
                                "threshold": status.threshold}
        if status.work is not None:
            body["work"] = format_work(status.work)
        return body

    async def cancel(self, target: bytes, api_key: str | None) -> int:
        """Cancel the pending requests of ``api_key`` (all without API keys); how many were cancelled."""
        hash = format_target(target)
        cancelled = await self._store.cancel(hash, caller_id(api_key))
        self.metrics.work_requests.labels("cancelled").inc(cancelled.count)
        if cancelled.count and cancelled.stop:
            await self._stop(hash)
        return cancelled.count

    async def is_live(self, target: bytes) -> bool:
        return await self._store.is_live(format_target(target))

    async def sweep(self) -> list[Expired]:
        """Expire the requests past their deadline; stop the searches nobody waits for any more."""
        expired = await self._store.expire(self._clock())
        for hash in expired:
            self.metrics.work_requests.labels("expired").inc(hash.count)
            log.info("%d request(s) expired", hash.count, extra={"hash": hash.hash})
            if hash.stop:
                await self._stop(hash.hash)
        return expired

    async def _stop(self, hash: str) -> None:
        # The store already says nobody waits: a lost stop only lets a search run to its deadline
        # (adapters drop a request past it), so it is logged, not raised.
        try:
            await self._stop_search(hash)
        except Exception as exc:
            log.warning("could not stop the search: %s", exc, extra={"hash": hash})

    async def run_sweeper(self, interval: float = 1.0) -> None:
        """Sweep every ``interval`` seconds until cancelled; a store or queue outage skips a tick."""
        while True:
            try:
                await self.sweep()
            except Exception as exc:  # logged; the next tick tries again
                log.warning("deadline sweep failed: %s", exc)
            await asyncio.sleep(interval)
