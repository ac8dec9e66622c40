"""``atto-work solve``: find one work here, on the local devices, without a server.

The work is printed alone as the last line of stdout; a live progress line (elapsed time, hash rate,
expected time) goes to stderr. With several devices, each searches from its own random start and
the first hit wins. With ``--nano`` it finds a Nano work (difficulty at least ``--difficulty``) and
prints it as Nano writes works.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from atto_work.commands import options
from atto_work.commands.solver import add_device_options, load, open_devices

if TYPE_CHECKING:
    from solver.jobs import Rule
    from solver.pool import DevicePool


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "solve", help="find a work for a hash on the local devices",
        description="Find a work for --hash and print it alone on the last line of stdout. "
                    "Exit 0 found, 1 not found within --timeout, 2 bad input.",
    )
    parser.add_argument("--hash", type=options.target, required=True, help="target, 64 hex characters")
    options.add_difficulty_options(parser, timestamp_required=False, with_nano=True)
    add_device_options(parser)
    parser.add_argument("--timeout", type=float, default=None,
                        help="give up after this many seconds (default SOLVER_TIMEOUT_SECONDS)")
    parser.set_defaults(func=lambda args: run(parser, args))


class Progress:
    """Counts hashes and redraws one status line on stderr at most every ``interval`` seconds."""

    def __init__(self, expected: float, interval: float = 0.25) -> None:
        self.expected = expected  # mean hashes a work needs
        self.interval = interval
        self.started = self.drawn = time.perf_counter()
        self.hashes = 0
        self.live = sys.stderr.isatty()  # redraw in place on a terminal; plain lines elsewhere

    def add(self, hashes: int, seconds: float) -> None:
        self.hashes += hashes
        now = time.perf_counter()
        if now - self.drawn >= (self.interval if self.live else 1.0):
            self.drawn = now
            self.draw(now)

    def draw(self, now: float, end: str = "") -> None:
        elapsed = now - self.started
        rate = self.hashes / elapsed if elapsed > 0 else 0.0
        expected = f"{self.expected / rate:.1f} s" if rate else "?"
        line = (f"elapsed {elapsed:.1f} s  {rate / 1e6:.2f} MH/s  {self.hashes:.3g} hashes  "
                f"expected {expected} ({self.expected:.3g} hashes)")
        print(f"\r{line}" if self.live else line, end=end if self.live else "\n",
              file=sys.stderr, flush=True)


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    import asyncio

    from common.logs import setup_logging
    from solver.jobs import Rule
    from solver.pool import DevicePool

    least = options.resolve_nano(parser, args)
    if least is None:
        rule, limit = Rule.ATTO, options.resolve_threshold(parser, args, timestamp_required=False)
    else:
        rule, limit = Rule.NANO, least
    setup_logging()
    settings = load(args)
    pool = DevicePool(open_devices(settings))
    try:
        work = asyncio.run(_race(pool, args.hash, limit, rule,
                                 args.timeout or settings.timeout_seconds))
    finally:
        pool.close()
    if work is None:
        print("atto-work solve: no work found before the timeout", file=sys.stderr)
        return 1
    print(work)
    return 0


async def _race(pool: DevicePool, target: bytes, limit: int, rule: Rule,
                time_limit: float) -> str | None:
    """One job per device, each from its own random start; the first work found wins."""
    import asyncio

    from solver.errors import SearchTimeout
    from work import expected_hashes

    progress = Progress(expected_hashes(rule.search_bound(limit)[1]))
    jobs = [asyncio.ensure_future(pool.solve(target, limit, time_limit, on_launch=progress.add,
                                             rule=rule))
            for _ in pool.devices]
    try:
        for next_done in asyncio.as_completed(jobs):
            try:
                solution = await next_done
            except SearchTimeout:
                continue
            progress.draw(time.perf_counter(), end="\n")
            return rule.format_work(solution.work)
        progress.draw(time.perf_counter(), end="\n")
        return None
    finally:
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
