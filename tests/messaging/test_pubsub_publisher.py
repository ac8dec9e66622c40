"""Unit tests of ``LoopPublisher``'s batching, on a recording stand-in for the GAPIC client (the
contract tests run the real thing against the emulator)."""

from __future__ import annotations

import asyncio

import pytest
from google.api_core import exceptions as gexc

from messaging import pubsub_publisher
from messaging.pubsub_publisher import LoopPublisher


class FakeClient:
    """Records each Publish request; answers ids "<request>-<index>" once ``gate`` is set."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.requests: list[list[bytes]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail = fail
        self.closed = False
        self.transport = self

    async def publish(self, *, topic: str, messages: list, retry: object, **_: object) -> object:
        number = len(self.requests)
        self.requests.append([m.data for m in messages])
        await self.gate.wait()
        if self.fail:
            raise self.fail
        return type("Response", (), {"message_ids": [f"{number}-{i}" for i in range(len(messages))]})

    async def close(self) -> None:
        self.closed = True


def publisher(client: FakeClient, interval: float = 0.0) -> LoopPublisher:
    return LoopPublisher(client, retry=lambda: None, timeout=5.0, interval=interval)  # type: ignore[arg-type]


async def held_request(client: FakeClient) -> tuple[LoopPublisher, asyncio.Future[str]]:
    """A publisher whose first request (message b"a") is in flight and not answered yet."""
    loop_publisher = publisher(client)
    client.gate.clear()
    first = asyncio.ensure_future(loop_publisher.publish("t", b"a"))
    await asyncio.sleep(0.01)
    return loop_publisher, first


async def test_publishes_of_one_loop_turn_share_one_request_in_order() -> None:
    client = FakeClient()
    loop_publisher = publisher(client)
    assert await loop_publisher.publish("t", b"alone") == "0-0"  # one message leaves at once
    ids = await asyncio.gather(*(loop_publisher.publish("t", b"%d" % i) for i in range(5)))
    assert client.requests == [[b"alone"], [b"0", b"1", b"2", b"3", b"4"]]
    assert ids == ["1-0", "1-1", "1-2", "1-3", "1-4"]


async def test_messages_published_while_a_request_is_in_flight_leave_together_next() -> None:
    client = FakeClient()
    loop_publisher, first = await held_request(client)
    later = [asyncio.ensure_future(loop_publisher.publish("t", data)) for data in (b"b", b"c")]
    await asyncio.sleep(0.01)
    assert client.requests == [[b"a"]]  # b and c wait for a's request
    client.gate.set()
    assert await first == "0-0"
    assert await asyncio.gather(*later) == ["1-0", "1-1"]
    assert client.requests == [[b"a"], [b"b", b"c"]]


async def test_messages_soon_after_a_request_wait_out_the_interval_together() -> None:
    client = FakeClient()
    loop_publisher = publisher(client, interval=1.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await loop_publisher.publish("t", b"a") == "0-0"
    assert loop.time() - started < 0.5  # nothing sent in the last interval: it left at once
    later = [asyncio.ensure_future(loop_publisher.publish("t", data)) for data in (b"b", b"c")]
    await asyncio.sleep(0.1)
    assert client.requests == [[b"a"]]  # b and c wait for the interval that began with a's request
    assert await asyncio.gather(*later) == ["1-0", "1-1"]
    assert loop.time() - started >= 1.0
    assert client.requests == [[b"a"], [b"b", b"c"]]


async def test_a_failed_request_fails_every_publish_in_it() -> None:
    client = FakeClient(fail=gexc.ServiceUnavailable("down"))
    loop_publisher = publisher(client)
    results = await asyncio.gather(*(loop_publisher.publish("t", b"x") for _ in range(3)),
                                   return_exceptions=True)
    assert len(client.requests) == 1
    assert all(isinstance(r, gexc.ServiceUnavailable) for r in results)


async def test_a_publisher_that_gave_up_is_not_sent() -> None:
    client = FakeClient()
    loop_publisher, first = await held_request(client)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(loop_publisher.publish("t", b"given up"), 0.01)
    kept = asyncio.ensure_future(loop_publisher.publish("t", b"kept"))
    await asyncio.sleep(0.01)
    client.gate.set()
    await asyncio.gather(first, kept)
    assert client.requests == [[b"a"], [b"kept"]]


async def test_requests_are_split_at_the_message_limit_and_topics_are_separate(monkeypatch) -> None:
    monkeypatch.setattr(pubsub_publisher, "MAX_MESSAGES", 2)
    client = FakeClient()
    loop_publisher = publisher(client)
    await asyncio.gather(*(loop_publisher.publish("t", b"%d" % i) for i in range(5)),
                         loop_publisher.publish("u", b"other"))
    assert sorted(client.requests) == sorted([[b"0", b"1"], [b"2", b"3"], [b"4"], [b"other"]])


async def test_close_waits_for_pending_messages() -> None:
    client = FakeClient()
    loop_publisher = publisher(client)
    sent = asyncio.ensure_future(loop_publisher.publish("t", b"a"))
    await asyncio.sleep(0)
    await loop_publisher.close()
    assert sent.done() and sent.result() == "0-0"
    assert client.closed
