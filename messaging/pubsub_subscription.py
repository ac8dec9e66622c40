"""One streaming-pull consumer of a Pub/Sub subscription, driven on the event loop.

The library's high-level subscriber runs its stream, leasing and callbacks on threads; bridging each
message into asyncio cost ~0.9 ms of CPU per message with 2 outstanding (issue 13). Here the
StreamingPull RPC of the library's asyncio GAPIC client (``SubscriberAsyncClient.streaming_pull``)
is read and written on the loop, and this class does what the high-level subscriber did:

- flow control: at most ``max_outstanding`` messages are held (running or waiting); the server is
  asked for no more (``max_outstanding_messages``) and the stream is not read while that many are
  held, so a response that brings more than asked waits, leased, for a free slot; at most
  ``max_outstanding`` handlers run at once.
- leases: messages are delivered with a ``LEASE_SECONDS`` ack deadline, extended every half lease
  while held. A message stranded by a consumer that vanished comes back within about that long.
- ack when the handler returns; when it raises, the ack deadline becomes
  ``messaging.retry.redelivery_delay`` (whole seconds, at least 1: 0 would redeliver at once).
  Acks and deadline changes leave in requests on the stream: those of one loop turn together, and
  while gRPC writes one request, or for ``batch_interval`` after the previous write began
  (``PUBSUB_BATCH_INTERVAL_SECONDS``), the next ones gather for the following (fewer, fuller writes;
  the library's subscriber batches its acks the same way).
- a stream that ends or fails is opened again after a growing pause (``BACKOFF_SECONDS``); a
  missing subscription is created again when the broker creates what is missing (the emulator,
  restarted, has forgotten it). ``failed`` says the stream is down (it failed before it was
  healthy), for readiness.
- ``stop(grace)``: stop reading, let running handlers finish within ``grace``, then close the
  stream and give the rest back (deadline 1 s, not 0: the emulator ignores 0 for messages of a
  closed stream).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC
from typing import Any

from google.api_core import exceptions as gexc
from google.pubsub_v1 import StreamingPullRequest, StreamingPullResponse
from google.pubsub_v1.services.subscriber import SubscriberAsyncClient

from messaging.broker import Handler, Message
from messaging.retry import log_handler_failure, redelivery_delay

log = logging.getLogger(__name__)

#: Pub/Sub accepts ack deadlines of 0 to 600 whole seconds.
_MAX_DEADLINE = 600
#: Ack deadline of a held message, renewed every half of it.
LEASE_SECONDS = 10
#: Pause before opening a failed stream again: doubles from the first to the last.
BACKOFF_SECONDS = (0.1, 10.0)
#: A stream up this long (or one that delivered) is healthy: the pause starts from the first again.
HEALTHY_SECONDS = 5.0
#: Ack ids per request (a request stays far below the stream's 10 MB limit).
_IDS_PER_REQUEST = 2500


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def deadline_seconds(delay: float) -> int:
    """The ack deadline that redelivers after about ``delay`` seconds (at least 1: 0 would be a nack)."""
    return min(max(1, round(delay)), _MAX_DEADLINE)


class PubSubSubscription:
    """Consumes ``path`` with ``client``, at most ``max_outstanding`` messages held; nacked messages
    come back after ``redelivery_delay(*retry_seconds)``; ``timeout`` bounds each direct call;
    ``recreate`` (when given) makes the subscription again should the server not know it; ``stop()``
    ends by calling ``on_stopped`` with this subscription (the broker forgets it)."""

    def __init__(
        self,
        client: SubscriberAsyncClient,
        path: str,
        handler: Handler,
        *,
        max_outstanding: int,
        retry_seconds: tuple[float, float],
        timeout: float,
        batch_interval: float = 0.0,
        on_stopped: Callable[[PubSubSubscription], None],
        recreate: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._client = client
        self._path = path
        self._handler = handler
        self._limit = max_outstanding
        self._retry_seconds = retry_seconds
        self._timeout = timeout
        self._batch_interval = batch_interval
        self._on_stopped = on_stopped
        self._recreate = recreate
        self._client_id = uuid.uuid4().hex  # lets the server tie our reconnecting streams together
        self._loop = asyncio.get_running_loop()
        #: Ack ids of the messages held: running or waiting for a slot.
        self._held: set[str] = set()
        self._waiting: deque[tuple[str, Message]] = deque()
        self._running: dict[asyncio.Task[None], str] = {}
        self._room = asyncio.Event()
        self._room.set()
        # Acks and deadline changes waiting for the end of this loop turn, or for a stream.
        self._acks: list[str] = []
        self._deadlines: dict[int, list[str]] = {}
        #: Set when some are pending; one per stream, so a dead stream's writer takes none.
        self._wake: asyncio.Event | None = None
        #: While ``_requests`` lets acks gather: resolved early should the consumer starve.
        self._gathering: asyncio.Future[None] | None = None
        self._stopping = False
        self._up = False  # the current stream delivered or stayed open HEALTHY_SECONDS
        self.failed = False
        self._reader = self._loop.create_task(self._read(), name=f"pull {path}")
        self._leases = self._loop.create_task(self._renew_leases(), name=f"leases {path}")

    # -- the stream ----------------------------------------------------------------------------

    async def _read(self) -> None:
        """Open the stream, and again whenever it ends, until ``stop()`` cancels this task. A stream
        that was healthy and ended (Pub/Sub closes streams now and then) is opened again at once and
        does not count as down; one that failed before it was healthy sets ``failed`` and the next
        attempt waits longer."""
        backoff = BACKOFF_SECONDS[0]
        while True:
            self._up = False
            healthy = self._loop.call_later(HEALTHY_SECONDS, self._healthy)
            try:
                await self._stream()
                problem: object = "closed by the server"
            except gexc.NotFound as exc:
                problem = exc
                await self._create_again()
            except Exception as exc:  # whatever it was, a consumer that gives up would idle forever
                problem = exc
            finally:
                healthy.cancel()
                self._wake = None  # what is pending waits for the next stream
            if self._up:
                backoff = BACKOFF_SECONDS[0]
                log.info("streaming pull on %s ended (%s); opening it again", self._path, problem)
                continue
            self.failed = True
            log.warning("streaming pull on %s failed (%s); opening it again in %.1f s",
                        self._path, problem, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_SECONDS[1])

    def _healthy(self) -> None:
        self._up = True
        self.failed = False

    async def _stream(self) -> None:
        first = StreamingPullRequest(subscription=self._path, stream_ack_deadline_seconds=LEASE_SECONDS,
                                     max_outstanding_messages=self._limit, client_id=self._client_id)
        self._wake = wake = asyncio.Event()
        wake.set()  # what waited for a stream
        call = await self._client.streaming_pull(requests=self._requests(first, wake), retry=None,
                                                 timeout=None)
        async for response in call:
            self._healthy()
            # The protobuf under the proto-plus wrapper: reading fields through the wrapper was most
            # of the CPU spent per message.
            for received in StreamingPullResponse.pb(response).received_messages:
                self._receive(received)
            await self._room.wait()  # read no more while max_outstanding are held

    async def _requests(self, first: StreamingPullRequest,
                        wake: asyncio.Event) -> AsyncIterator[StreamingPullRequest]:
        """The stream's requests: the opening one, then, each time gRPC has written the previous one,
        all acks and deadline changes pending by then (those of one loop turn at least: ``wake`` is
        set during the turn, this runs after it). A write in flight, and the batch interval after it
        began, let the next ones gather."""
        yield first
        while True:
            await wake.wait()
            wake.clear()
            started = self._loop.time()
            if not (chunks := self._take(_IDS_PER_REQUEST)):
                continue  # nothing written: no interval to wait out
            for acks, deadlines in chunks:
                ack_ids = [ack_id for _, ids in deadlines for ack_id in ids]
                seconds = [s for s, ids in deadlines for _ in ids]
                # Built as the protobuf and wrapped: proto-plus converts list items one by one.
                yield StreamingPullRequest.wrap(StreamingPullRequest.pb()(
                    ack_ids=acks, modify_deadline_ack_ids=ack_ids, modify_deadline_seconds=seconds))
            if (pause := started + self._batch_interval - self._loop.time()) > 0:
                await self._gather_for(pause)

    async def _create_again(self) -> None:
        if self._recreate is None:
            return
        try:
            await self._recreate()
            log.warning("subscription %s was missing: created it again", self._path)
        except Exception as exc:  # the next attempt tries again
            log.warning("could not create subscription %s again: %s", self._path, exc)

    # -- messages ------------------------------------------------------------------------------

    def _receive(self, received: Any) -> None:
        """Take one ``ReceivedMessage`` (its protobuf)."""
        pubsub = received.message
        message = Message(data=pubsub.data, message_id=pubsub.message_id,
                          publish_time=pubsub.publish_time.ToDatetime(tzinfo=UTC),
                          attributes=dict(pubsub.attributes))
        self._held.add(received.ack_id)
        if len(self._held) >= self._limit:
            self._room.clear()
        # Running = held - waiting: counted from what _handle settles at once (a finished task
        # leaves _running a callback later).
        if len(self._held) - len(self._waiting) <= self._limit and not self._stopping:
            self._start(received.ack_id, message)
        else:
            self._waiting.append((received.ack_id, message))

    def _start(self, ack_id: str, message: Message) -> None:
        task = self._loop.create_task(self._handle(ack_id, message))
        self._running[task] = ack_id
        task.add_done_callback(self._running.pop)

    async def _handle(self, ack_id: str, message: Message) -> None:
        try:
            await self._handler(message)
        except asyncio.CancelledError:
            raise  # stop() gives it back
        except Exception as exc:
            seconds = deadline_seconds(redelivery_delay(message.publish_time, *self._retry_seconds,
                                                        exc=exc))
            log_handler_failure(log, message.message_id, exc, seconds)
            self._deadlines.setdefault(seconds, []).append(ack_id)
        else:
            self._acks.append(ack_id)
        self._held.discard(ack_id)
        if not self._stopping:
            if self._waiting:
                self._start(*self._waiting.popleft())
            if len(self._held) < self._limit:
                self._room.set()
        self._pending()

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(LEASE_SECONDS / 2)
            if self._held:
                self._deadlines.setdefault(LEASE_SECONDS, []).extend(self._held)
                self._pending()

    # -- acks and deadline changes: sent by _requests, batched per loop turn --------------------

    def _pending(self) -> None:
        if self._wake is not None:
            self._wake.set()
        if self._gathering is not None and self._starving():
            _settle(self._gathering)

    def _starving(self) -> bool:
        """Nothing waits here and the server counts ``max_outstanding`` messages unsettled: it sends
        no more until the pending acks reach it, so they must not wait out the batch interval."""
        unsettled = len(self._held) + len(self._acks) + sum(map(len, self._deadlines.values()))
        return not self._waiting and unsettled >= self._limit

    async def _gather_for(self, seconds: float) -> None:
        """Let acks gather for ``seconds``, or until the consumer starves for want of them."""
        self._gathering = gathering = self._loop.create_future()
        timer = self._loop.call_later(seconds, _settle, gathering)
        try:
            await gathering
        finally:
            timer.cancel()
            if self._gathering is gathering:  # not a newer stream's
                self._gathering = None

    def _take(self, size: int) -> list[tuple[list[str], list[tuple[int, list[str]]]]]:
        """Everything pending, as (acks, [(seconds, ack ids)]) chunks of at most ``size`` ids each."""
        items = [(None, ack_id) for ack_id in self._acks]
        items += [(seconds, ack_id) for seconds, ids in self._deadlines.items() for ack_id in ids]
        self._acks, self._deadlines = [], {}
        chunks = []
        for start in range(0, len(items), size):
            acks: list[str] = []
            deadlines: dict[int, list[str]] = {}
            for seconds, ack_id in items[start:start + size]:
                if seconds is None:
                    acks.append(ack_id)
                else:
                    deadlines.setdefault(seconds, []).append(ack_id)
            chunks.append((acks, list(deadlines.items())))
        return chunks

    # -- stopping ------------------------------------------------------------------------------

    async def stop(self, grace: float = 0.0) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._room.clear()  # read no more
        if self._running and grace > 0:
            await asyncio.wait(list(self._running), timeout=grace)
        running = list(self._running)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        for task in (self._reader, self._leases):
            task.cancel()
        await asyncio.gather(self._reader, self._leases, return_exceptions=True)
        # The stream is closed: what is pending leaves in direct calls, and what is held goes back.
        for ack_id in self._held:
            self._deadlines.setdefault(1, []).append(ack_id)
        self._held.clear()
        self._waiting.clear()
        for acks, deadlines in self._take(_IDS_PER_REQUEST):
            await self._send_directly(acks, deadlines)
        self._on_stopped(self)

    async def _send_directly(self, acks: list[str], deadlines: list[tuple[int, list[str]]]) -> None:
        calls = [self._client.acknowledge(subscription=self._path, ack_ids=acks, timeout=self._timeout)
                 ] if acks else []
        calls += [self._client.modify_ack_deadline(subscription=self._path, ack_ids=ids,
                                                   ack_deadline_seconds=seconds, timeout=self._timeout)
                  for seconds, ids in deadlines]
        for outcome in await asyncio.gather(*calls, return_exceptions=True):
            if isinstance(outcome, Exception):  # they come back once their ack deadline passes
                log.warning("could not settle messages on %s: %s", self._path, outcome)
