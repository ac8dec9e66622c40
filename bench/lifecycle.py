"""Work lifecycle benchmark (issue 8): one search per hash, the cache, cancel, intake with a store.

    python -m bench.lifecycle --quick                      # a minute; validates the script
    python -m bench.lifecycle                              # the figures
    python -m bench.lifecycle --baseline-tree /tmp/main    # + intake of a tree without the store

- coalescing: 200 requests for 10 distinct hashes (20 each, sent at once, DEV works) -> searches
  started (the worker server's ``solver_searches_total``), callbacks and their validity; in
  ``atto-work up`` and, with ``--pubsub``, over the emulator with two coordinator processes sharing
  one redis-server;
- cached answer: requests for hashes whose work is cached, one at a time, send -> callback (p50, p99)
  in ``up``;
- cancel: a BETA request; once the device is busy, ``DELETE /works/{hash}`` -> the worker server's
  busy gauge back to 0 (polled every 5 ms), p50 and max, in ``up``;
- intake: ``POST /works`` per second (distinct hashes, so each request queues a search) of a
  coordinator on the in-process broker with the in-process store and with a redis-server store;
  with ``--baseline-tree``, the same coordinator code of another checkout (e.g. ``git archive main``
  before the store was wired) in the same run, for the "not more than 10 % below" comparison.
Every callback's work is checked with ``work.difficulty``. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from atto_work.receiver import CallbackReceiver
from bench.loadgen import build_request, hammer
from bench.pipeline import _wait_http, check, targets
from harness.emulator import PubSubEmulator, free_port
from harness.redis_server import RedisServer
from harness.stack import Component, Stack, child_env
from work import Network, parse_target, threshold

LOOPBACK = "127.0.0.0/8,::1/128"


def metric(text: str, name: str, labels: str = "") -> float:
    """The sum of the samples of ``name`` (whose labels contain ``labels``) in a /metrics text."""
    total = 0.0
    for found in re.finditer(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)$", text, re.M):
        if labels in (found.group(1) or ""):
            total += float(found.group(2))
    return total


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def coalescing(coordinators: list[str], solver_metrics: str, hashes: int, per_hash: int) -> dict:
    """``per_hash`` requests for each of ``hashes`` distinct DEV hashes, all at once, spread over
    ``coordinators``; searches started (solved) and callbacks."""
    now = datetime.now(UTC)
    limit = threshold(Network.DEV, now)
    batch = targets(hashes, int(time.time()))
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(timeout=60, trust_env=False, limits=limits) as client:
        before = metric((await client.get(solver_metrics)).text, "solver_searches_total", 'outcome="solved"')
        with CallbackReceiver() as receiver:
            body = {"network": "DEV", "timestamp": now.isoformat(), "callback": receiver.url}
            jobs = [(coordinators[i % len(coordinators)], t) for t in batch for i in range(per_hash)]
            started = time.perf_counter()
            answers = await asyncio.gather(*(client.post(f"{c}/works/{t.hex()}", json=body) for c, t in jobs))
            bad = [a.status_code for a in answers if a.status_code != 202]
            if bad:
                raise SystemExit(f"intake refused: {bad[:5]}")
            states = [a.json()["state"] for a in answers]
            total = hashes * per_hash
            callbacks = await asyncio.to_thread(receiver.wait_for, total, 300)
            elapsed = time.perf_counter() - started
            for callback in callbacks:
                check(parse_target(callback.body["hash"]), callback.body["work"], limit)
        await asyncio.sleep(0.5)  # a duplicate search, were there one, would have finished by now
        after = metric((await client.get(solver_metrics)).text, "solver_searches_total", 'outcome="solved"')
    return {"requests": total, "hashes": hashes, "searches": after - before, "callbacks": len(callbacks),
            "valid": len(callbacks), "seconds": round(elapsed, 2),
            "states": {s: states.count(s) for s in sorted(set(states))}}


async def cached_latency(url: str, count: int) -> dict:
    """Solve ``count`` LOCAL hashes, then ask for each again: send -> callback of the cached answer."""
    now = datetime.now(UTC)
    limit = threshold(Network.LOCAL, now)
    batch = targets(count, int(time.time()) + 5)
    latencies = []
    with CallbackReceiver() as receiver:
        body = {"network": "LOCAL", "timestamp": now.isoformat(), "callback": receiver.url}
        async with httpx.AsyncClient(base_url=url, timeout=30, trust_env=False) as client:
            await asyncio.gather(*(client.post(f"/works/{t.hex()}", json=body) for t in batch))
            await asyncio.to_thread(receiver.wait_for, count, 120)
            for i, target in enumerate(batch):
                started = time.perf_counter()
                answer = await client.post(f"/works/{target.hex()}", json=body)
                if answer.json()["state"] != "cached":
                    raise SystemExit(f"expected a cached answer: {answer.text}")
                got = await asyncio.to_thread(receiver.wait_for, count + i + 1, 30)
                latencies.append(got[count + i].received_at - started)
        for callback in receiver.callbacks:
            check(parse_target(callback.body["hash"]), callback.body["work"], limit)
    return {"count": count, "p50_ms": round(percentile(latencies, 0.5) * 1000, 2),
            "p99_ms": round(percentile(latencies, 0.99) * 1000, 2)}


async def cancel_latency(url: str, tries: int) -> dict:
    """DELETE during a BETA search -> the worker server's busy gauge back to 0."""
    latencies = []
    async with httpx.AsyncClient(base_url=url, timeout=30, trust_env=False) as client:
        async def busy() -> float:
            return metric((await client.get("/solver/metrics")).text, "solver_device_busy")

        for i in range(tries):
            target = targets(1, int(time.time() * 1000) + i)[0].hex()
            body = {"network": "BETA", "timestamp": datetime.now(UTC).isoformat(),
                    "callback": "http://127.0.0.1:9/cb"}
            await client.post(f"/works/{target}", json=body)
            async with asyncio.timeout(60):
                while await busy() < 1:  # noqa: ASYNC110 - a gauge read over HTTP: nothing to await
                    await asyncio.sleep(0.005)
            await asyncio.sleep(0.05)
            started = time.perf_counter()
            answer = await client.delete(f"/works/{target}")
            if answer.status_code != 200:
                raise SystemExit(f"DELETE answered {answer.status_code} {answer.text}")
            async with asyncio.timeout(30):
                while await busy() > 0:  # noqa: ASYNC110
                    await asyncio.sleep(0.005)
            latencies.append(time.perf_counter() - started)
    return {"tries": tries, "p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
            "max_ms": round(max(latencies) * 1000, 1)}


INTAKE_SERVER = """
import logging, sys, uvicorn
from coordinator import CoordinatorSettings, create_app
from messaging.memory import MemoryBroker
logging.disable(logging.WARNING)
settings = CoordinatorSettings(messaging="memory", callback_allowed_networks="127.0.0.0/8")
uvicorn.run(create_app(settings, broker=MemoryBroker()), host="127.0.0.1", port=int(sys.argv[1]),
            log_config=None, access_log=False)
"""


async def intake_rate(tree: Path, store_url: str | None, seconds: float, distinct: int) -> float:
    """POST /works per second of the coordinator of ``tree`` (in-process broker; nothing consumes
    the queue), each request for a hash of its own."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(tree), "LOG_LEVEL": "WARNING"}
    if store_url:
        env["STORE_URL"] = store_url
    server = subprocess.Popen(  # noqa: ASYNC220 - started once, before the measured part
        [sys.executable, "-c", INTAKE_SERVER, str(port)], cwd=tree, env=env)
    try:
        await asyncio.to_thread(_wait_http, port)
        body = {"network": "LOCAL", "timestamp": datetime.now(UTC).isoformat(), "callback": "http://127.0.0.1:9/cb"}
        requests = [build_request("127.0.0.1", port, t.hex(), body)
                    for t in targets(distinct, int(time.time()) % 10_000)]
        rate, statuses = await hammer("127.0.0.1", port, requests, 32, seconds)
        if set(statuses) != {202}:
            raise SystemExit(f"intake answered {dict(statuses)}")
        return round(rate)
    finally:
        server.terminate()
        server.wait(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer tries, 2 s intake runs")
    parser.add_argument("--pubsub", action="store_true",
                        help="also the coalescing run over the emulator, two coordinators on one Redis")
    parser.add_argument("--baseline-tree", type=Path, help="a checkout whose intake to compare with")
    parser.add_argument("--intake-seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    if args.quick:
        args.intake_seconds = 2.0
    tries = 5 if args.quick else 20
    root = Path(__file__).resolve().parents[1]
    logs = Path(tempfile.mkdtemp(prefix="bench-lifecycle-"))
    results: dict[str, object] = {}

    up = Component("up", ["up"], free_port(), child_env({"MESSAGING": "memory", "LOG_LEVEL": "WARNING",
                                                        "CALLBACK_ALLOWED_NETWORKS": LOOPBACK}),
                   logs, probe="/adapter/ready").start()
    try:
        results["coalescing, up"] = asyncio.run(coalescing([up.url], up.url + "/solver/metrics", 10, 20))
        results["cached answer, up"] = asyncio.run(cached_latency(up.url, tries))
        results["cancel, up"] = asyncio.run(cancel_latency(up.url, tries))
    finally:
        up.terminate()

    with RedisServer() as redis:
        intake = {"in-process store": asyncio.run(intake_rate(root, None, args.intake_seconds, 50_000)),
                  "redis store": asyncio.run(intake_rate(root, redis.url, args.intake_seconds, 50_000))}
        if args.baseline_tree:
            intake["baseline tree (no store)"] = asyncio.run(
                intake_rate(args.baseline_tree.resolve(), None, args.intake_seconds, 50_000))
        results["intake POST/s"] = intake
        if args.pubsub:
            with PubSubEmulator() as emulator, Stack(emulator.host, logs, env={
                    "LOG_LEVEL": "WARNING", "STORE_URL": redis.url}) as stack:
                second = Component("coordinator-2", ["coordinator"], free_port(), stack.env, logs).start()
                try:
                    results["coalescing, emulator, 2 coordinators, Redis"] = asyncio.run(coalescing(
                        [stack.coordinator.url, second.url], stack.solver.url + "/metrics", 10, 20))
                finally:
                    second.terminate()
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
