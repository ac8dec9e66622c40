"""``atto-work adapter``: queue -> worker server -> queue, with probes on port 8091."""

from __future__ import annotations

import argparse

from atto_work.commands import options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "adapter", help="run the worker adapter (queue -> worker server -> queue)",
        description="Run the worker adapter; /health, /ready and /metrics are served on --port. "
        "Settings come from the environment (PUBSUB_PROJECT_ID, PUBSUB_WORK_REQUESTED_SUBSCRIPTION, "
        "PUBSUB_WORK_GENERATED_TOPIC, WORKER_URL, WORKER_TIMEOUT_SECONDS, "
        "ADAPTER_SHUTDOWN_GRACE_SECONDS).",
    )
    options.add_bind_options(parser, 8091, what="probe port")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from atto_work.serving import run_queue_service
    from worker_adapter import AdapterSettings, create_app

    return run_queue_service("adapter", AdapterSettings, create_app, args.host, args.port)
