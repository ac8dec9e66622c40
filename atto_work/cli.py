"""``atto-work``: subcommands are modules of ``atto_work.commands``, each with ``register``.

Each module adds its parser in ``register(subparsers)`` and sets ``func`` to a callable taking the
parsed namespace and returning an exit code. Modules are imported here, lazily heavy parts inside
their ``run`` functions, so ``atto-work --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

COMMANDS = (
    "up",
    "request",
    "coordinator",
    "adapter",
    "solver",
    "solve",
    "threshold",
    "validate",
    "devices",
    "bench",
    "pubsub_init",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="atto-work", description="Proof-of-work service for the Atto cryptocurrency."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"atto_work.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)
