"""The Pub/Sub backend when nothing answers: bounded, clear failures (no emulator needed)."""

from __future__ import annotations

import time

import pytest

from harness.emulator import PROJECT, free_port
from messaging import BrokerUnavailable, MessagingSettings, create_broker
from messaging.pubsub_subscription import deadline_seconds


def unreachable() -> MessagingSettings:
    return MessagingSettings(messaging="pubsub", pubsub_project_id=PROJECT,
                             pubsub_emulator_host=f"127.0.0.1:{free_port()}",
                             pubsub_publish_timeout_seconds=1.5)


async def test_publish_fails_within_the_timeout() -> None:
    broker = create_broker(unreachable())
    await broker.start()
    began = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        await broker.publish("work-requested", b"x")
    assert time.monotonic() - began < 1.5 + 2.0  # the retry deadline plus the await's margin
    await broker.close()


async def test_ping_is_false() -> None:
    broker = create_broker(unreachable())
    await broker.start()
    assert await broker.ping() is False
    await broker.close()


def test_missing_project_id_is_a_clear_error() -> None:
    with pytest.raises(BrokerUnavailable, match="PUBSUB_PROJECT_ID is not set"):
        create_broker(MessagingSettings(messaging="pubsub"))


def test_redelivery_deadline_is_whole_seconds_from_1_to_600() -> None:
    assert [deadline_seconds(d) for d in (0.0, 0.2, 1.4, 2.6, 300.0, 5000.0)] == [1, 1, 1, 3, 300, 600]
