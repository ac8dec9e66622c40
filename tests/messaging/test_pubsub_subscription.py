"""``PubSubSubscription``'s own duties: unit tests on a scripted stand-in for the GAPIC client (what
goes on the stream, when), and on the real emulator what only a server can show (leases)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from google.api_core import exceptions as gexc
from google.pubsub_v1 import PubsubMessage, ReceivedMessage, StreamingPullRequest, StreamingPullResponse

from harness.polling import until
from messaging import Broker, Message, Redeliver
from messaging import pubsub_subscription as module
from messaging.pubsub_subscription import PubSubSubscription

PATH = "projects/p/subscriptions/s"


def response(*ack_ids: str) -> StreamingPullResponse:
    now = datetime.now(UTC)
    return StreamingPullResponse(received_messages=[
        ReceivedMessage(ack_id=ack_id, message=PubsubMessage(data=ack_id.encode(), message_id=ack_id,
                                                              publish_time=now))
        for ack_id in ack_ids])


class Stream:
    """One StreamingPull call: yields what the test feeds it, records what the consumer sends."""

    def __init__(self, requests: AsyncIterator[StreamingPullRequest]) -> None:
        self.sent: list[StreamingPullRequest] = []
        self.responses: asyncio.Queue[StreamingPullResponse | Exception] = asyncio.Queue()
        self.writer = asyncio.ensure_future(self._take(requests))

    async def _take(self, requests: AsyncIterator[StreamingPullRequest]) -> None:
        async for request in requests:
            self.sent.append(request)

    def __aiter__(self) -> Stream:
        return self

    async def __anext__(self) -> StreamingPullResponse:
        item = await self.responses.get()
        if isinstance(item, Exception):
            self.writer.cancel()
            raise item
        return item

    def acks(self) -> list[str]:
        return [ack_id for request in self.sent for ack_id in request.ack_ids]

    def deadlines(self) -> list[tuple[str, int]]:
        return [pair for request in self.sent[1:]
                for pair in zip(request.modify_deadline_ack_ids, request.modify_deadline_seconds,
                                strict=True)]


class FakeClient:
    """Stands in for ``SubscriberAsyncClient``: each ``streaming_pull`` opens a new ``Stream``; the
    direct calls are recorded."""

    def __init__(self) -> None:
        self.streams: list[Stream] = []
        self.direct: list[tuple[str, list[str], int | None]] = []

    async def streaming_pull(self, *, requests: AsyncIterator[StreamingPullRequest], **_: object) -> Stream:
        self.streams.append(Stream(requests))
        return self.streams[-1]

    async def acknowledge(self, *, ack_ids: list[str], **_: object) -> None:
        self.direct.append(("ack", list(ack_ids), None))

    async def modify_ack_deadline(self, *, ack_ids: list[str], ack_deadline_seconds: int,
                                  **_: object) -> None:
        self.direct.append(("deadline", list(ack_ids), ack_deadline_seconds))


async def consumer(handler, limit: int = 10, recreate=None,  # noqa: ANN001
                   batch_interval: float = 0.0) -> tuple[FakeClient, PubSubSubscription]:
    client = FakeClient()
    subscription = PubSubSubscription(client, PATH, handler, max_outstanding=limit,  # type: ignore[arg-type]
                                      retry_seconds=(1.0, 300.0), timeout=5.0,
                                      batch_interval=batch_interval,
                                      on_stopped=lambda _: None, recreate=recreate)
    await until(lambda: client.streams and client.streams[-1].sent)
    return client, subscription


async def test_the_stream_opens_with_the_subscription_its_bound_and_a_short_lease() -> None:
    async def handler(message: Message) -> None:
        pass

    client, subscription = await consumer(handler, limit=3)
    first = client.streams[0].sent[0]
    assert (first.subscription, first.max_outstanding_messages, first.stream_ack_deadline_seconds) == \
        (PATH, 3, module.LEASE_SECONDS)
    await subscription.stop()


async def test_acks_of_one_loop_turn_leave_in_one_request() -> None:
    async def handler(message: Message) -> None:
        pass

    client, subscription = await consumer(handler)
    stream = client.streams[0]
    stream.responses.put_nowait(response("a", "b", "c"))
    await until(lambda: len(stream.acks()) == 3)
    assert [list(r.ack_ids) for r in stream.sent[1:]] == [["a", "b", "c"]]
    await subscription.stop()


async def test_acks_after_a_write_gather_for_the_batch_interval() -> None:
    async def handler(message: Message) -> None:
        pass

    client, subscription = await consumer(handler, batch_interval=2.0)
    stream = client.streams[0]
    stream.responses.put_nowait(response("a"))
    await until(lambda: stream.acks() == ["a"])  # nothing written in the last interval: at once
    stream.responses.put_nowait(response("b"))
    stream.responses.put_nowait(response("c"))
    await asyncio.sleep(0.2)
    assert stream.acks() == ["a"]  # b and c wait out the interval that began with a's write
    await until(lambda: len(stream.acks()) == 3)
    assert [list(r.ack_ids) for r in stream.sent[1:]] == [["a"], ["b", "c"]]
    await subscription.stop()


async def test_a_consumer_the_server_starves_sends_its_acks_at_once() -> None:
    # With 2 held at the server and none waiting here, the server sends nothing more until the acks
    # reach it: they must not wait out the interval.
    release = asyncio.Event()

    async def handler(message: Message) -> None:
        if message.message_id != "a":
            await release.wait()

    client, subscription = await consumer(handler, limit=2, batch_interval=30.0)
    stream = client.streams[0]
    stream.responses.put_nowait(response("a"))
    await until(lambda: stream.acks() == ["a"])
    stream.responses.put_nowait(response("b", "c"))
    await asyncio.sleep(0.05)
    release.set()
    await until(lambda: len(stream.acks()) == 3, within=5)
    await subscription.stop()


async def test_a_failed_handler_sets_the_redelivery_deadline_and_is_not_acked() -> None:
    async def handler(message: Message) -> None:
        raise Redeliver("not now")

    client, subscription = await consumer(handler)
    stream = client.streams[0]
    stream.responses.put_nowait(response("a"))
    await until(lambda: stream.deadlines())
    assert stream.deadlines() == [("a", 1)]  # a new message: the minimum delay, 1 s
    assert stream.acks() == []
    await subscription.stop()


async def test_no_more_than_the_bound_run_and_the_stream_is_not_read_while_full() -> None:
    release = asyncio.Event()
    running: list[str] = []

    async def handler(message: Message) -> None:
        running.append(message.message_id)
        await release.wait()

    client, subscription = await consumer(handler, limit=2)
    stream = client.streams[0]
    stream.responses.put_nowait(response("a", "b", "c"))  # a server that sends more than asked
    stream.responses.put_nowait(response("d"))
    await until(lambda: len(running) == 2)
    await asyncio.sleep(0.05)
    assert running == ["a", "b"]
    assert stream.responses.qsize() == 1  # "d" is not read while the bound is held
    release.set()
    await until(lambda: len(running) == 4)
    await until(lambda: len(stream.acks()) == 4)
    await subscription.stop()


async def test_a_failed_stream_is_opened_again_and_pending_acks_follow(monkeypatch) -> None:
    monkeypatch.setattr(module, "BACKOFF_SECONDS", (0.05, 0.1))
    gate = asyncio.Event()

    async def handler(message: Message) -> None:
        await gate.wait()

    client, subscription = await consumer(handler)
    client.streams[0].responses.put_nowait(response("a"))
    await asyncio.sleep(0.05)
    client.streams[0].responses.put_nowait(gexc.ServiceUnavailable("closing"))
    await until(lambda: len(client.streams) == 2)
    assert not subscription.failed  # a healthy stream that ended: opened again, not "down"
    client.streams[1].responses.put_nowait(gexc.ServiceUnavailable("gone"))
    await until(lambda: len(client.streams) == 3)
    assert subscription.failed  # failed before it delivered or stayed up: down
    gate.set()  # "a" finishes while the stream is down, or on the new one: its ack goes on the new one
    await until(lambda: client.streams[2].acks() == ["a"])
    client.streams[2].responses.put_nowait(response("b"))
    await until(lambda: client.streams[2].acks() == ["a", "b"])
    assert not subscription.failed  # the new stream delivered
    await subscription.stop()


async def test_a_missing_subscription_is_created_again(monkeypatch) -> None:
    monkeypatch.setattr(module, "BACKOFF_SECONDS", (0.05, 0.1))
    made: list[bool] = []

    async def recreate() -> None:
        made.append(True)

    async def handler(message: Message) -> None:
        pass

    client, subscription = await consumer(handler, recreate=recreate)
    client.streams[0].responses.put_nowait(gexc.NotFound("no such subscription"))
    await until(lambda: len(client.streams) == 2)
    assert made == [True]
    await subscription.stop()


async def test_held_messages_have_their_leases_renewed(monkeypatch) -> None:
    monkeypatch.setattr(module, "LEASE_SECONDS", 1)
    release = asyncio.Event()

    async def handler(message: Message) -> None:
        await release.wait()

    client, subscription = await consumer(handler)
    stream = client.streams[0]
    stream.responses.put_nowait(response("a"))
    await until(lambda: len(stream.deadlines()) >= 2)
    assert set(stream.deadlines()) == {("a", 1)}
    release.set()
    await until(lambda: stream.acks() == ["a"])
    await subscription.stop()


async def test_stop_lets_running_finish_within_grace_and_gives_the_rest_back() -> None:
    async def handler(message: Message) -> None:
        await asyncio.sleep(0.01 if message.message_id == "short" else 60)

    client, subscription = await consumer(handler, limit=2)
    stream = client.streams[0]
    stream.responses.put_nowait(response("short", "long", "waiting"))
    await until(lambda: stream.responses.empty())
    await subscription.stop(grace=0.5)
    assert stream.acks() == ["short"]
    # given back at once (1 s), in a direct call: the stream is closed
    assert [(kind, sorted(ids), seconds) for kind, ids, seconds in client.direct] == \
        [("deadline", ["long", "waiting"], 1)]


# -- on the real emulator ---------------------------------------------------------------------------


@pytest.mark.emulator
@pytest.mark.parametrize("backend", ["pubsub"])
async def test_pubsub_a_handler_longer_than_the_lease_keeps_its_message(
    broker: Broker, names: tuple[str, str]
) -> None:
    # The emulator takes no stream lease under 10 s (LEASE_SECONDS): this test waits that long.
    topic, subscription = names
    seen: list[str] = []

    async def slow(message: Message) -> None:
        seen.append("slow")
        await asyncio.sleep(module.LEASE_SECONDS + 4)

    async def other(message: Message) -> None:
        seen.append("other")

    first = await broker.subscribe(subscription, slow, max_outstanding=1)
    await broker.publish(topic, b"long")
    await until(lambda: seen)
    second = await broker.subscribe(subscription, other, max_outstanding=1)
    await asyncio.sleep(module.LEASE_SECONDS + 6)
    await asyncio.gather(first.stop(), second.stop())
    assert seen == ["slow"]  # renewed: nobody else got it; acked: it did not come back
