"""``atto-work up``: coordinator, worker adapter and worker server in one process.

The embedded default: the in-process broker, the best device the worker server finds, the
coordinator on ``--host``/``--port``. ``--messaging pubsub`` runs the same three against Pub/Sub
(``PUBSUB_PROJECT_ID``, and ``PUBSUB_EMULATOR_HOST`` for the emulator).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from datetime import UTC, datetime

from atto_work.commands import options

#: What ``atto-work up`` on loopback lets callbacks reach by default besides public addresses.
LOOPBACK_NETWORKS = "127.0.0.0/8,::1/128"


def default_allowed_networks(host: str) -> str:
    """``CALLBACK_ALLOWED_NETWORKS`` when unset: this machine while ``up`` listens on loopback only
    (the development default: ``atto-work request`` and a local receiver are called back), nothing
    when it listens on other interfaces (a container, a server), where a callback could otherwise
    POST to this machine's own endpoints."""
    if host == "localhost":
        return LOOPBACK_NETWORKS
    try:
        return LOOPBACK_NETWORKS if ipaddress.ip_address(host).is_loopback else ""
    except ValueError:  # a host name other than localhost
        return ""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "up", help="run the whole service in one process (the quick start)",
        description="Run coordinator, worker adapter and worker server in one process. "
        "The worker server is also reachable under /solver, the adapter's probes under /adapter.",
    )
    options.add_bind_options(parser, 8080)
    parser.add_argument("--messaging", choices=("memory", "pubsub"), default="memory",
                        help="in-process broker (default) or Google Pub/Sub / its emulator")
    parser.set_defaults(func=lambda args: run(parser, args))


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from atto_work.embedded import create_stack_app
    from atto_work.serving import serve
    from common.logs import setup_logging
    from common.settings import load_settings
    from coordinator import CoordinatorSettings
    from messaging import create_broker
    from solver.api import create_app as create_worker_app
    from solver.settings import SolverSettings
    from worker_adapter import AdapterSettings

    setup_logging()
    allowed = os.environ.get("CALLBACK_ALLOWED_NETWORKS", default_allowed_networks(args.host))
    coordinator_settings = load_settings(CoordinatorSettings, messaging=args.messaging,
                                         callback_allowed_networks=allowed)
    # The adapter calls the worker server in-process (atto_work.embedded): WORKER_URL is not used.
    adapter_settings = load_settings(AdapterSettings, messaging=args.messaging)
    if args.messaging == "pubsub" and not coordinator_settings.pubsub_project_id:
        parser.error("--messaging pubsub needs PUBSUB_PROJECT_ID (and PUBSUB_EMULATOR_HOST "
                     "for the emulator)")
    # One broker for all three; its redelivery bounds are the callback retry bounds (they default
    # to MESSAGING_RETRY_*), since callbacks are what a client waits on.
    broker = create_broker(coordinator_settings.broker_settings())
    # SOLVER_TOKEN guards /solver together with the API keys (atto_work.embedded), so the worker
    # server itself is made without it: it would refuse the keys.
    solver_settings = load_settings(SolverSettings)
    worker_app = create_worker_app(solver_settings.model_copy(update={"token": None}))
    solver_token = solver_settings.token.get_secret_value() if solver_settings.token else None
    base = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}"

    def banner() -> None:
        print(_banner(base, args.messaging), file=sys.stderr, flush=True)
        opened = coordinator_settings.callback_allowed_networks or "none"
        print(f"  callbacks may reach these non-public networks: {opened} "
              "(CALLBACK_ALLOWED_NETWORKS; every public address is allowed)", file=sys.stderr, flush=True)

    app = create_stack_app(coordinator_settings, adapter_settings, worker_app, broker, banner,
                           solver_token=solver_token)
    return serve(app, args.host, args.port)


def _banner(base: str, messaging: str) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    target = "89EB0D6A8A691DAE2CD15ED0369931CE0A949ECAFA5C3F93F8121833646E15C3"
    broker = "in-process broker" if messaging == "memory" else "Google Pub/Sub"
    return (
        f"atto-work up: listening on {base} (coordinator, worker adapter and worker server, "
        f"{broker})\n"
        f"  worker server: {base}/solver/ready   adapter: {base}/adapter/ready   "
        f"metrics: {base}/metrics\n"
        "  Try it (waits for the callback and checks the work):\n"
        f"    atto-work request {target} --network LOCAL --coordinator {base}\n"
        "  or with curl (the work is POSTed to your callback URL):\n"
        f"    curl -i -X POST {base}/works/{target} -H 'Content-Type: application/json' \\\n"
        f"      -d '{{\"network\": \"LOCAL\", \"timestamp\": \"{now}\", "
        "\"callback\": \"http://127.0.0.1:9000/callback\"}'"
    )
