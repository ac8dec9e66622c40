"""``atto-work validate``: check a work; exit 0 valid, 1 invalid, 2 bad input."""

from __future__ import annotations

import argparse

from atto_work.commands import options
from work import difficulty


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "validate", help="check a work against a hash",
        description="Print 'valid' or 'invalid' with the difficulty. "
        "Exit status: 0 valid, 1 invalid, 2 bad input.",
    )
    parser.add_argument("--hash", type=options.target, required=True, help="64 hex characters")
    parser.add_argument("--work", type=options.work, required=True, help="16 hex characters")
    options.add_difficulty_options(parser, timestamp_required=True)
    parser.set_defaults(func=lambda args: run(parser, args))


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    limit = options.resolve_threshold(parser, args, timestamp_required=True)
    value = difficulty(args.work, args.hash)
    verdict = "valid" if value <= limit else "invalid"
    print(f"{verdict} difficulty={value} threshold={limit}")
    return 0 if verdict == "valid" else 1
