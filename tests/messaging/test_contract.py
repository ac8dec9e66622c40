"""The broker contract: every backend (memory, Pub/Sub on the real emulator) passes the same tests."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from harness.polling import until
from messaging import Broker, BrokerUnavailable, Message, MessagingSettings, create_broker


async def test_publish_then_consume(broker: Broker, names: tuple[str, str]) -> None:
    topic, subscription = names
    got: list[Message] = []

    async def handler(message: Message) -> None:
        got.append(message)

    message_id = await broker.publish(topic, b'{"x":1}')
    sub = await broker.subscribe(subscription, handler)
    await until(lambda: got)
    await sub.stop()
    assert got[0].data == b'{"x":1}'
    assert got[0].message_id == message_id
    assert got[0].publish_time.tzinfo is not None


async def test_acked_message_is_not_redelivered(broker: Broker, names: tuple[str, str]) -> None:
    topic, subscription = names
    seen: Counter[bytes] = Counter()

    async def handler(message: Message) -> None:
        seen[message.data] += 1

    sub = await broker.subscribe(subscription, handler)
    await broker.publish(topic, b"once")
    await until(lambda: seen)
    await asyncio.sleep(2.5)  # longer than any redelivery delay these settings give
    await sub.stop()
    assert seen == {b"once": 1}


async def test_failed_message_comes_back_later_with_growing_delay(
    broker: Broker, names: tuple[str, str]
) -> None:
    topic, subscription = names
    times: list[float] = []

    async def handler(message: Message) -> None:
        times.append(time.monotonic())
        if len(times) < 4:
            raise RuntimeError("not yet")

    sub = await broker.subscribe(subscription, handler)
    await broker.publish(topic, b"flaky")
    await until(lambda: len(times) >= 4)
    await asyncio.sleep(0.5)
    await sub.stop()
    assert len(times) == 4  # the fourth attempt succeeded and was acked
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert gaps[0] >= 0.15  # not redelivered at once: after the minimum delay
    assert gaps[2] > gaps[0] * 1.5  # the delay grows with the message's age


async def peak_concurrency(broker: Broker, names: tuple[str, str], total: int,
                           max_outstanding: int | None) -> int:
    """Publish ``total`` messages, consume them with slow handlers, return the most run at once."""
    topic, subscription = names
    running = peak = 0
    done: set[bytes] = set()

    async def handler(message: Message) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1
        done.add(message.data)

    await asyncio.gather(*(broker.publish(topic, b"%d" % i) for i in range(total)))
    sub = await broker.subscribe(subscription, handler, max_outstanding=max_outstanding)
    await until(lambda: len(done) == total)
    await sub.stop()
    return peak


async def test_outstanding_bound_is_respected(broker: Broker, names: tuple[str, str]) -> None:
    # Never more than the bound, and the bound is used.
    assert await peak_concurrency(broker, names, total=24, max_outstanding=3) == 3


# Pub/Sub only: PUBSUB_SUBSCRIBER_MAX_OUTSTANDING_ELEMENT_COUNT is the fallback bound; the in-process
# broker has no settings-level default (the services pass theirs).
@pytest.mark.emulator
@pytest.mark.parametrize("backend", ["pubsub"])
async def test_pubsub_default_outstanding_bound_comes_from_settings(
    settings: MessagingSettings, names: tuple[str, str], broker: Broker
) -> None:
    limited = create_broker(settings.model_copy(
        update={"pubsub_subscriber_max_outstanding_element_count": 2}))
    await limited.start()
    try:
        assert await peak_concurrency(limited, names, total=12, max_outstanding=None) == 2
    finally:
        await limited.close()


async def test_thousand_messages_none_lost(broker: Broker, names: tuple[str, str]) -> None:
    topic, subscription = names
    sent = {b"m%04d" % i for i in range(1000)}
    got: set[bytes] = set()

    async def handler(message: Message) -> None:
        got.add(message.data)

    sub = await broker.subscribe(subscription, handler, max_outstanding=100)
    await asyncio.gather(*(broker.publish(topic, data) for data in sent))
    await until(lambda: got == sent, within=60)
    await sub.stop()
    assert got == sent


@pytest.mark.timeout(300)
async def test_stop_lets_running_finish_and_returns_the_rest(
    broker: Broker, names: tuple[str, str]
) -> None:
    topic, subscription = names
    started: set[bytes] = set()
    finished: set[bytes] = set()

    async def first(message: Message) -> None:
        started.add(message.data)
        await asyncio.sleep(0.3 if message.data.startswith(b"short") else 60)
        finished.add(message.data)

    for data in (b"short-1", b"short-2", b"long-1", b"long-2"):
        await broker.publish(topic, data)
    sub = await broker.subscribe(subscription, first, max_outstanding=4)
    await until(lambda: len(started) == 4)
    for data in (b"queued-1", b"queued-2"):  # arrive while every slot is taken
        await broker.publish(topic, data)
    await asyncio.sleep(0.1)
    await sub.stop(grace=1.5)
    assert finished == {b"short-1", b"short-2"}

    second: Counter[bytes] = Counter()

    async def handler(message: Message) -> None:
        second[message.data] += 1

    sub = await broker.subscribe(subscription, handler, max_outstanding=10)
    # Usually back within ~1 s; sometimes the emulator loses the early return and they come back when
    # their lease runs out (see messaging.pubsub_subscription), which a busy emulator may stretch past
    # the subscription's 60 s ack deadline: the bound is against a hang, not a speed check.
    await until(lambda: set(second) >= {b"long-1", b"long-2", b"queued-1", b"queued-2"}, within=200)
    await asyncio.sleep(1.0)
    await sub.stop()
    assert set(second) == {b"long-1", b"long-2", b"queued-1", b"queued-2"}  # the acked ones stay acked


async def test_publish_to_missing_topic_is_unavailable(broker: Broker) -> None:
    try:
        await broker.publish("no-such-topic", b"x")
    except BrokerUnavailable:
        return
    raise AssertionError("publishing to a missing topic did not raise BrokerUnavailable")


async def test_subscribe_to_missing_subscription_is_unavailable(broker: Broker) -> None:
    async def handler(message: Message) -> None:
        pass

    try:
        await broker.subscribe("no-such-subscription", handler)
    except BrokerUnavailable:
        return
    raise AssertionError("subscribing to a missing subscription did not raise BrokerUnavailable")


async def test_ping(broker: Broker) -> None:
    assert await broker.ping() is True


async def test_attributes_travel_with_the_message(broker: Broker, names: tuple[str, str]) -> None:
    topic, subscription = names
    got: list[Message] = []

    async def handler(message: Message) -> None:
        got.append(message)

    await broker.publish(topic, b"with", {"deadline": "1793880000.000"})
    await broker.publish(topic, b"without")
    sub = await broker.subscribe(subscription, handler)
    await until(lambda: len(got) == 2)
    await sub.stop()
    by_data = {m.data: m.attributes for m in got}
    assert by_data == {b"with": {"deadline": "1793880000.000"}, b"without": {}}


async def test_fanout_gives_every_consumer_every_message_and_a_stopped_one_none(
    broker: Broker, names: tuple[str, str]
) -> None:
    topic, _ = names
    seen: list[list[bytes]] = [[], []]

    def collect(index: int):  # noqa: ANN202
        async def handler(message: Message) -> None:
            seen[index].append(message.data)
        return handler

    consumers = [await broker.fanout(topic, collect(i)) for i in range(2)]
    await broker.publish(topic, b"cancel-1")
    await until(lambda: all(seen))
    await consumers[0].stop()
    await broker.publish(topic, b"cancel-2")
    await until(lambda: len(seen[1]) == 2)
    await asyncio.sleep(0.5)
    await consumers[1].stop()
    assert seen == [[b"cancel-1"], [b"cancel-1", b"cancel-2"]]


@pytest.mark.emulator
async def test_pubsub_fanout_subscription_expires_unused_and_is_deleted_on_stop(
    pubsub_emulator: str,
) -> None:
    from harness.emulator import PROJECT
    from messaging.pubsub import FANOUT_EXPIRY_SECONDS, PubSubBroker

    broker = PubSubBroker(MessagingSettings(messaging="pubsub", pubsub_project_id=PROJECT,
                                            pubsub_emulator_host=pubsub_emulator))
    await broker.start()
    topic = f"t-{time.monotonic_ns()}"

    def subscriptions() -> list[str]:
        return list(broker.publisher.list_topic_subscriptions(topic=broker.topic_path(topic)))

    async def ignore(message: Message) -> None:
        pass

    try:
        consumer = await broker.fanout(topic, ignore)
        [path] = await asyncio.to_thread(subscriptions)
        made = await asyncio.to_thread(broker.subscriber.get_subscription, subscription=path)
        assert made.expiration_policy.ttl.total_seconds() == FANOUT_EXPIRY_SECONDS
        await consumer.stop()
        assert await asyncio.to_thread(subscriptions) == []
    finally:
        await broker.close()
