"""``atto-work solver``: serve the worker server (HTTP API over the device pool) with uvicorn."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from solver.backends.base import SearchDevice
    from solver.settings import SolverSettings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "solver", help="serve the worker server (POST /works/{hash}, POST /works)",
        description="Serve the worker server: find Atto works on the best devices found. Settings come "
                    "from SOLVER_* environment variables; the options below override them.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8090, help="port (default 8090)")
    add_device_options(parser)
    parser.set_defaults(func=run)


def add_device_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=("auto", "opencl", "numpy"),
                        help="search backend (default SOLVER_BACKEND, else auto: GPU, OpenCL CPU, NumPy)")
    parser.add_argument("--devices", help="device selector (default SOLVER_DEVICES, else all of the backend)")


def load(args: argparse.Namespace) -> SolverSettings:
    """Settings from the environment with the command's options on top; exit 2 naming a bad one."""
    from common.settings import load_settings
    from solver.settings import SolverSettings

    overrides = {k: v for k in ("backend", "devices") if (v := getattr(args, k)) is not None}
    return load_settings(SolverSettings, **overrides)


def open_devices(settings: SolverSettings) -> list[SearchDevice]:
    """The devices the settings select, kernels built; exit 2 with one line when none fits."""
    from solver.backends import discover

    try:
        return discover(settings.backend, settings.devices)
    except ValueError as exc:  # DeviceSelectionError: a selection that cannot be satisfied
        print(f"atto-work: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from atto_work.serving import server_options
    from common.logs import setup_logging
    from solver.api import create_app

    setup_logging()
    settings = load(args)
    # Opened here rather than in the app's start-up so that a bad selection is one line, exit 2.
    # The app closes them with its pool at shutdown: uvicorn re-raises SIGTERM once it has shut
    # down, so nothing after ``uvicorn.run`` would run.
    app = create_app(settings, open_devices(settings), own_devices=True)
    # The options of every service (atto_work.serving), without its 5 s graceful shutdown: a
    # running search may take SOLVER_TIMEOUT_SECONDS. No access log: the API's own "work found"
    # line says more, and a second line per work costs CPU the device shares on a CPU host.
    uvicorn.run(app, host=args.host, port=args.port, **server_options())
    return 0
