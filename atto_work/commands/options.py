"""Argument types shared by several subcommands: parse with the rules, fail as argparse errors."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC
from typing import TypeVar

from work import parse_network, parse_target, parse_threshold, parse_timestamp, parse_work

T = TypeVar("T")


def _argtype(parse: Callable[[str], T], name: str) -> Callable[[str], T]:
    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = name  # argparse names the type in its messages
    return convert


target = _argtype(parse_target, "hash")
work = _argtype(parse_work, "work")
network = _argtype(parse_network, "network")
timestamp = _argtype(parse_timestamp, "timestamp")
threshold = _argtype(parse_threshold, "threshold")


def add_difficulty_options(parser: argparse.ArgumentParser, *, timestamp_required: bool) -> None:
    """``--network N --timestamp T`` or ``--threshold X``: what a work must meet."""
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--network", type=network, help="LIVE, BETA, DEV or LOCAL")
    group.add_argument("--threshold", type=threshold, help="explicit threshold, decimal u64")
    parser.add_argument(
        "--timestamp",
        type=timestamp,
        required=False,
        help="block timestamp, ISO-8601 or epoch ms"
        + ("" if timestamp_required else " (default: now)"),
    )


def resolve_threshold(parser: argparse.ArgumentParser, args: argparse.Namespace,
                      *, timestamp_required: bool) -> int:
    """The threshold the options ask for; a usage error (exit 2) when they do not add up."""
    from datetime import datetime

    from work import WorkError
    from work import threshold as network_threshold

    if args.threshold is not None:
        if args.timestamp is not None:
            parser.error("--timestamp goes with --network, not with --threshold")
        return args.threshold
    if args.timestamp is None:
        if timestamp_required:
            parser.error("--network needs --timestamp")
        args.timestamp = datetime.now(UTC)
    try:
        return network_threshold(args.network, args.timestamp)
    except WorkError as exc:
        parser.error(str(exc))
        raise  # unreachable: parser.error exits


def add_bind_options(parser: argparse.ArgumentParser, port: int, what: str = "port") -> None:
    """``--host`` (default loopback; containers pass 0.0.0.0) and ``--port``."""
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=port, help=f"{what} (default {port})")
