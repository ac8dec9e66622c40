"""``atto-work threshold``: the threshold of a network at a time."""

from __future__ import annotations

import argparse

from atto_work.commands import options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "threshold", help="print the threshold for a network and timestamp",
        description="Print the decimal threshold a work must meet, alone on one line.",
    )
    options.add_difficulty_options(parser, timestamp_required=True)
    parser.set_defaults(func=lambda args: run(parser, args))


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    print(options.resolve_threshold(parser, args, timestamp_required=True))
    return 0
