"""One streaming-pull consumer of a Pub/Sub subscription, bridged into asyncio.

The library calls ``_receive`` on its scheduler threads; that only hands the message to the event loop,
so the library's thread pool never limits how many handlers run (flow control does). A handler that
returns acks its message; one that raises makes Pub/Sub redeliver it after
``messaging.retry.redelivery_delay``: the message's ack deadline is set to that delay and the message
is released from the library's lease management without an ack, so the server offers it again when
the deadline passes (a nack would redeliver at once).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC

from google.cloud import pubsub_v1
from google.cloud.pubsub_v1.subscriber.message import Message as PubSubMessage

from messaging.broker import Handler, Message
from messaging.retry import log_handler_failure, redelivery_delay

log = logging.getLogger(__name__)

#: Pub/Sub accepts ack deadlines of 0 to 600 whole seconds.
_MAX_DEADLINE = 600
_LEASE_SECONDS = 10


def deadline_seconds(delay: float) -> int:
    """The ack deadline that redelivers after about ``delay`` seconds (at least 1: 0 would be a nack)."""
    return min(max(1, round(delay)), _MAX_DEADLINE)


class PubSubSubscription:
    """Consumes ``path`` with ``subscriber`` (the broker's client), nacked messages coming back after
    ``redelivery_delay(*retry_seconds)``; ``timeout`` bounds the direct calls of ``stop()``, which
    ends by calling ``on_stopped`` with this subscription (the broker forgets it)."""

    def __init__(
        self,
        subscriber: pubsub_v1.SubscriberClient,
        path: str,
        handler: Handler,
        *,
        max_outstanding: int | None,
        retry_seconds: tuple[float, float],
        timeout: float,
        loop: asyncio.AbstractEventLoop,
        on_stopped: Callable[[PubSubSubscription], None],
    ) -> None:
        self._subscriber = subscriber
        self._path = path
        self._handler = handler
        self._retry_seconds = retry_seconds
        self._timeout = timeout
        self._loop = loop
        self._on_stopped = on_stopped
        self._running: dict[asyncio.Task[None], PubSubMessage] = {}
        #: Messages that arrived after stop() began: held, so they count against flow control and the
        #: stream pauses, then nacked when stop() ends (nacking at once would bounce them straight back).
        self._held: list[PubSubMessage] = []
        self._stopping = False
        self.failed = False
        # Leases of 10 s (renewed while a handler runs) rather than the library's 60 s: a message
        # stranded by a consumer that vanished, or by the emulator losing a deadline change at a
        # stream's end, comes back within about 10 s.
        flow = pubsub_v1.types.FlowControl(max_duration_per_lease_extension=_LEASE_SECONDS,
                                           **({"max_messages": max_outstanding} if max_outstanding else {}))
        self._future = subscriber.subscribe(path, self._receive, flow_control=flow)
        self._future.add_done_callback(self._ended)

    # -- library threads -----------------------------------------------------------------------

    def _receive(self, message: PubSubMessage) -> None:
        try:
            self._loop.call_soon_threadsafe(self._accept, message)
        except RuntimeError:  # the loop is closed: let another consumer have it
            message.nack()

    def _ended(self, future: object) -> None:
        if self._stopping:
            return
        self.failed = True
        try:
            error = self._future.exception(timeout=0)
        except Exception as exc:  # cancelled
            error = exc
        log.error("streaming pull on %s ended: %s", self._path, error)

    # -- event loop ----------------------------------------------------------------------------

    def _accept(self, message: PubSubMessage) -> None:
        if self._stopping:
            self._held.append(message)
            return
        task = self._loop.create_task(self._handle(message))
        self._running[task] = message
        task.add_done_callback(self._running.pop)

    async def _handle(self, message: PubSubMessage) -> None:
        delivered = Message(
            data=message.data,
            message_id=message.message_id,
            publish_time=message.publish_time.astimezone(UTC),
            attributes=dict(message.attributes),
        )
        try:
            await self._handler(delivered)
        except asyncio.CancelledError:
            raise  # stop() nacks it
        except Exception as exc:
            delay = redelivery_delay(delivered.publish_time, *self._retry_seconds)
            log_handler_failure(log, message.message_id, exc, deadline_seconds(delay))
            message.modify_ack_deadline(deadline_seconds(delay))
            message.drop()
        else:
            message.ack()

    async def stop(self, grace: float = 0.0) -> None:
        if self._stopping:
            return
        self._stopping = True
        if self._running and grace > 0:
            await asyncio.wait(list(self._running), timeout=grace)
        running = list(self._running.items())
        for task, _ in running:
            task.cancel()
        await asyncio.gather(*(task for task, _ in running), return_exceptions=True)
        self._held.extend(message for _, message in running)
        # Close the stream first (the library nacks what it still buffers, and flushes queued acks),
        # then give ours back: released while the stream is open, the server may push a message
        # straight back into the closing stream. A deadline of 1 s, not 0 (a plain nack): the emulator
        # ignores 0 for messages of a closed stream.
        self._future.cancel()
        try:
            await asyncio.wait_for(asyncio.to_thread(self._future.result), 10.0)
        except Exception as exc:  # cancelled or failed: either way it has stopped
            log.debug("streaming pull on %s closed: %r", self._path, exc)
        await asyncio.sleep(0)  # run the _accept calls the stream queued before it closed
        held, self._held = self._held, []
        await asyncio.to_thread(self._nack, [message.ack_id for message in held])
        self._on_stopped(self)

    def _nack(self, ack_ids: list[str]) -> None:
        """Give messages back in 1 s, with direct calls (the library's queue stops with the stream)."""
        if not ack_ids:
            return
        for start in range(0, len(ack_ids), 1000):
            try:
                self._subscriber.modify_ack_deadline(
                    subscription=self._path, ack_ids=ack_ids[start:start + 1000], ack_deadline_seconds=1,
                    timeout=self._timeout,
                )
            except Exception as exc:  # they still come back, once their ack deadline passes
                log.warning("could not nack %d messages on %s: %s", len(ack_ids), self._path, exc)
