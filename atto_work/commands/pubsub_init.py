"""``atto-work pubsub-init``: create the two topics and their subscriptions, idempotently.

Names come from the same environment variables the services read (defaults: topic ``work-requested``
with subscription ``work-requested-adapter``; topic ``work-generated`` with subscription
``work-generated-coordinator``). Works against the emulator (``PUBSUB_EMULATOR_HOST``) and real GCP.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PubSubNames(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    pubsub_work_requested_topic: str = Field("work-requested", description=(
        "topic of WorkRequested to create"))
    pubsub_work_requested_subscription: str = Field("work-requested-adapter", description=(
        "the adapter's subscription to create on it"))
    pubsub_work_generated_topic: str = Field("work-generated", description=(
        "topic of WorkGenerated to create"))
    pubsub_work_generated_subscription: str = Field("work-generated-coordinator", description=(
        "the coordinator's subscription to create on it"))


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pubsub-init",
        help="create the Pub/Sub topics and subscriptions (idempotent)",
        description="Create the work-requested and work-generated topics and their subscriptions in "
        "PUBSUB_PROJECT_ID (on the emulator when PUBSUB_EMULATOR_HOST is set). Existing ones are kept.",
    )
    parser.set_defaults(func=run)


async def _init(names: PubSubNames) -> list[str]:
    from common.settings import load_settings
    from messaging.pubsub import PubSubBroker
    from messaging.settings import MessagingSettings

    broker = PubSubBroker(load_settings(MessagingSettings), create_missing=True)
    try:
        done = await broker.ensure(names.pubsub_work_requested_topic,
                                   names.pubsub_work_requested_subscription)
        done += await broker.ensure(names.pubsub_work_generated_topic,
                                    names.pubsub_work_generated_subscription)
        return done
    finally:
        await broker.close()


def run(args: argparse.Namespace) -> int:
    from common.settings import load_settings
    from messaging import BrokerUnavailable

    names = load_settings(PubSubNames)
    try:
        for line in asyncio.run(_init(names)):
            print(line)
    except BrokerUnavailable as exc:
        print(f"atto-work pubsub-init: {exc}", file=sys.stderr)
        return 1
    return 0
