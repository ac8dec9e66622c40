"""How fast is the work-state store? Submit and complete operations per second, and CPU per operation.

    python bench/store.py [--quick] [--ops N] [--concurrency C] [--json]

For each backend (the in-process store, and Redis: a real redis-server started here on a loopback
port, with no persistence) one event loop runs C concurrent tasks:
1. submit: N requests for N/20 distinct hashes (20 each, shuffled: one queues a search, 19 join it),
   as intake does for each POST /works/{hash};
2. complete: one result per hash claiming its 20 requests, then finish, as delivery does.
Before them, as many bare PINGs through the same client: the floor of one round trip on this machine.
Reported per phase: operations/s, this process's CPU per operation (the coordinator's cost: it
bounds how many POST/s two cores can take beside HTTP), and redis-server's CPU per operation.
Intake at 1,500 POST/s needs submit well above that with a small share of a core per op.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.cpu import cpu_seconds, cpu_used  # noqa: E402
from harness.redis_server import RedisServer  # noqa: E402
from store import WorkStore  # noqa: E402
from store.memory import MemoryStore  # noqa: E402
from store.redis_store import RedisStore  # noqa: E402

PER_HASH = 20
WORK = bytes(8)


async def run_phase(operation: Callable[[str], Awaitable[None]], items: list[str], concurrency: int) -> float:
    """``operation`` on every item, by ``concurrency`` workers; the wall seconds taken."""
    queue = iter(items)

    async def worker() -> None:
        for item in queue:
            await operation(item)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


async def measure(store: WorkStore, ops: int, concurrency: int, pids: dict[str, list[int]]) -> dict:
    hashes = [os.urandom(32).hex().upper() for _ in range(max(1, ops // PER_HASH))]
    targets = [h for h in hashes for _ in range(PER_HASH)]
    random.shuffle(targets)
    deadline = time.time() + 600
    decisions: list[str] = []

    async def submit(h: str) -> None:
        answer = await store.submit(h, 2**40, "http://127.0.0.1:9/callback", None, deadline)
        decisions.append(answer.decision.value)

    async def complete(h: str) -> None:
        done = await store.complete(h, WORK, 10, 30.0)
        await store.finish(h, [r.id for r in done.deliver])

    async def ping(h: str) -> None:  # the floor: one bare round trip of the same client
        await store.ping()

    figures = {}
    phases = (("ping", ping, targets), ("submit", submit, targets), ("complete", complete, hashes))
    for phase, operation, items in phases:
        before = cpu_seconds(pids)
        seconds = await run_phase(operation, items, concurrency)
        used = cpu_used(before, cpu_seconds(pids))
        figures[phase] = {
            "ops": len(items), "ops_per_s": round(len(items) / seconds),
            **{f"{name}_cpu_us_per_op": round(cpu * 1e6 / len(items)) for name, cpu in used.items()},
        }
    figures["submit"]["queued"] = decisions.count("queued")
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 submits instead of 20,000")
    parser.add_argument("--ops", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    ops = args.ops or (2000 if args.quick else 20000)
    results = {"memory": await measure(MemoryStore(), ops, args.concurrency, {"client": [os.getpid()]})}
    with RedisServer() as server:
        store = RedisStore(server.url)
        await store.start()
        try:
            pids = {"client": [os.getpid()], "redis": [server.pid]}
            results["redis"] = await measure(store, ops, args.concurrency, pids)
        finally:
            await store.close()
    report = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "ops": ops,
              "concurrency": args.concurrency, "results": results}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{report['date']}  {ops} submits ({PER_HASH} per hash), {args.concurrency} concurrent")
    print(f"{'backend':8} {'phase':9} {'ops/s':>8} {'client µs/op':>13} {'redis µs/op':>12}")
    for backend, phases in results.items():
        for phase, f in phases.items():
            print(f"{backend:8} {phase:9} {f['ops_per_s']:>8} {f['client_cpu_us_per_op']:>13} "
                  f"{f.get('redis_cpu_us_per_op', '-'):>12}")


if __name__ == "__main__":
    asyncio.run(main())
