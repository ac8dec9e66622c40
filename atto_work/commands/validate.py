"""``atto-work validate``: check a work; exit 0 valid, 1 invalid, 2 bad input.

With ``--nano`` the work is a Nano work (big-endian hex) checked against a Nano difficulty.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from atto_work.commands import options
from work import WorkError, difficulty, nano, parse_work


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "validate", help="check a work against a hash",
        description="Print 'valid' or 'invalid' with the difficulty. "
        "Exit status: 0 valid, 1 invalid, 2 bad input.",
    )
    parser.add_argument("--hash", type=options.target, required=True, help="64 hex characters")
    parser.add_argument("--work", required=True,
                        help="16 hex characters (with --nano: Nano's big-endian work)")
    options.add_difficulty_options(parser, timestamp_required=True, with_nano=True)
    parser.set_defaults(func=lambda args: run(parser, args))


def _parse(parser: argparse.ArgumentParser, parse: Callable[[str], object], text: str):
    try:
        return parse(text)
    except WorkError as exc:
        parser.error(f"argument --work: {exc}")


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    least = options.resolve_nano(parser, args)
    if least is not None:
        value = nano.difficulty(_parse(parser, nano.parse_work, args.work), args.hash)
        valid = value >= least
        print(f"{'valid' if valid else 'invalid'} difficulty={nano.format_difficulty(value)} "
              f"threshold={nano.format_difficulty(least)} multiplier={nano.multiplier(value):.6g}")
        return 0 if valid else 1
    work = _parse(parser, parse_work, args.work)
    limit = options.resolve_threshold(parser, args, timestamp_required=True)
    value = difficulty(work, args.hash)
    verdict = "valid" if value <= limit else "invalid"
    print(f"{verdict} difficulty={value} threshold={limit}")
    return 0 if verdict == "valid" else 1
