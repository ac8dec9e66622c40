"""Argument types shared by several subcommands: parse with the rules, fail as argparse errors."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC
from typing import TypeVar

from work import nano, parse_network, parse_target, parse_threshold, parse_timestamp, parse_work

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
nano_difficulty = _argtype(nano.parse_difficulty, "difficulty")


def add_difficulty_options(parser: argparse.ArgumentParser, *, timestamp_required: bool,
                           with_nano: bool = False) -> None:
    """``--network N --timestamp T`` or ``--threshold X``: what a work must meet. ``with_nano``
    adds ``--nano [--difficulty HEX]``: Nano's rule instead (``resolve_nano`` reads it)."""
    group = parser.add_mutually_exclusive_group(required=not with_nano)
    group.add_argument("--network", type=network, help="LIVE, BETA, DEV or LOCAL")
    group.add_argument("--threshold", type=threshold, help="explicit threshold, decimal u64")
    if with_nano:
        parser.add_argument("--nano", action="store_true",
                            help="Nano's rule: difficulty at least --difficulty, works in Nano's hex")
        group.add_argument("--difficulty", type=nano_difficulty,
                           help="with --nano: the least difficulty, 16 hex "
                                f"(default {nano.format_difficulty(nano.SEND_DIFFICULTY)}, Nano's send)")
    parser.add_argument(
        "--timestamp",
        type=timestamp,
        required=False,
        help="block timestamp, ISO-8601 or epoch ms"
        + ("" if timestamp_required else " (default: now)"),
    )


def resolve_nano(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int | None:
    """With ``--nano``, the Nano difficulty asked for (default the send threshold); None without
    it. A usage error (exit 2) when Nano and Atto options are mixed."""
    if not args.nano:
        if args.difficulty is not None:
            parser.error("--difficulty goes with --nano (Atto works take --network or --threshold)")
        if args.network is None and args.threshold is None:
            parser.error("one of --network, --threshold or --nano is required")
        return None
    if args.network is not None or args.threshold is not None or args.timestamp is not None:
        parser.error("--nano takes --difficulty, not --network, --threshold or --timestamp")
    return nano.SEND_DIFFICULTY if args.difficulty is None else args.difficulty


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
