"""``atto-work pubsub-init``: create the two topics and their subscriptions, idempotently.

Names come from the same environment variables the services read (defaults: topic ``work-requested``
with subscription ``work-requested-adapter``; topic ``work-generated`` with subscription
``work-generated-coordinator``). Works against the emulator (``PUBSUB_EMULATOR_HOST``) and real GCP.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from pydantic_settings import BaseSettings, SettingsConfigDict


class PubSubNames(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    pubsub_work_requested_topic: str = "work-requested"
    pubsub_work_requested_subscription: str = "work-requested-adapter"
    pubsub_work_generated_topic: str = "work-generated"
    pubsub_work_generated_subscription: str = "work-generated-coordinator"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pubsub-init",
        help="create the Pub/Sub topics and subscriptions (idempotent)",
        description="Create the work-requested and work-generated topics and their subscriptions in "
        "PUBSUB_PROJECT_ID (on the emulator when PUBSUB_EMULATOR_HOST is set). Existing ones are kept.",
    )
    parser.add_argument(
        "--wait", type=float, default=0.0, metavar="SECONDS",
        help="keep trying while Pub/Sub does not answer, for at most SECONDS (default 0: try once); "
        "for a stack that starts the emulator at the same time (compose)")
    parser.set_defaults(func=run)


async def _init(names: PubSubNames, wait: float) -> list[str]:
    from common.settings import load_settings
    from messaging.broker import BrokerUnavailable
    from messaging.pubsub import PubSubBroker
    from messaging.settings import MessagingSettings

    broker = PubSubBroker(load_settings(MessagingSettings), create_missing=True)  # bad settings: fail now
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                done = await broker.ensure(names.pubsub_work_requested_topic,
                                           names.pubsub_work_requested_subscription)
                done += await broker.ensure(names.pubsub_work_generated_topic,
                                            names.pubsub_work_generated_subscription)
                return done
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
    from messaging.broker import BrokerUnavailable

    names = load_settings(PubSubNames)
    try:
        for line in asyncio.run(_init(names, args.wait)):
            print(line)
    except BrokerUnavailable as exc:
        print(f"atto-work pubsub-init: {exc}", file=sys.stderr)
        return 1
    return 0
