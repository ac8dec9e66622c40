"""Soak: ``atto-work up`` under steady LOCAL load for N minutes; throughput per minute and RSS growth.

    python bench/soak.py                 # 10 minutes (docs/benchmarks.md; run it on a quiet machine)
    python bench/soak.py --minutes 1     # a quick check that the soak itself works

The load is closed-loop: ``--concurrency`` requests are always outstanding (a new one is posted as
soon as a callback arrives), so the stack runs flat out and the per-minute throughput shows whether
it stays flat. Every callback's work is checked with ``work.difficulty``. Throughput and resident
memory (VmRSS of the ``atto-work up`` process) are sampled each interval (a minute; a sixth of the
run when it is shorter than 6 minutes); RSS growth is measured from the end of the first interval
(allocator pools, compiled kernels and imports settle there) to the end of the run.
Targets: throughput flat, RSS growth < 10 %. Only loopback is used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from atto_work.receiver import CallbackReceiver  # noqa: E402
from work import Network, difficulty, parse_target, parse_work, threshold  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def start_stack(port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING", "LOG_FORMAT": "json",
           "CALLBACK_ALLOWED_NETWORKS": "127.0.0.0/8"}
    return subprocess.Popen([sys.executable, "-m", "atto_work", "up", "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=ROOT)


async def wait_ready(client: httpx.AsyncClient, process: subprocess.Popen[bytes], within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"atto-work up exited with {process.returncode}")
        try:
            if (await client.get("/ready")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit("atto-work up did not become ready")


async def soak(minutes: float, concurrency: int) -> dict[str, object]:
    port = free_port()
    process = start_stack(port)
    receiver = CallbackReceiver().start()
    limit = threshold(Network.LOCAL, datetime.now(UTC))
    posted: set[str] = set()
    seen: set[str] = set()
    invalid = duplicates = 0
    samples: list[dict[str, float]] = []
    interval = 60.0 if minutes >= 6 else minutes * 10
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            await wait_ready(client, process, within=120)
            started = time.monotonic()
            interval_end, interval_done, read = started + interval, 0, 0
            end = started + minutes * 60
            while time.monotonic() < end:
                # account for the callbacks that arrived since the last pass
                callbacks = receiver.callbacks
                for callback in callbacks[read:]:
                    target = str(callback.body.get("hash"))
                    if target in seen:
                        duplicates += 1
                        continue
                    seen.add(target)
                    interval_done += 1
                    if difficulty(parse_work(str(callback.body.get("work"))), parse_target(target)) > limit:
                        invalid += 1
                read = len(callbacks)
                outstanding = len(posted) - len(seen)
                for _ in range(concurrency - outstanding):
                    target = secrets.token_hex(32).upper()
                    body = {"network": "LOCAL", "timestamp": datetime.now(UTC).isoformat(),
                            "callback": receiver.url}
                    response = await client.post(f"/works/{target}", json=body)
                    if response.status_code != 202:
                        raise SystemExit(f"intake answered {response.status_code}: {response.text}")
                    posted.add(target)
                if time.monotonic() >= interval_end:
                    samples.append({"end_s": round(interval_end - started), "works": interval_done,
                                    "works_per_s": round(interval_done / interval, 1),
                                    "rss_mib": round(rss_bytes(process.pid) / 2**20, 1)})
                    print(json.dumps(samples[-1]), flush=True)
                    interval_end += interval
                    interval_done = 0
                await asyncio.sleep(0.01)
            # drain: every accepted request must come back
            arrived = await asyncio.to_thread(receiver.wait_for_hashes, posted, 60)
            lost = len(posted - set(arrived))
    finally:
        receiver.stop()
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    rss = [m["rss_mib"] for m in samples]
    growth = (rss[-1] - rss[0]) / rss[0] * 100 if len(rss) >= 2 else 0.0
    rates = [m["works_per_s"] for m in samples]
    return {"minutes": minutes, "concurrency": concurrency, "requests": len(posted), "lost": lost,
            "invalid": invalid, "duplicates": duplicates, "interval_s": interval, "samples": samples,
            "works_per_s_min": min(rates, default=0), "works_per_s_max": max(rates, default=0),
            "rss_growth_percent": round(growth, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="duration (default 10)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests kept outstanding (default 16)")
    parser.add_argument("--json", type=Path, help="also write the summary to this file")
    args = parser.parse_args()
    summary = asyncio.run(soak(args.minutes, args.concurrency))
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    ok = summary["lost"] == 0 and summary["invalid"] == 0 and summary["rss_growth_percent"] < 10
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
