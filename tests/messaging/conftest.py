"""The broker under test: every contract test runs once per backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import pytest

from harness.emulator import PROJECT
from messaging import Broker, MessagingSettings, create_broker

#: Small redelivery delays keep the suite fast. Pub/Sub's ack deadlines are whole seconds, so its
#: redeliveries come after at least 1 s whatever the minimum.
RETRY_MIN = 0.2
RETRY_MAX = 5.0


@pytest.fixture(params=["memory", pytest.param("pubsub", marks=pytest.mark.emulator)])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def settings(backend: str, request: pytest.FixtureRequest) -> MessagingSettings:
    extra = {}
    if backend == "pubsub":
        extra = {"pubsub_project_id": PROJECT,
                 "pubsub_emulator_host": request.getfixturevalue("pubsub_emulator")}
    return MessagingSettings(messaging=backend, messaging_retry_min_seconds=RETRY_MIN,
                             messaging_retry_max_seconds=RETRY_MAX, pubsub_publish_timeout_seconds=3,
                             **extra)


@pytest.fixture
async def broker(settings: MessagingSettings) -> AsyncIterator[Broker]:
    broker = create_broker(settings)
    await broker.start()
    yield broker
    await broker.close()


@pytest.fixture
async def names(broker: Broker) -> tuple[str, str]:
    """A fresh topic and subscription on it (the emulator is shared by the session)."""
    suffix = uuid4().hex[:10]
    topic, subscription = f"t-{suffix}", f"s-{suffix}"
    await broker.declare(topic, subscription)
    return topic, subscription
