"""Result delivery: one WorkGenerated message in, a callback to every request it answers out.

- A malformed message is logged, counted and acked (redelivering it cannot help).
- The work is checked again against the message's threshold: a wrong work never reaches a client;
  it is logged, counted, and the request is published again as WorkRequested.
- The work lifecycle (``coordinator.lifecycle``) says which pending requests the work answers; each
  gets its own callback, all at once (one lease covers them). The message is acked when every one
  is done, and nacked while any failed or another replica still delivers some: the broker
  redelivers it later and the failed ones are called back again.
- The broker's redelivery delay grows with the message's age (``messaging.retry``: about 1 s,
  doubling, up to minutes), which is the backoff we want, survives a coordinator restart (the result
  stays in the queue, not in our memory) and does not hold a flow-control slot while waiting, so one
  client whose receiver is down cannot stall the callbacks of everybody else. Once the result is
  older than ``CALLBACK_MAX_AGE`` a failure drops that callback instead, with an error log and a
  metric.
- A callback the address policy refuses is dropped at once (``coordinator.callbacks.errors``).
- Each receiver's origin (scheme, host, port) gets a share of the callback client: a callback past
  it is not attempted (``deferred``) and its result waits in the queue like a failed one, so a slow
  receiver's results hold no connection nor slot that other receivers' callbacks need
  (``coordinator.callbacks.origins``). The failed and deferred callbacks waiting for a retry are
  counted per origin (``backlog``); at its bound intake answers 503 for that origin.
- The store unavailable: the exception goes through, the message is nacked and comes back later.
- A request answered from the cache at intake has no message behind it: its callback is sent once,
  from a task of its own (``answer_from_cache``); should it fail, the client can read the work with
  ``GET /works/{hash}``.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from datetime import UTC, datetime

from coordinator.callbacks import CallbackBusy, CallbackFailed, CallbackRefused, CallbackSender
from coordinator.callbacks.origins import OriginBacklog
from coordinator.lifecycle import WorkLifecycle
from coordinator.metrics import CoordinatorMetrics
from messaging import Broker, Message, Redeliver, WorkGenerated
from messaging.messages import decode
from store import Request
from work import difficulty, format_work

log = logging.getLogger(__name__)


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    REFUSED = "refused"  # the address policy refused it: never retried
    DROPPED = "dropped"  # failed past CALLBACK_MAX_AGE
    RETRIED = "retried"  # failed: called back again when the message comes back
    DEFERRED = "deferred"  # its origin had its share in progress: not attempted, called back later


class CallbacksPending(Redeliver):
    """Some callbacks of this result failed, or another replica is still delivering some."""


class ResultDelivery:
    """The handler of the coordinator's WorkGenerated subscription."""

    def __init__(
        self, broker: Broker, sender: CallbackSender, lifecycle: WorkLifecycle, requested_topic: str,
        max_age: float, metrics: CoordinatorMetrics, backlog: OriginBacklog,
    ) -> None:
        self._metrics = metrics
        self.backlog = backlog
        self._broker = broker
        self._sender = sender
        self._lifecycle = lifecycle
        self._requested_topic = requested_topic
        self._max_age = max_age
        self._cached: set[asyncio.Task[None]] = set()

    async def __call__(self, message: Message) -> None:
        result = decode(WorkGenerated, message)
        if result is None:
            self._metrics.results.labels("malformed").inc()
            return
        context = {"hash": result.hash, "message_id": message.message_id}
        value = difficulty(result.work, result.target)
        if value > result.threshold:
            await self._requeue(result, value, context)
            return
        found = await self._lifecycle.on_result(result)
        work = format_work(found.work)
        age = _age(message)
        outcomes = await asyncio.gather(*(self._call_back(r, work, age, context) for r in found.requests))
        done = tuple(r for r, o in zip(found.requests, outcomes, strict=True) if o not in _AGAIN)
        failed = tuple(r for r, o in zip(found.requests, outcomes, strict=True) if o in _AGAIN)
        await self._lifecycle.delivered(done)
        await self._lifecycle.failed(failed)
        if failed or found.retry_later:
            raise CallbacksPending(f"{len(failed)} callback(s) failed, another replica delivering: "
                                   f"{found.retry_later}")
        if found.requests:
            self._metrics.result_age_seconds.observe(age)

    async def _call_back(self, request: Request, work: str, age: float, context: dict[str, str],
                         queued: bool = True) -> Outcome:
        """One callback; ``queued``: its result is in the queue (not a cached work's), so a failure
        waits there for a retry and counts in the backlog of its origin."""
        started = time.perf_counter()
        try:
            await self._sender.send(request.callback, request.hash, work, request.caller)
        except CallbackBusy as exc:
            outcome = self._again(age, exc, context, Outcome.DEFERRED)
        except CallbackRefused as exc:
            # The address policy refused it (the answer may have changed since intake): never retried.
            log.error("callback refused by the address policy, result dropped: %s", exc, extra=context)
            outcome = Outcome.REFUSED
        except CallbackFailed as exc:
            self._metrics.callback_seconds.observe(time.perf_counter() - started)
            outcome = self._again(age, exc, context, Outcome.RETRIED)
        else:
            self._metrics.callback_seconds.observe(time.perf_counter() - started)
            log.info("callback delivered", extra=context)
            outcome = Outcome.DELIVERED
        self._metrics.results.labels(outcome.value).inc()
        if queued:
            key = request.id or request.hash  # a request the store lost has no id
            if outcome in _AGAIN:
                self.backlog.failed(request.callback, key)
            else:
                self.backlog.done(request.callback, key)
        return outcome

    def _again(self, age: float, exc: CallbackFailed, context: dict[str, str], again: Outcome) -> Outcome:
        """``again`` for a callback to try later, or DROPPED once its result is past CALLBACK_MAX_AGE."""
        if age >= self._max_age:
            log.error("callback failed for %.0f s, result dropped: %s", age, exc, extra=context)
            return Outcome.DROPPED
        log.warning("callback failed, will retry: %s", exc, extra=context)
        return again

    async def _requeue(self, result: WorkGenerated, value: int, context: dict[str, str]) -> None:
        self._metrics.results.labels("invalid_work").inc()
        log.error("invalid work %s (difficulty %d > threshold %d) not delivered; request re-queued",
                  format_work(result.work), value, result.threshold, extra=context)
        # If this publish fails it raises: the WorkGenerated is nacked and we come back here later.
        await self._broker.publish(self._requested_topic, result.request().to_json())

    def answer_from_cache(self, request: Request, work: bytes | None) -> None:
        """Call ``request`` back with a cached work now, without holding up its 202."""
        task = asyncio.create_task(self._answer(request, format_work(work or b"")))
        self._cached.add(task)
        task.add_done_callback(self._cached.discard)

    async def _answer(self, request: Request, work: str) -> None:
        outcome = await self._call_back(request, work, 0.0, {"hash": request.hash}, queued=False)
        if outcome in _AGAIN:  # no message to redeliver: GET /works/{hash} has the work
            log.warning("callback of a cached work failed; the client can GET it",
                        extra={"hash": request.hash})

    async def close(self, grace: float) -> None:
        """Let the callbacks of cached works finish within ``grace`` seconds."""
        if self._cached:
            await asyncio.wait(list(self._cached), timeout=grace)
        for task in list(self._cached):
            task.cancel()


_AGAIN = (Outcome.RETRIED, Outcome.DEFERRED)


def _age(message: Message) -> float:
    return max(0.0, (datetime.now(UTC) - message.publish_time).total_seconds())
