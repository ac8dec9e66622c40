"""``atto-work pubsub-init`` as a subprocess against the real emulator: creates never-expiring,
dead-lettering subscriptions, then finds them, or brings older ones to those settings."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import grpc
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import pubsub_v1
from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

from harness.emulator import PROJECT, free_port
from messaging.pubsub import ACK_DEADLINE_SECONDS

ROOT = Path(__file__).resolve().parents[2]


def init(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "atto_work", "pubsub-init"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def env_for(host: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBSUB_")}
    env.update(PYTHONPATH=str(ROOT), PUBSUB_EMULATOR_HOST=host, PUBSUB_PROJECT_ID=PROJECT, **extra)
    return env


def names(suffix: str) -> dict[str, str]:
    return {"PUBSUB_WORK_REQUESTED_TOPIC": f"req-{suffix}",
            "PUBSUB_WORK_REQUESTED_SUBSCRIPTION": f"req-sub-{suffix}",
            "PUBSUB_WORK_GENERATED_TOPIC": f"gen-{suffix}",
            "PUBSUB_WORK_GENERATED_SUBSCRIPTION": f"gen-sub-{suffix}",
            "PUBSUB_WORK_CANCELLED_TOPIC": f"cancel-{suffix}",
            "PUBSUB_DEAD_LETTER_TOPIC": f"dead-{suffix}",
            "PUBSUB_DEAD_LETTER_SUBSCRIPTION": f"dead-sub-{suffix}"}


def topic(name: str) -> str:
    return f"projects/{PROJECT}/topics/{name}"


def subscription(name: str) -> str:
    return f"projects/{PROJECT}/subscriptions/{name}"


@pytest.fixture
def subscriber(pubsub_emulator: str) -> Iterator[pubsub_v1.SubscriberClient]:
    channel = grpc.insecure_channel(pubsub_emulator)
    client = pubsub_v1.SubscriberClient(transport=SubscriberGrpcTransport(
        channel=channel, credentials=AnonymousCredentials()))
    yield client
    client.close()


@pytest.mark.emulator
def test_pubsub_init_twice_is_idempotent(pubsub_emulator: str) -> None:
    suffix = uuid4().hex[:8]
    env = env_for(pubsub_emulator, **names(suffix))
    first = init(env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        f"created topic {topic(f'dead-{suffix}')}",
        f"created subscription {subscription(f'dead-sub-{suffix}')} on {topic(f'dead-{suffix}')}",
        f"created topic {topic(f'req-{suffix}')}",
        f"created subscription {subscription(f'req-sub-{suffix}')} on {topic(f'req-{suffix}')}",
        f"created topic {topic(f'gen-{suffix}')}",
        f"created subscription {subscription(f'gen-sub-{suffix}')} on {topic(f'gen-{suffix}')}",
        f"created topic {topic(f'cancel-{suffix}')}",
    ]
    second = init(env)
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == [  # nothing to change either
        f"found topic {topic(f'dead-{suffix}')}",
        f"found subscription {subscription(f'dead-sub-{suffix}')}",
        f"found topic {topic(f'req-{suffix}')}",
        f"found subscription {subscription(f'req-sub-{suffix}')}",
        f"found topic {topic(f'gen-{suffix}')}",
        f"found subscription {subscription(f'gen-sub-{suffix}')}",
        f"found topic {topic(f'cancel-{suffix}')}",
    ]


@pytest.mark.emulator
def test_subscriptions_never_expire_and_dead_letter(
        pubsub_emulator: str, subscriber: pubsub_v1.SubscriberClient) -> None:
    suffix = uuid4().hex[:8]
    result = init(env_for(pubsub_emulator, PUBSUB_MAX_DELIVERY_ATTEMPTS="20", **names(suffix)))
    assert result.returncode == 0, result.stderr
    for name in (f"req-sub-{suffix}", f"gen-sub-{suffix}"):
        created = subscriber.get_subscription(subscription=subscription(name))
        # Set, with no ttl: never expires (absent would mean Pub/Sub's default of 31 days).
        assert "expiration_policy" in created and "ttl" not in created.expiration_policy
        assert created.ack_deadline_seconds == ACK_DEADLINE_SECONDS
        assert created.dead_letter_policy.dead_letter_topic == topic(f"dead-{suffix}")
        assert created.dead_letter_policy.max_delivery_attempts == 20
    hold = subscriber.get_subscription(subscription=subscription(f"dead-sub-{suffix}"))
    assert hold.topic == topic(f"dead-{suffix}")
    assert "expiration_policy" in hold and "ttl" not in hold.expiration_policy
    assert hold.message_retention_duration.total_seconds() == 7 * 24 * 3600
    assert "dead_letter_policy" not in hold


@pytest.mark.emulator
def made_before(pubsub_emulator: str, subscriber: pubsub_v1.SubscriberClient,
                **fields: object) -> tuple[dict[str, str], str]:
    """The WorkRequested topic and its subscription (with ``fields``) made before pubsub-init runs:
    the environment for pubsub-init and the subscription's path."""
    suffix = uuid4().hex[:8]
    publisher = pubsub_v1.PublisherClient(transport=PublisherGrpcTransport(
        channel=grpc.insecure_channel(pubsub_emulator), credentials=AnonymousCredentials()))
    try:
        publisher.create_topic(name=topic(f"req-{suffix}"))
    finally:
        publisher.stop()
    path = subscription(f"req-sub-{suffix}")
    subscriber.create_subscription(request={"name": path, "topic": topic(f"req-{suffix}"), **fields})
    return env_for(pubsub_emulator, **names(suffix)), path


def test_existing_subscriptions_are_brought_to_the_policy(
        pubsub_emulator: str, subscriber: pubsub_v1.SubscriberClient) -> None:
    """A subscription made before (e.g. by hand, 10 s deadline, no dead letters) is updated.

    It is made never-expiring here because the emulator cannot update an expiration policy."""
    env, path = made_before(pubsub_emulator, subscriber, ack_deadline_seconds=10, expiration_policy={})
    result = init(env)
    assert result.returncode == 0, result.stderr
    assert (f"updated subscription {path}: "
            "ack_deadline_seconds, dead_letter_policy") in result.stdout.splitlines()
    updated = subscriber.get_subscription(subscription=path)
    assert updated.ack_deadline_seconds == ACK_DEADLINE_SECONDS
    assert updated.dead_letter_policy.max_delivery_attempts == 100


def test_a_subscription_a_service_made_on_the_emulator_is_accepted(
        pubsub_emulator: str, subscriber: pubsub_v1.SubscriberClient) -> None:
    """Compose starts the services beside pubsub-init, and on the emulator they create what is
    missing, with Pub/Sub's default expiration. The emulator refuses to update an expiration policy,
    so pubsub-init leaves it and brings the rest to the policy instead of failing."""
    env, path = made_before(pubsub_emulator, subscriber)
    result = init(env)
    assert result.returncode == 0, result.stderr
    updated = subscriber.get_subscription(subscription=path)
    assert updated.dead_letter_policy.max_delivery_attempts == 100


@pytest.mark.parametrize("attempts", ["4", "101"])
def test_max_delivery_attempts_out_of_range_is_refused(attempts: str) -> None:
    result = init(env_for("127.0.0.1:1", PUBSUB_MAX_DELIVERY_ATTEMPTS=attempts))
    assert result.returncode == 2
    assert "PUBSUB_MAX_DELIVERY_ATTEMPTS" in result.stderr


def test_pubsub_init_unreachable_fails_clearly() -> None:
    env = env_for(f"127.0.0.1:{free_port()}", PUBSUB_PUBLISH_TIMEOUT_SECONDS="2")
    result = init(env)
    assert result.returncode == 1
    assert result.stderr.startswith("atto-work pubsub-init: cannot create topic")


def test_pubsub_init_without_project_fails_clearly() -> None:
    env = env_for("127.0.0.1:1")
    del env["PUBSUB_PROJECT_ID"]
    result = init(env)
    assert result.returncode == 1
    assert "PUBSUB_PROJECT_ID is not set" in result.stderr
