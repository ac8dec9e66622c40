"""Publishing to Pub/Sub from the event loop, batched per loop turn.

The client library's batching publisher costs a thread per batch: each batch window starts a fresh
commit-timer thread (``Thread.start`` blocks the caller until it runs), commits on it, and resolves a
``concurrent.futures.Future`` that has to be bridged back into the loop. Profiling the adapter under
load showed about a fifth of its event loop spent starting those threads, and every publish waited
out the batch window (5 ms) before it left. Here the publish RPC is awaited on the loop itself
(gRPC's asyncio channel), and batching needs no timer: the messages published during one turn of the
loop (every handler that ran in it) go out in one ``Publish`` request, sent at the end of that turn,
and while a topic's request is in flight, or for ``interval`` after it started
(``PUBSUB_BATCH_INTERVAL_SECONDS``), the next messages wait and leave together in the next one. One
message alone leaves at once; under load the batches grow with the round trip and the interval (a
Nagle-like rule: fewer, fuller requests, which is what every process's CPU per message, the
emulator's included, depends on). Unlike the library's batch window, which every message waited
out, only a message that follows another within the interval waits, and only for what is left of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from google.api_core.retry_async import AsyncRetry
from google.pubsub_v1 import PubsubMessage
from google.pubsub_v1.services.publisher import PublisherAsyncClient

#: What one Publish request may carry (the service allows 1,000 messages and 10 MB).
MAX_MESSAGES = 1000
MAX_BYTES = 9_000_000

#: One message waiting to leave: its data, attributes, and its publisher's future.
_Pending = tuple[bytes, dict[str, str], asyncio.Future[str]]


class LoopPublisher:
    """``await publish(topic_path, data, attributes)`` -> message id; see the module docstring."""

    def __init__(self, client: PublisherAsyncClient, retry: Callable[[], AsyncRetry], timeout: float,
                 *, interval: float = 0.0) -> None:
        self._client = client
        self._retry = retry
        self._timeout = timeout
        self._interval = interval
        self._pending: dict[str, list[_Pending]] = {}
        self._senders: dict[str, asyncio.Task[None]] = {}

    async def publish(self, topic_path: str, data: bytes, attributes: dict[str, str] | None = None) -> str:
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(topic_path, []).append((data, attributes or {}, future))
        if topic_path not in self._senders:
            # A task starts on the next turn of the loop, after the callbacks already queued for this
            # one: every publish they make joins its first batch.
            task = asyncio.get_running_loop().create_task(self._sender(topic_path))
            self._senders[topic_path] = task
        return await future

    async def _sender(self, topic_path: str) -> None:
        """Send the topic's pending messages, one request at a time and at most one per
        ``interval``, until none are left (the sender outlives its last request by the interval, so
        a message soon after it waits for its turn too)."""
        loop = asyncio.get_running_loop()
        try:
            while batch := self._take(topic_path):
                started = loop.time()
                await self._send(topic_path, batch)
                if (pause := started + self._interval - loop.time()) > 0:
                    await asyncio.sleep(pause)
        finally:
            del self._senders[topic_path]

    def _take(self, topic_path: str) -> list[_Pending]:
        # A publisher that gave up waiting (its timeout) was told it failed: do not send its message.
        pending = [item for item in self._pending.get(topic_path, []) if not item[2].done()]
        self._pending[topic_path] = pending
        if not pending:
            self._pending.pop(topic_path, None)
            return []
        count, size = 0, 0
        while count < min(len(pending), MAX_MESSAGES) and size + len(pending[count][0]) < MAX_BYTES:
            size += len(pending[count][0])
            count += 1
        count = max(count, 1)  # one oversized message: let the server refuse it
        batch, pending[:] = pending[:count], pending[count:]
        return batch

    async def _send(self, topic_path: str, batch: list[_Pending]) -> None:
        futures = [future for _, _, future in batch]
        try:
            response = await self._client.publish(
                topic=topic_path,
                messages=[PubsubMessage(data=data, attributes=attributes) for data, attributes, _ in batch],
                retry=self._retry(), timeout=self._timeout,
            )
            ids = list(response.message_ids)
            if len(ids) != len(batch):
                raise RuntimeError(f"Publish answered {len(ids)} message ids for {len(batch)} messages")
        except asyncio.CancelledError:
            for future in futures:
                future.cancel()
            raise
        except Exception as exc:  # handed to every publisher waiting on this batch
            for future in futures:
                if not future.done():
                    future.set_exception(exc)
            return
        for future, message_id in zip(futures, ids, strict=True):
            if not future.done():
                future.set_result(message_id)

    async def close(self) -> None:
        """Send what is pending and wait for it (its publishers get their answers)."""
        if self._senders:
            await asyncio.gather(*self._senders.values(), return_exceptions=True)
        await self._client.transport.close()

