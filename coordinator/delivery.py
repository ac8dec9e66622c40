"""Result delivery: one WorkGenerated message in, one callback out.

- A malformed message is logged, counted and acked (redelivering it cannot help).
- The work is checked again against the message's threshold: a wrong work never reaches a client;
  it is logged, counted, and the request is published again as WorkRequested.
- The callback is POSTed; the message is acked after a 2xx.
- A failing callback raises, so the broker nacks the message and redelivers it later. The broker's
  redelivery delay grows with the message's age (``messaging.retry``: about 1 s, doubling, up to
  minutes), which is the backoff we want, survives a coordinator restart (the result stays in the
  queue, not in our memory) and does not hold a flow-control slot while waiting, so one client whose
  receiver is down cannot stall the callbacks of everybody else. Once the result is older than
  ``CALLBACK_MAX_AGE`` a failure drops it instead, with an error log and a metric.
- A callback the address policy refuses is dropped at once (``coordinator.callbacks.errors``).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from coordinator.callbacks import CallbackFailed, CallbackRefused, CallbackSender
from coordinator.metrics import CoordinatorMetrics
from messaging import Broker, Message, WorkGenerated
from messaging.messages import decode
from work import difficulty, format_work

log = logging.getLogger(__name__)


class ResultDelivery:
    """The handler of the coordinator's WorkGenerated subscription."""

    def __init__(
        self, broker: Broker, sender: CallbackSender, requested_topic: str, max_age: float,
        metrics: CoordinatorMetrics,
    ) -> None:
        self._metrics = metrics
        self._broker = broker
        self._sender = sender
        self._requested_topic = requested_topic
        self._max_age = max_age

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
        started = time.perf_counter()
        try:
            await self._sender.send(result.callback_url, result.hash, format_work(result.work))
        except CallbackRefused as exc:
            # The address policy refused it (the answer may have changed since intake): never retried.
            self._metrics.results.labels("refused").inc()
            log.error("callback refused by the address policy, result dropped: %s", exc, extra=context)
            return
        except CallbackFailed as exc:
            self._metrics.callback_seconds.observe(time.perf_counter() - started)
            self._give_up_or_retry(message, exc, context)
            return
        self._metrics.callback_seconds.observe(time.perf_counter() - started)
        self._metrics.results.labels("delivered").inc()
        self._metrics.result_age_seconds.observe(_age(message))
        log.info("callback delivered", extra=context)

    async def _requeue(self, result: WorkGenerated, value: int, context: dict[str, str]) -> None:
        self._metrics.results.labels("invalid_work").inc()
        log.error("invalid work %s (difficulty %d > threshold %d) not delivered; request re-queued",
                  format_work(result.work), value, result.threshold, extra=context)
        # If this publish fails it raises: the WorkGenerated is nacked and we come back here later.
        await self._broker.publish(self._requested_topic, result.request().to_json())

    def _give_up_or_retry(self, message: Message, exc: CallbackFailed, context: dict[str, str]) -> None:
        age = _age(message)
        if age >= self._max_age:
            self._metrics.results.labels("dropped").inc()
            log.error("callback failed for %.0f s, result dropped: %s", age, exc, extra=context)
            return
        self._metrics.results.labels("retried").inc()
        log.warning("callback failed, will retry: %s", exc, extra=context)
        raise exc


def _age(message: Message) -> float:
    return max(0.0, (datetime.now(UTC) - message.publish_time).total_seconds())
