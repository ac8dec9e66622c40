"""What the service subcommands share: refusing a broker that cannot work, and serving an app."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import uvicorn

from messaging import MessagingSettings

S = TypeVar("S", bound=MessagingSettings)


def require_shared_broker(settings: MessagingSettings, role: str) -> None:
    """Exit 2, saying why, when a service started on its own would use the in-process broker."""
    if settings.backend != "memory":
        return
    print(
        f"atto-work {role}: the in-process broker (MESSAGING=memory, the default while "
        "PUBSUB_PROJECT_ID is unset) exists only inside one process, so a "
        f"{role} started alone could never exchange messages with the other services.\n"
        "  Either run everything in one process:  atto-work up\n"
        "  or use Pub/Sub: set PUBSUB_PROJECT_ID (and PUBSUB_EMULATOR_HOST=127.0.0.1:8085 for "
        "the emulator, after `atto-work pubsub-init`).",
        file=sys.stderr,
    )
    raise SystemExit(2)


def server_options() -> dict[str, Any]:
    """The uvicorn options every service runs with, from the environment.

    Our own logging is kept (``log_config=None``) and the access log is off: one line per request
    would cost more than the intake itself. Proxy headers are honoured only from
    ``FORWARDED_ALLOW_IPS`` (``common.proxies``); request heads, the time to send a request and the
    number of connections are bounded (``common.connections``)."""
    from common.connections import ConnectionSettings
    from common.proxies import ProxySettings
    from common.settings import load_settings

    return {"log_config": None, "access_log": False, **load_settings(ProxySettings).uvicorn_options(),
            **load_settings(ConnectionSettings).uvicorn_options()}


def serve(app: object, host: str, port: int) -> int:
    """Run ``app`` until SIGINT/SIGTERM; uvicorn then runs the app's lifespan shutdown (the drain).

    httpx's line per outgoing request is silenced, as the access log is (``server_options``)."""
    options = server_options()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    uvicorn.run(app, host=host, port=port, timeout_graceful_shutdown=5, **options)  # type: ignore[arg-type]
    return 0


def run_queue_service(role: str, settings_type: type[S], create_app: Callable[[S], object],
                      host: str, port: int) -> int:
    """``atto-work coordinator`` and ``atto-work adapter``: logging, settings from the environment,
    the broker check, then serve."""
    from common.logs import setup_logging
    from common.settings import load_settings

    setup_logging()
    settings = load_settings(settings_type)
    require_shared_broker(settings, role)
    return serve(create_app(settings), host, port)
