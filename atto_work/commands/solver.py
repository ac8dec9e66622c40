"""``atto-work solver``: serve the worker server (HTTP API over the device pool) with uvicorn."""

from __future__ import annotations

import argparse


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


def load(args: argparse.Namespace):  # -> SolverSettings, imported lazily to keep --help fast
    from common.settings import load_settings
    from solver.settings import SolverSettings

    overrides = {k: v for k in ("backend", "devices") if (v := getattr(args, k)) is not None}
    return load_settings(SolverSettings, **overrides)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from common.logs import setup_logging
    from solver.api import create_app

    setup_logging()
    settings = load(args)
    # log_config=None: uvicorn's loggers go through ours (one structured line per event).
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_config=None)
    return 0
