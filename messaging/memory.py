"""The in-process broker: the embedded default of ``atto-work up``, with Pub/Sub's semantics.

Topics fan out to their subscriptions; each subscription is a queue. A consumer runs at most
``max_outstanding`` handlers at once; a handler that returns acks its message, one that raises
nacks it and the message comes back after ``messaging.retry.redelivery_delay``. Messages held by a
consumer that stops are put back, so nothing accepted is lost while the process lives.

Memory is bounded per topic: while one of its subscriptions holds ``max_backlog`` messages (waiting,
waiting for a redelivery, or being handled), a publish to the topic raises ``BrokerFull`` (a
``BrokerUnavailable``: intake answers 503, an adapter nacks and tries later) and queues nothing.
A redelivery is never refused: its message was accepted already.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from datetime import UTC, datetime

from messaging.broker import Handler, Message, OwnSubscription
from messaging.errors import BrokerFull, BrokerUnavailable
from messaging.retry import log_handler_failure, redelivery_delay

log = logging.getLogger(__name__)


class _Queue:
    """One subscription's backlog, with delayed redelivery.

    Messages waiting for their redelivery sit in one heap ordered by due time, under one timer for
    the earliest: a few dozen bytes each, not a timer and a closure each (thousands wait while a
    callback receiver is down).
    """

    def __init__(self) -> None:
        self.ready: asyncio.Queue[Message] = asyncio.Queue()
        self.held = 0  # messages taken by a consumer, not yet acked or nacked
        self._later: list[tuple[float, int, Message]] = []  # (due, tie-breaker, message), a heap
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None

    def put_later(self, message: Message, delay: float) -> None:
        loop = asyncio.get_running_loop()
        heapq.heappush(self._later, (loop.time() + delay, next(self._order), message))
        if self._later[0][2] is message:  # a new earliest: the timer moves to it
            self._arm(loop)

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(self._later[0][0], self._release) if self._later else None

    def _release(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time() + 0.001  # the loop may run a timer up to its clock resolution early
        while self._later and self._later[0][0] <= now:
            self.ready.put_nowait(heapq.heappop(self._later)[2])
        self._timer = None
        self._arm(loop)

    def backlog(self) -> int:
        return self.ready.qsize() + len(self._later)

    def size(self) -> int:
        """Every message the queue is responsible for: its backlog and the ones being handled."""
        return self.backlog() + self.held

    def cancel_timers(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._later.clear()


class MemorySubscription:
    """A consumer task pulling one queue, running handlers under a semaphore."""

    def __init__(
        self, broker: MemoryBroker, queue: _Queue, handler: Handler, max_outstanding: int | None
    ) -> None:
        self._broker = broker
        self._queue = queue
        self._handler = handler
        self._slots = asyncio.Semaphore(max_outstanding) if max_outstanding else None
        self._running: dict[asyncio.Task[None], Message] = {}
        self._pump = asyncio.create_task(self._consume())

    async def _consume(self) -> None:
        while True:
            if self._slots is not None:
                await self._slots.acquire()
            try:
                message = await self._queue.ready.get()
            except asyncio.CancelledError:
                if self._slots is not None:
                    self._slots.release()
                raise
            self._queue.held += 1
            task = asyncio.create_task(self._handle(message))
            self._running[task] = message

    async def _handle(self, message: Message) -> None:
        try:
            await self._handler(message)
        except asyncio.CancelledError:
            raise  # stop() puts the message back
        except Exception as exc:
            delay = self._broker.nack(self._queue, message, exc)
            log_handler_failure(log, message.message_id, exc, delay)
        finally:
            self._queue.held -= 1
            self._running.pop(asyncio.current_task(), None)  # type: ignore[arg-type]
            if self._slots is not None:
                self._slots.release()

    @property
    def outstanding(self) -> int:
        return len(self._running)

    async def stop(self, grace: float = 0.0) -> None:
        self._pump.cancel()
        await asyncio.gather(self._pump, return_exceptions=True)
        if self._running and grace > 0:
            await asyncio.wait(list(self._running), timeout=grace)
        for task, message in list(self._running.items()):
            task.cancel()
            self._queue.ready.put_nowait(message)  # nack without delay: another consumer may take it
        await asyncio.gather(*self._running, return_exceptions=True)
        self._broker.forget(self)


class MemoryBroker:
    """In-process topics and subscriptions; see the module docstring."""

    def __init__(self, retry_min_seconds: float = 1.0, retry_max_seconds: float = 300.0,
                 max_backlog: int | None = None) -> None:
        """``max_backlog``: messages one subscription may hold before its topic refuses more
        (None: no bound)."""
        self._retry = (retry_min_seconds, retry_max_seconds)
        self._max_backlog = max_backlog
        self._topics: dict[str, list[str]] = {}
        self._queues: dict[str, _Queue] = {}
        self._subscriptions: set[MemorySubscription] = set()
        self._ids = itertools.count(1)
        self._closed = False

    async def start(self) -> None:
        self._closed = False

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            await subscription.stop()
        for queue in self._queues.values():
            queue.cancel_timers()
        self._closed = True

    async def declare(self, topic: str, subscription: str | None = None) -> None:
        subscribers = self._topics.setdefault(topic, [])
        if subscription is not None and subscription not in self._queues:
            self._queues[subscription] = _Queue()
            subscribers.append(subscription)

    async def publish(self, topic: str, data: bytes, attributes: dict[str, str] | None = None) -> str:
        if self._closed:
            raise BrokerUnavailable("the in-process broker is closed")
        if topic not in self._topics:
            raise BrokerUnavailable(f"topic {topic!r} does not exist")
        queues = [self._queues[name] for name in self._topics[topic]]
        if self._max_backlog is not None and any(q.size() >= self._max_backlog for q in queues):
            raise BrokerFull(f"topic {topic!r} holds {self._max_backlog} messages; retry later")
        message = Message(
            data=bytes(data), message_id=str(next(self._ids)), publish_time=datetime.now(UTC),
            attributes=dict(attributes or {}),
        )
        for queue in queues:
            queue.ready.put_nowait(message)
        return message.message_id

    async def subscribe(
        self, subscription: str, handler: Handler, *, max_outstanding: int | None = None
    ) -> MemorySubscription:
        if subscription not in self._queues:
            raise BrokerUnavailable(f"subscription {subscription!r} does not exist")
        consumer = MemorySubscription(self, self._queues[subscription], handler, max_outstanding)
        self._subscriptions.add(consumer)
        return consumer

    async def ping(self) -> bool:
        return not self._closed

    async def fanout(self, topic: str, handler: Handler) -> OwnSubscription:
        """A queue of this consumer's own on ``topic``, removed when the consumer stops."""
        name = f"{topic}-fanout-{next(self._ids)}"
        await self.declare(topic, name)

        async def remove() -> None:
            self._topics[topic].remove(name)
            self._queues.pop(name).cancel_timers()

        return OwnSubscription(await self.subscribe(name, handler), remove)

    def backlog(self, subscription: str) -> int:
        """Messages waiting in ``subscription`` (not counting those being handled)."""
        return self._queues[subscription].backlog()

    async def pull(self, subscription: str) -> Message:
        """Take the next message of ``subscription``, waiting until there is one, as acked: how a
        test or a tool reads a subscription no consumer runs on (wrap it in a timeout)."""
        if subscription not in self._queues:
            raise BrokerUnavailable(f"subscription {subscription!r} does not exist")
        return await self._queues[subscription].ready.get()

    def nack(self, queue: _Queue, message: Message, exc: Exception | None = None) -> float:
        """Put ``message`` back after the redelivery delay for ``exc``, which is returned."""
        delay = redelivery_delay(message.publish_time, *self._retry, exc=exc)
        queue.put_later(message, delay)
        return delay

    def forget(self, subscription: MemorySubscription) -> None:
        self._subscriptions.discard(subscription)
