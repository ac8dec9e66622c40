"""``atto-work pubsub-init``: create the topics and subscriptions, idempotently, with the policies a
scale-to-zero deployment needs.

Names come from the same environment variables the services read (defaults: topic ``work-requested``
with subscription ``work-requested-adapter``; topic ``work-generated`` with subscription
``work-generated-coordinator``). Works against the emulator (``PUBSUB_EMULATOR_HOST``) and real GCP.

Each of the two subscriptions gets
- an expiration policy of *never*: Pub/Sub's default deletes a subscription after 31 days without a
  subscriber, which a quiet month with workers scaled to zero would do;
- the ack deadline the services expect (``messaging.pubsub.ACK_DEADLINE_SECONDS``);
- a dead-letter policy: after ``PUBSUB_MAX_DELIVERY_ATTEMPTS`` deliveries a message moves to the
  dead-letter topic, whose own subscription keeps it (7 days) for an operator to look at.
A subscription that exists already is brought to these settings (only the fields that differ).
On GCP, dead-lettering also needs the Pub/Sub service agent to publish to the dead-letter topic and
subscribe to the two subscriptions (see the chart's README).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import TYPE_CHECKING, Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from messaging.topics import (
    CancelledTopic,
    GeneratedSubscription,
    GeneratedTopic,
    RequestedSubscription,
    RequestedTopic,
)

if TYPE_CHECKING:
    from messaging.pubsub import PubSubBroker

#: How long the dead-letter subscription keeps a message (Pub/Sub's maximum, 7 days).
DEAD_LETTER_RETENTION_SECONDS = 7 * 24 * 3600


class PubSubInitSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    pubsub_work_requested_topic: RequestedTopic
    pubsub_work_requested_subscription: RequestedSubscription
    pubsub_work_generated_topic: GeneratedTopic
    pubsub_work_generated_subscription: GeneratedSubscription
    pubsub_work_cancelled_topic: CancelledTopic
    pubsub_dead_letter_topic: str = Field(
        "work-dead-letter",
        description="topic receiving the messages delivered `PUBSUB_MAX_DELIVERY_ATTEMPTS` times "
        "without an ack")
    pubsub_dead_letter_subscription: str = Field(
        "work-dead-letter-hold",
        description="subscription keeping dead-lettered messages for 7 days, never expiring")
    pubsub_max_delivery_attempts: int = Field(
        100, ge=5, le=100,
        description="deliveries of one message before Pub/Sub moves it to the dead-letter topic "
        "(5-100); each nack is a delivery and redeliveries back off up to "
        "`MESSAGING_RETRY_MAX_SECONDS`, so 100 is hours of retries")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pubsub-init",
        help="create the Pub/Sub topics and subscriptions (idempotent)",
        description="Create the work-requested and work-generated topics and their subscriptions "
        "(never expiring, with a dead-letter topic), and the work-cancelled topic (each adapter "
        "makes its own subscription to it) in PUBSUB_PROJECT_ID (on the emulator when "
        "PUBSUB_EMULATOR_HOST is set). Existing ones are kept and brought to those settings.",
    )
    parser.add_argument(
        "--wait", type=float, default=0.0, metavar="SECONDS",
        help="keep trying while Pub/Sub does not answer, for at most SECONDS (default 0: try once); "
        "for a stack that starts the emulator at the same time (compose)")
    parser.set_defaults(func=run)


def subscription_fields(broker: PubSubBroker, settings: PubSubInitSettings) -> dict[str, Any]:
    """The Subscription fields pubsub-init sets on the two work subscriptions."""
    from messaging.pubsub import ACK_DEADLINE_SECONDS

    return {
        "ack_deadline_seconds": ACK_DEADLINE_SECONDS,
        "expiration_policy": {},  # no ttl: never expires
        "dead_letter_policy": {
            "dead_letter_topic": broker.topic_path(settings.pubsub_dead_letter_topic),
            "max_delivery_attempts": settings.pubsub_max_delivery_attempts,
        },
    }


def _bring_to(broker: PubSubBroker, subscription: str, fields: dict[str, Any]) -> str | None:
    """Update the fields of an existing subscription that differ from ``fields``; say what changed."""
    from google.api_core import exceptions as gexc
    from google.cloud import pubsub_v1

    from messaging import BrokerUnavailable

    path = broker.subscription_path(subscription)
    wanted = pubsub_v1.types.Subscription(name=path, **fields)
    try:
        current = broker.subscriber.get_subscription(subscription=path, timeout=broker.timeout)
        # `in` tells a message field that is set from one left at its default (no expiration policy
        # at all is not "never").
        stale = [f for f in fields
                 if (f in current, getattr(current, f)) != (f in wanted, getattr(wanted, f))]
        if not stale:
            return None
        broker.subscriber.update_subscription(
            request={"subscription": wanted, "update_mask": {"paths": stale}}, timeout=broker.timeout)
    except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
        raise BrokerUnavailable(f"cannot update subscription {path}: {exc}") from exc
    return f"updated subscription {path}: {', '.join(stale)}"


async def _ensure_all(broker: PubSubBroker, settings: PubSubInitSettings) -> list[str]:
    hold = {"expiration_policy": {},
            "message_retention_duration": {"seconds": DEAD_LETTER_RETENTION_SECONDS}}
    done = await broker.ensure(settings.pubsub_dead_letter_topic,
                               settings.pubsub_dead_letter_subscription, hold)
    fields = subscription_fields(broker, settings)
    # The emulator refuses to update an expiration policy (400 "currently unsupported"): there a
    # subscription a service created before us (they create what is missing on the emulator) keeps
    # its own; a new one still gets "never".
    updatable = ({k: v for k, v in fields.items() if k != "expiration_policy"}
                 if broker.emulator_host else fields)
    for topic, subscription in (
        (settings.pubsub_work_requested_topic, settings.pubsub_work_requested_subscription),
        (settings.pubsub_work_generated_topic, settings.pubsub_work_generated_subscription),
    ):
        lines = await broker.ensure(topic, subscription, fields)
        done += lines
        if lines[-1].startswith("found subscription"):
            updated = await asyncio.to_thread(_bring_to, broker, subscription, updatable)
            if updated:
                done.append(updated)
    done += await broker.ensure(settings.pubsub_work_cancelled_topic)
    return done


async def _init(settings: PubSubInitSettings, wait: float) -> list[str]:
    from common.settings import load_settings
    from messaging import BrokerUnavailable
    from messaging.pubsub import PubSubBroker
    from messaging.settings import MessagingSettings

    broker = PubSubBroker(load_settings(MessagingSettings), create_missing=True)  # bad settings: fail now
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                return await _ensure_all(broker, settings)
            except BrokerUnavailable as exc:
                if wait <= 0:
                    raise
                if time.monotonic() >= deadline:
                    raise BrokerUnavailable(f"{exc} (no answer after trying for {wait:g} s)") from exc
                await asyncio.sleep(1)  # Pub/Sub (the emulator) may still be starting
    finally:
        await broker.close()


def run(args: argparse.Namespace) -> int:
    from common.settings import load_settings
    from messaging import BrokerUnavailable

    settings = load_settings(PubSubInitSettings)
    try:
        for line in asyncio.run(_init(settings, args.wait)):
            print(line)
    except BrokerUnavailable as exc:
        print(f"atto-work pubsub-init: {exc}", file=sys.stderr)
        return 1
    return 0
