"""``atto-work coordinator``: the REST intake and callback delivery, on Pub/Sub."""

from __future__ import annotations

import argparse

from atto_work.commands import options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "coordinator", help="run the coordinator (POST /works/{hash} -> queue -> callback)",
        description="Run the work coordinator. Settings come from the environment "
        "(PUBSUB_PROJECT_ID, PUBSUB_WORK_REQUESTED_TOPIC, PUBSUB_WORK_GENERATED_SUBSCRIPTION, "
        "CALLBACK_*, COORDINATOR_*).",
    )
    options.add_bind_options(parser, 8080)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from atto_work.serving import run_queue_service
    from coordinator import CoordinatorSettings, create_app

    return run_queue_service("coordinator", CoordinatorSettings, create_app, args.host, args.port)
