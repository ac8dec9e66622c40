"""Pipeline benchmark: N LOCAL works through ``atto-work up`` and through the multi-process Pub/Sub
stack (emulator, coordinator, adapter, worker server as processes), beside the worker server alone,
plus the coordinator's intake rate.

    python -m bench.pipeline --quick          # a minute on a small machine; validates the script
    python -m bench.pipeline -n 500           # the figures in docs/benchmarks.md
    python -m bench.pipeline --read-ahead-rounds 5 -n 300   # the adapter's read-ahead on and off

For each setup:
- throughput: N requests sent at once; works/s = N / (last answer - first send);
- latency: requests one at a time, send -> answer (callback for the pipelines), p50 and p99; each
  sent after a random pause of 0 to ``--gap-ms`` (default 50 ms), as independent clients arrive: sent
  back to back, requests fall in step with the emulator's 50 ms delivery loop (see
  ``bench.pubsub_floor``) and every one waits the longest;
- efficiency = pipeline works/s / worker-server works/s; added p50 = pipeline p50 - worker p50;
- CPU per work: CPU seconds each process (the bench itself included) used during the throughput run,
  divided by N (``bench.cpu``): on a small machine the sum bounds the throughput;
- intake: ``POST /works`` answered per second by a coordinator (in-process broker, and Pub/Sub),
  from a lean keep-alive client (``bench.loadgen``) on the same machine; with the in-process broker
  once with an IP-literal callback and once with a host-name callback (``localhost``, from
  /etc/hosts: the intake's address check then resolves a name, from its short DNS cache).
With ``--read-ahead-rounds R`` it runs only the throughput part over the emulator, on two stacks
side by side (``ADAPTER_READ_AHEAD=2``, i.e. no read-ahead, and the default), R interleaved rounds
(``bench.rounds``): works/s and each process's CPU per work on each side.
Every callback's work is checked with ``work.difficulty``. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from atto_work.receiver import CallbackReceiver
from bench.cpu import cpu_seconds, cpu_used, descendants, thread_seconds
from bench.loadgen import build_request, exchange, hammer
from bench.rounds import describe, interleave
from harness.emulator import PubSubEmulator, free_port
from harness.stack import Component, Stack, child_env
from work import Network, difficulty, parse_target, parse_work, threshold


@dataclass
class Result:
    name: str
    works_per_second: float = 0.0
    latencies: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per process, throughput run
    count: int = 0
    connections: int = 0  # TCP connections the callback receiver accepted (keep-alive reuse)
    loop_cpu: float | None = None  # CPU seconds of the event-loop thread of ``up``, throughput run

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def targets(count: int, salt: int) -> list[bytes]:
    return [(salt * 1_000_003 + i).to_bytes(32, "big") for i in range(count)]


def check(target: bytes, work_hex: object, limit: int) -> None:
    if difficulty(parse_work(work_hex), target) > limit:
        raise SystemExit(f"invalid work {work_hex} for {target.hex()}")


# --- the worker server alone ----------------------------------------------------------------------

#: Concurrent clients of the worker server alone (bench/solver_api.py uses 4 too). Throughput runs
#: use the lean keep-alive client of ``bench.loadgen`` for both the peer and the pipelines: an httpx
#: client costs more CPU per request than the services it measures on this 2-core machine.
WORKER_CLIENTS = 4
#: Keep-alive connections posting a pipeline's batch (the coordinator answers 202 at once).
PIPELINE_CLIENTS = 8


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80

async def pause(gap: float) -> None:
    await asyncio.sleep(random.uniform(0, gap))


async def worker_alone(url: str, count: int, sequential: int, limit: int, gap: float,
                       processes: dict[str, list[int]]) -> Result:
    """The peer, at its best: a few keep-alive clients keep the device busy (as the adapter does,
    which holds two requests per device), rather than one connection per request."""
    result = Result("worker server alone", count=count)
    async with httpx.AsyncClient(base_url=url, timeout=300, trust_env=False,
                                 limits=httpx.Limits(max_connections=WORKER_CLIENTS)) as client:
        async def one(target: bytes) -> float:
            started = time.perf_counter()
            answer = await client.post(f"/works/{target.hex()}", json={"threshold": str(limit)})
            answer.raise_for_status()
            check(target, answer.json()["work"], limit)
            return time.perf_counter() - started

        await one(targets(1, 99)[0])  # warm-up
        batch = targets(count, 1)
        host, port = _host_port(url)
        requests = [build_request(host, port, t.hex(), {"threshold": str(limit)}) for t in batch]
        before = cpu_seconds(processes)
        started = time.perf_counter()
        answers = await exchange(host, port, requests, WORKER_CLIENTS)
        result.works_per_second = count / (time.perf_counter() - started)
        result.cpu = cpu_used(before, cpu_seconds(processes))
        for target, (status, body) in zip(batch, answers, strict=True):
            if status != 200:
                raise SystemExit(f"worker server answered {status} {body[:200]!r}")
            check(target, json.loads(body)["work"], limit)
        for target in targets(sequential, 2):
            await pause(gap)
            result.latencies.append(await one(target))
    return result


# --- a pipeline (coordinator URL + callbacks) -----------------------------------------------------

async def pipeline(name: str, url: str, count: int, sequential: int, salt: int, gap: float,
                   processes: dict[str, list[int]], network: Network = Network.LOCAL,
                   loop_of: int | None = None) -> Result:
    """``loop_of``: a process whose main thread's CPU to measure too (``up``'s event loop)."""
    result = Result(name, count=count)
    now = datetime.now(UTC)
    limit = threshold(network, now)
    with CallbackReceiver() as receiver:
        body = {"network": network.name, "timestamp": now.isoformat(), "callback": receiver.url}
        async with httpx.AsyncClient(base_url=url, timeout=30, trust_env=False,
                                     limits=httpx.Limits(max_connections=64)) as client:
            async def send(target: bytes) -> float:
                started = time.perf_counter()
                answer = await client.post(f"/works/{target.hex()}", json=body)
                if answer.status_code != 202:
                    raise SystemExit(f"{name}: {answer.status_code} {answer.text}")
                return started

            async def collect(batch: list[bytes]) -> dict:
                wanted = [t.hex().upper() for t in batch]
                got = await asyncio.to_thread(receiver.wait_for_hashes, wanted, 300)
                if len(got) < len(wanted):
                    raise SystemExit(f"{name}: only {len(got)} of {len(wanted)} callbacks")
                return got

            warm = targets(1, salt + 99)
            await send(warm[0])
            await collect(warm)
            batch = targets(count, salt + 1)
            host, port = _host_port(url)
            requests = [build_request(host, port, t.hex(), body) for t in batch]
            before = cpu_seconds(processes)
            loop_before = thread_seconds({"loop": loop_of}) if loop_of else None
            first_sent = time.perf_counter()
            answers = await exchange(host, port, requests, PIPELINE_CLIENTS)
            if {status for status, _ in answers} != {202}:
                raise SystemExit(f"{name}: intake answered {sorted({s for s, _ in answers})}")
            callbacks = (await collect(batch)).values()
            result.cpu = cpu_used(before, cpu_seconds(processes))
            if loop_before is not None:
                result.loop_cpu = cpu_used(loop_before, thread_seconds({"loop": loop_of}))["loop"]
            result.works_per_second = count / (max(c.received_at for c in callbacks) - first_sent)
            for target in targets(sequential, salt + 2):
                await pause(gap)
                started = await send(target)
                [callback] = (await collect([target])).values()
                result.latencies.append(callback.received_at - started)
            for callback in receiver.callbacks:
                check(parse_target(callback.body["hash"]), callback.body["work"], limit)
            result.connections = receiver.connections_accepted
    return result


# --- intake --------------------------------------------------------------------------------------

def intake_server(port: int) -> None:
    """A coordinator on the in-process broker whose WorkRequested are consumed and dropped."""
    import logging

    import uvicorn

    from coordinator import CoordinatorSettings, create_app
    from messaging.memory import MemoryBroker

    logging.disable(logging.WARNING)
    broker = MemoryBroker()
    # The bench's callback URL is on loopback, which the callback policy refuses unless opened.
    settings = CoordinatorSettings(messaging="memory", callback_allowed_networks="127.0.0.0/8, ::1/128")
    app = create_app(settings, broker=broker)
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)


async def intake(url_port: int, seconds: float, connections: int = 32,
                 callback: str = "http://127.0.0.1:9/cb") -> tuple[float, dict[int, int]]:
    now = datetime.now(UTC).isoformat()
    body = {"network": "LOCAL", "timestamp": now, "callback": callback}
    requests = [build_request("127.0.0.1", url_port, t.hex(), body) for t in targets(512, 7)]
    rate, statuses = await hammer("127.0.0.1", url_port, requests, connections, seconds)
    if set(statuses) != {202}:
        raise SystemExit(f"intake answered {dict(statuses)}: only 202s count")
    return rate, dict(statuses)


# --- the adapter's read-ahead, on and off, interleaved ----------------------------------------------

def read_ahead_rounds(rounds: int, count: int, network: Network) -> str:
    logs = Path(tempfile.mkdtemp(prefix="bench-read-ahead-"))
    me = [os.getpid()]
    sides = {"read-ahead (default)": {}, "no read-ahead (ADAPTER_READ_AHEAD=2)": {"ADAPTER_READ_AHEAD": "2"}}
    cpu: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
    salts = iter(range(100, 100 + 10 * (2 * rounds + 2), 10))
    with PubSubEmulator() as emulator, Stack(emulator.host, logs, {"LOG_LEVEL": "WARNING"}) as on, \
            Stack(emulator.host, logs, {"LOG_LEVEL": "WARNING", **sides[list(sides)[1]]}) as off:
        stacks = dict(zip(sides, (on, off), strict=True))

        def run(name: str) -> float:
            stack = stacks[name]
            result = asyncio.run(pipeline(name, stack.coordinator.url, count, 0, next(salts), 0.0,
                                          stack_processes(emulator, stack, me), network))
            cpu[name].append({k: v * 1000 / count for k, v in result.cpu.items()})
            print(f"{name}: {result.works_per_second:.1f} works/s", file=sys.stderr)
            return result.works_per_second

        ours, peer = list(sides)
        summary = interleave(lambda: run(ours), lambda: run(peer), rounds).summary()
    lines = [f"works/s, read-ahead / none: {describe(summary)}; medians {summary['ours_median']:.1f} "
             f"vs {summary['peer_median']:.1f}", "", "median CPU ms per work:"]
    for name, samples in cpu.items():
        medians = {k: sorted(s[k] for s in samples)[len(samples) // 2] for k in samples[0]}
        lines.append(f"- {name}: " + ", ".join(f"{k} {v:.2f}" for k, v in medians.items()))
    return "\n".join(lines)


# --- the run -------------------------------------------------------------------------------------

def report(worker: Result, pipelines: list[Result], intakes: dict[str, tuple[float, dict]]) -> str:
    lines = ["| setup | works/s | efficiency | p50 latency (ms) | p99 latency (ms) | added p50 (ms) |",
             "|---|---|---|---|---|---|"]
    base50 = worker.percentile(0.5)
    for r in [worker, *pipelines]:
        eff = r.works_per_second / worker.works_per_second
        added = "-" if r is worker else f"{(r.percentile(0.5) - base50) * 1000:.1f}"
        lines.append(f"| {r.name} | {r.works_per_second:.1f} | {eff:.2f} | "
                     f"{r.percentile(0.5) * 1000:.1f} | {r.percentile(0.99) * 1000:.1f} | {added} |")
    lines += ["", "CPU per work during the throughput run (ms; the bench's own client and callback receiver "
              "count as bench):", ""]
    for r in [worker, *pipelines]:
        parts = ", ".join(f"{name} {seconds * 1000 / r.count:.1f}" for name, seconds in r.cpu.items())
        total = sum(r.cpu.values()) * 1000 / r.count
        lines.append(f"- {r.name}: {total:.1f} in all ({parts})")
    solver = worker.cpu.get("solver", float("nan")) * 1000 / worker.count
    for r in pipelines:  # issue 13's figure: what the pipeline costs beyond the worker server's own work
        services = {k: v * 1000 / r.count for k, v in r.cpu.items() if k not in ("bench", "emulator")}
        own = services.pop("solver", None)
        outside = sum(services.values()) - (solver if own is None else 0.0)
        lines.append(f"- {r.name}, outside the worker server: {outside:.2f} ms per work"
                     + (" (the process's CPU less the worker server alone's)" if own is None else ""))
        if r.loop_cpu is not None:
            lines.append(f"- {r.name}, its event-loop thread (all but the device searches): "
                         f"{r.loop_cpu * 1000 / r.count:.2f} ms per work")
    lines.append("")
    for r in pipelines:
        callbacks = r.count + len(r.latencies) + 1  # throughput run, latency run, warm-up
        lines.append(f"callback connections ({r.name}): {r.connections} for {callbacks} callbacks")
    lines.append("")
    for name, (rate, statuses) in intakes.items():
        lines.append(f"intake ({name}): {rate:,.0f} POST /works per second, statuses {statuses}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small N, short intake (validation)")
    parser.add_argument("-n", type=int, default=500, help="requests per throughput run")
    parser.add_argument("--sequential", type=int, default=100, help="requests per latency run")
    parser.add_argument("--intake-seconds", type=float, default=10.0)
    parser.add_argument("--gap-ms", type=float, default=50.0,
                        help="latency runs: random pause of 0 to this before each request")
    parser.add_argument("--no-pubsub", action="store_true", help="skip the emulator stack")
    parser.add_argument("--network", choices=["LOCAL", "DEV"], default="LOCAL",
                        help="works of this network (DEV: 1,000x harder, the device dominates)")
    parser.add_argument("--outstanding", type=int, action="append", default=[],
                        help="also run the Pub/Sub stack with this "
                        "PUBSUB_SUBSCRIBER_MAX_OUTSTANDING_ELEMENT_COUNT (repeatable)")
    parser.add_argument("--read-ahead-rounds", type=int, default=0,
                        help="only compare the adapter's read-ahead on and off over the emulator")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.sequential, args.intake_seconds = 50, 20, 2.0
    network = Network[args.network]
    if args.read_ahead_rounds:
        print(read_ahead_rounds(args.read_ahead_rounds, args.n, network))
        print(f"\n({args.network} works, n={args.n}, {args.read_ahead_rounds} rounds; logs in /tmp)")
        return 0
    limit = threshold(network, datetime.now(UTC))
    gap = args.gap_ms / 1000
    me = [os.getpid()]
    logs = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    env = child_env({"LOG_LEVEL": "WARNING"})
    pipelines: list[Result] = []
    intakes: dict[str, tuple[float, dict]] = {}

    solver = Component("solver", ["solver"], free_port(), env, logs).start()
    try:
        worker = asyncio.run(worker_alone(solver.url, args.n, args.sequential, limit, gap,
                                          {"solver": [solver.process.pid], "bench": me}))
    finally:
        solver.terminate()
    print(f"worker server alone: {worker.works_per_second:.1f} works/s", file=sys.stderr)

    up = Component("up", ["up"], free_port(), child_env({"MESSAGING": "memory", "LOG_LEVEL": "WARNING"}),
                   logs, probe="/adapter/ready").start()
    try:
        pipelines.append(asyncio.run(pipeline("atto-work up (in-process)", up.url, args.n, args.sequential,
                                              10, gap, {"up": [up.process.pid], "bench": me}, network,
                                              loop_of=up.process.pid)))
    finally:
        up.terminate()
    print(f"up: {pipelines[-1].works_per_second:.1f} works/s", file=sys.stderr)

    port = free_port()
    server = multiprocessing.get_context("spawn").Process(target=intake_server, args=(port,))
    server.start()
    try:
        _wait_http(port)
        intakes["coordinator, in-process broker"] = asyncio.run(intake(port, args.intake_seconds))
        intakes["coordinator, in-process broker, host-name callback"] = asyncio.run(
            intake(port, args.intake_seconds, callback="http://localhost:9/cb"))
    finally:
        server.terminate()
        server.join(10)

    if not args.no_pubsub:
        with PubSubEmulator() as emulator:
            with Stack(emulator.host, logs, env={"LOG_LEVEL": "WARNING"}) as stack:
                pipelines.append(asyncio.run(pipeline("multi-process, Pub/Sub emulator",
                                                      stack.coordinator.url, args.n, args.sequential, 20,
                                                      gap, stack_processes(emulator, stack, me), network)))
                print(f"pubsub: {pipelines[-1].works_per_second:.1f} works/s", file=sys.stderr)
                stack.adapter.terminate()  # intake only: the requests are not solved
                intakes["coordinator, Pub/Sub emulator"] = asyncio.run(
                    intake(stack.coordinator.port, args.intake_seconds))
            for held in args.outstanding:
                env = {"LOG_LEVEL": "WARNING", "PUBSUB_SUBSCRIBER_MAX_OUTSTANDING_ELEMENT_COUNT": str(held)}
                with Stack(emulator.host, logs, env=env) as stack:
                    pipelines.append(asyncio.run(pipeline(
                        f"multi-process, Pub/Sub emulator, {held} outstanding",
                        stack.coordinator.url, args.n, args.sequential, 30 + held, gap,
                        stack_processes(emulator, stack, me), network)))

    print(report(worker, pipelines, intakes))
    print(f"\n({args.network} works, n={args.n}, sequential={args.sequential}, "
          f"intake {args.intake_seconds:g} s; logs in {logs})")
    return 0


def stack_processes(emulator: PubSubEmulator, stack: Stack, me: list[int]) -> dict[str, list[int]]:
    components = {c.name: [c.process.pid] for c in stack.components}
    return {"emulator": descendants(emulator.pid), **components, "bench": me}


def _wait_http(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("intake coordinator did not start")


if __name__ == "__main__":
    raise SystemExit(main())
