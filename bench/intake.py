"""Intake benchmark: ``POST /works/{hash}`` answered per second, and the coordinator's CPU per request,
of this checkout against another revision, in interleaved rounds (``bench.rounds``).

    python -m bench.intake --quick                     # validates the script (ours only)
    python -m bench.intake --baseline main --pubsub    # before/after, in-process broker and emulator

Each tree's coordinator runs in its own process (``cwd`` and ``PYTHONPATH`` = the tree; a
``--baseline`` revision is taken with ``git archive``): on the in-process broker (nothing consumes
the queue), and with ``--pubsub`` as ``atto-work coordinator`` publishing to one Pub/Sub emulator
(topics of its own; nothing consumes them). A round hammers each server in turn for ``--seconds``
from the lean keep-alive client of ``bench.loadgen`` (32 connections, every request for a new hash,
so each queues a search), alternating which goes first. Reported per setup: each side's median
POST/s and CPU ms per POST of the server process (``bench.cpu``), and the median ratio of the
rates with its spread. Only ``202`` answers count. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

from bench.cpu import cpu_seconds, cpu_used
from bench.loadgen import build_request, hammer
from bench.pipeline import _wait_http, targets
from bench.rounds import describe, interleave
from harness.emulator import PROJECT, PubSubEmulator, free_port

ROOT = Path(__file__).resolve().parents[1]
CONNECTIONS = 32
IN_PROCESS_SERVER = """
import logging, sys, uvicorn
from coordinator import CoordinatorSettings, create_app
from messaging.memory import MemoryBroker
logging.disable(logging.WARNING)
settings = CoordinatorSettings(messaging="memory", callback_allowed_networks="127.0.0.0/8")
uvicorn.run(create_app(settings, broker=MemoryBroker()), host="127.0.0.1", port=int(sys.argv[1]),
            log_config=None, access_log=False)
"""


def baseline_tree(revision: str, into: Path) -> Path:
    """The files of ``revision`` (``git archive``) under ``into``."""
    archive = subprocess.run(["git", "archive", revision], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


@contextmanager
def server(tree: Path, emulator_host: str | None) -> Iterator[tuple[int, int]]:
    """A coordinator of ``tree`` on a free port: (port, pid)."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(tree), "LOG_LEVEL": "WARNING"}
    if emulator_host is None:
        command = [sys.executable, "-c", IN_PROCESS_SERVER, str(port)]
    else:
        suffix = uuid.uuid4().hex[:8]
        env.update({"MESSAGING": "pubsub", "PUBSUB_PROJECT_ID": PROJECT,
                    "PUBSUB_EMULATOR_HOST": emulator_host, "CALLBACK_ALLOWED_NETWORKS": "127.0.0.0/8",
                    "PUBSUB_WORK_REQUESTED_TOPIC": f"work-requested-{suffix}",
                    "PUBSUB_WORK_GENERATED_TOPIC": f"work-generated-{suffix}",
                    "PUBSUB_WORK_GENERATED_SUBSCRIPTION": f"work-generated-coordinator-{suffix}",
                    "PUBSUB_WORK_CANCELLED_TOPIC": f"work-cancelled-{suffix}"})
        command = [sys.executable, "-m", "atto_work", "coordinator",
                   "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, cwd=tree, env=env, stdin=subprocess.DEVNULL)
    try:
        _wait_http(port, timeout=120)
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(30)


def measure(port: int, pid: int, seconds: float, salts: Iterator[int], cpu_ms: list[float]) -> float:
    """POST/s of one hammering; appends the server's CPU ms per POST to ``cpu_ms``."""
    body = {"network": "LOCAL", "timestamp": datetime.now(UTC).isoformat(), "callback": "http://127.0.0.1:9/cb"}
    # More distinct hashes than the run can send: every request queues a new search.
    requests = [build_request("127.0.0.1", port, t.hex(), body) for t in targets(60_000, next(salts))]
    before = cpu_seconds({"server": [pid]})
    rate, statuses = asyncio.run(hammer("127.0.0.1", port, requests, CONNECTIONS, seconds))
    used = cpu_used(before, cpu_seconds({"server": [pid]}))["server"]
    if set(statuses) != {202}:
        raise SystemExit(f"intake answered {dict(statuses)}: only 202s count")
    cpu_ms.append(used * 1000 / sum(statuses.values()))
    return rate


def compare(trees: dict[str, Path], emulator_host: str | None, rounds: int, seconds: float) -> dict:
    salts = itertools.count(int(uuid.uuid4().int % 10_000) * 100)
    with ExitStack() as stack:
        servers = {name: stack.enter_context(server(tree, emulator_host)) for name, tree in trees.items()}
        cpu: dict[str, list[float]] = {name: [] for name in trees}

        def runner(name: str) -> Callable[[], float]:
            port, pid = servers[name]
            return lambda: measure(port, pid, seconds, salts, cpu[name])

        for name in trees:  # warm-up: imports, first connections, the emulator's topics
            runner(name)()
            cpu[name].clear()
        if len(trees) == 1:
            [name] = trees
            rates = [runner(name)() for _ in range(rounds)]
            return {"ours": {"post_per_s": sorted(rates)[len(rates) // 2], "rates": rates,
                             "cpu_ms_per_post": cpu[name]}}
        comparison = interleave(runner("ours"), runner("baseline"), rounds)
        summary = comparison.summary()
        return {"rates": describe(summary),
                "ours": {"post_per_s": summary["ours_median"], "rates": summary["ours"],
                         "cpu_ms_per_post": cpu["ours"]},
                "baseline": {"post_per_s": summary["peer_median"], "rates": summary["peer"],
                             "cpu_ms_per_post": cpu["baseline"]}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds of 2 s")
    parser.add_argument("--baseline", help="a git revision to compare with (e.g. main)")
    parser.add_argument("--pubsub", action="store_true", help="also publishing to the Pub/Sub emulator")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.seconds = 2, 2.0
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        trees = {"ours": ROOT}
        if args.baseline:
            trees["baseline"] = baseline_tree(args.baseline, Path(tmp))
        results["in-process broker"] = compare(trees, None, args.rounds, args.seconds)
        if args.pubsub:
            with PubSubEmulator() as emulator:
                results["Pub/Sub emulator"] = compare(trees, emulator.host, args.rounds, args.seconds)
    for result in results.values():
        for side in ("ours", "baseline"):
            if side in result:
                cpu = sorted(result[side]["cpu_ms_per_post"])
                result[side]["cpu_ms_per_post_median"] = round(cpu[len(cpu) // 2], 3)
    print(json.dumps({"baseline": args.baseline, "rounds": args.rounds, "seconds": args.seconds,
                      "connections": CONNECTIONS, **results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
