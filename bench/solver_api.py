"""Does the worker server's HTTP API keep the device busy? Figures beside the raw device rate.

    python bench/solver_api.py [--quick] [--backend auto|opencl|numpy] [--json]

In one run, on the best device the backend finds:
1. the raw rate: ``device.search`` called back to back in this process (no server, no HTTP);
2. (a) the API hash rate: jobs of ~2^22 expected hashes (threshold 2^64/2^22 - 1) sent by two
   concurrent clients (so the next job already waits when one ends) to a worker server started as
   ``atto-work solver`` in its own process; the nonces tried (up to each hit) are read from the
   server's /metrics. Ratio = API rate / raw rate (target >= 0.85): what reaches the jobs of the
   device's time; the tail of each job's last launch past its hit, and the gaps between jobs,
   are the loss. Beside it, works x 2^22 / time (noisy: the hashes a work needs are geometric);
3. (b) LOCAL-network works (this year's threshold) from several concurrent clients: works/s, and
   efficiency = works/s / (raw rate / expected hashes per LOCAL work) (target >= 0.5), and the CPU
   per work (server, a CPU device included, plus this client: steadier than works/s on a loaded
   machine); then the median latency of one LOCAL work sent alone.
The raw rate is measured before and after the server runs and averaged (the machine may be shared).
Every work returned is checked with ``work.difficulty``. No packet leaves 127.0.0.1.

Two focused cases replace the default run:

- ``--numpy-small``: the NumPy backend on small jobs (2^16 expected hashes, fresh targets sent one
  after another by one client): rounds that alternate the raw rate (a child process, the server
  idle) and the API rate (nonces tried, from /metrics, over the wall time), each round's ratio
  against the mean of the raw rates beside it; the median ratio and its spread (target >= 0.8,
  and >= 2.5 MH/s on 2 cores).
- ``--cancel``: a BETA-difficulty search runs, ``DELETE /works/{hash}`` arrives; the time from the
  DELETE until the device's busy gauge reads 0 (polled every 5 ms: each poll costs the server
  CPU its device may share), p50 over 20 tries
  (target <= 100 ms); the waiting request must answer 409.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from solver.backends import discover  # noqa: E402
from solver.backends.base import SearchDevice  # noqa: E402
from work import Network, difficulty, expected_hashes, parse_work, threshold  # noqa: E402

JOB_2_22 = 2**64 // 2**22 - 1
JOB_2_16 = 2**64 // 2**16 - 1


def measure_raw(backend: str, seconds: float) -> tuple[str, float]:
    """The best device's raw rate, measured in a child process that exits afterwards: an OpenCL
    CPU runtime kept alive in this process would compete with the server's for the same cores."""
    out = subprocess.run([sys.executable, __file__, "--raw-seconds", str(seconds), "--backend", backend],
                         capture_output=True, text=True, check=True, timeout=300).stdout
    name, rate = out.strip().rsplit("\t", 1)
    return name, float(rate)


def raw_rate(device: SearchDevice, seconds: float) -> float:
    """The device's rate on back-to-back launches of its own batch size (no hit possible)."""
    count = device.batch_size(1)
    warm_until = time.perf_counter() + min(0.5, seconds)  # let the launch size settle
    while time.perf_counter() < warm_until:
        device.search(bytes(32), 0, 0, count)
        count = device.batch_size(1)
    hashes, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        device.search(secrets.token_bytes(32), 0, secrets.randbits(64), count)
        hashes += count
        count = device.batch_size(1)
    return hashes / (time.perf_counter() - started)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(backend: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING",
           "SOLVER_TIMEOUT_SECONDS": "600"}
    server = subprocess.Popen(
        [sys.executable, "-m", "atto_work", "solver", "--port", str(port), "--backend", backend],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the worker server exited at start-up")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.kill()
    raise SystemExit("the worker server did not become ready")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process, every thread, and of this one's own, summed."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = os.times()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") + own.user + own.system


def hashes_tried(client: httpx.Client) -> float:
    text = client.get("/metrics").text
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples if sample.name == "solver_hashes_total")


class LeanClient:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams.

    The load generator shares this machine's cores with the server and the device; httpx costs
    several times more CPU per request than this, CPU the figures would wrongly charge to the API.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n%s" % (path.encode(), len(body), body))
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


async def load(port: int, limit: int, clients: int, seconds: float,
               count: int | None = None) -> tuple[int, float, list[float]]:
    """``clients`` loops posting random targets for ``seconds`` (or ``count`` requests each):
    (works, wall seconds, latencies). Every work is checked with ``work.difficulty``."""
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    body = json.dumps({"threshold": str(limit)}).encode()

    async def one_client() -> None:
        client, sent_here = LeanClient(port), 0
        try:
            while (time.perf_counter() < stop) if count is None else (sent_here < count):
                sent_here += 1
                target = secrets.token_bytes(32)
                sent = time.perf_counter()
                status, answer = await client.post(f"/works/{target.hex()}", body)
                latencies.append(time.perf_counter() - sent)
                if status != 200:
                    raise SystemExit(f"the server answered {status}: {answer!r}")
                work = parse_work(json.loads(answer)["work"])
                if difficulty(work, target) > limit:
                    raise SystemExit(f"INVALID work from the server: {answer!r}")
        finally:
            await client.close()

    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    return len(latencies), time.perf_counter() - started, latencies


def api_rate(port: int, limit: int, jobs: int) -> float:
    """Nonces tried per second by ``jobs`` requests sent one after another (from /metrics)."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as metrics:
        before = hashes_tried(metrics)
        _, wall, _ = asyncio.run(load(port, limit, 1, 0, count=jobs))
        return (hashes_tried(metrics) - before) / wall


def numpy_small(rounds: int, jobs: int, raw_s: float) -> dict[str, object]:
    """Rounds of raw rate, then API rate on 2^16 jobs, then raw again (shared with the next round)."""
    port = free_port()
    server = start_server("numpy", port)
    try:
        name, first = measure_raw("numpy", raw_s)
        raw, api = [first], []
        for _ in range(rounds):
            api.append(api_rate(port, JOB_2_16, jobs))
            raw.append(measure_raw("numpy", raw_s)[1])
    finally:
        server.terminate()
        server.wait(30)
    ratios = [rate / ((raw[i] + raw[i + 1]) / 2) for i, rate in enumerate(api)]
    return {"device": name, "jobs_per_round": jobs, "raw_rates_hs": raw, "api_rates_hs": api,
            "ratios": ratios, "median_ratio": statistics.median(ratios),
            "median_api_rate_hs": statistics.median(api)}


def cancel_latency(backend: str, tries: int) -> dict[str, object]:
    """Seconds from ``DELETE /works/{hash}`` to the busy gauge's 0, while a BETA search runs."""
    beta = threshold(Network.BETA, datetime.now(UTC))
    port = free_port()
    server = start_server(backend, port)
    seconds = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:

            def busy() -> float:
                text = client.get("/metrics").text
                return sum(s.value for family in text_string_to_metric_families(text)
                           for s in family.samples if s.name == "solver_device_busy")

            for _ in range(tries):
                target = secrets.token_bytes(32).hex().upper()
                waiting = LeanClientThread(port, f"/works/{target}", {"threshold": str(beta)})
                while busy() < 1:
                    time.sleep(0.005)
                time.sleep(0.05)  # into the search, past its first launch
                sent = time.perf_counter()
                answer = client.delete(f"/works/{target}")
                if answer.status_code != 200:
                    raise SystemExit(f"DELETE answered {answer.status_code}: {answer.text}")
                while busy() > 0:
                    time.sleep(0.005)
                seconds.append(time.perf_counter() - sent)
                if waiting.status() != 409:
                    raise SystemExit(f"the cancelled request answered {waiting.status()}")
    finally:
        server.terminate()
        server.wait(30)
    return {"tries": tries, "p50_ms": statistics.median(seconds) * 1000,
            "max_ms": max(seconds) * 1000}


class LeanClientThread:
    """One POST in a thread of its own, so the caller can act while it waits."""

    def __init__(self, port: int, path: str, body: dict[str, str]) -> None:
        import threading

        self._answer: list[int] = []

        def post() -> None:
            async def one() -> None:
                client = LeanClient(port)
                try:
                    self._answer.append((await client.post(path, json.dumps(body).encode()))[0])
                finally:
                    await client.close()
            asyncio.run(one())

        self._thread = threading.Thread(target=post, daemon=True)
        self._thread.start()

    def status(self) -> int:
        self._thread.join(30)
        return self._answer[0] if self._answer else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run, to check the bench works")
    parser.add_argument("--backend", default="auto", choices=("auto", "opencl", "numpy"))
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients for LOCAL works")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--numpy-small", action="store_true",
                        help="only the NumPy backend on 2^16-hash jobs, API rate against raw rate")
    parser.add_argument("--cancel", action="store_true",
                        help="only the time from DELETE /works/{hash} to a free device")
    parser.add_argument("--raw-seconds", type=float, help=argparse.SUPPRESS)  # the child's mode
    args = parser.parse_args()
    if args.numpy_small or args.cancel:
        figures = (numpy_small(*((3, 20, 1.0) if args.quick else (7, 200, 3.0)))
                   if args.numpy_small else cancel_latency(args.backend, 5 if args.quick else 20))
        print(json.dumps(figures, indent=2) if args.json else
              "\n".join(f"{k:22} {v}" for k, v in figures.items()))
        return 0
    if args.raw_seconds:
        devices = discover(args.backend)
        try:
            print(f"{devices[0].name}\t{raw_rate(devices[0], args.raw_seconds)}")
        finally:
            for d in devices:
                d.close()
        return 0
    raw_s, run_s, alone_n = (1.0, 3.0, 20) if args.quick else (5.0, 20.0, 200)
    local = threshold(Network.LOCAL, datetime.now(UTC))

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(args.backend, port)
    try:
        # Raw rates are taken while the server idles, right before and after each phase, and each
        # ratio uses the mean of the two beside it: on a shared machine the rate drifts.
        name, first = measure_raw(args.backend, raw_s)
        raw = [first]
        with httpx.Client(base_url=url, timeout=30) as metrics:
            before = hashes_tried(metrics)
            jobs, wall, _ = asyncio.run(load(port, JOB_2_22, 2, run_s))
            api_rate = (hashes_tried(metrics) - before) / wall
            useful_rate = jobs * expected_hashes(JOB_2_22) / wall
        raw.append(measure_raw(args.backend, raw_s)[1])
        cpu_before = cpu_seconds(server.pid)
        local_works, local_wall, _ = asyncio.run(load(port, local, args.clients, run_s))
        local_cpu = cpu_seconds(server.pid) - cpu_before
        raw.append(measure_raw(args.backend, raw_s)[1])
        # One client, one request at a time, on a kept-alive connection.
        _, _, alone = asyncio.run(load(port, local, 1, 0, count=alone_n))
    finally:
        server.terminate()
        server.wait(30)

    raw_a, raw_b = (raw[0] + raw[1]) / 2, (raw[1] + raw[2]) / 2
    works_per_s = local_works / local_wall
    allowed = raw_b / expected_hashes(local)
    figures = {
        "device": name, "raw_rates_hs": raw,
        "api_rate_hs": api_rate, "api_raw_rate_hs": raw_a, "api_ratio": api_rate / raw_a,
        "api_jobs": jobs, "api_useful_rate_hs": useful_rate,
        "local_threshold": local, "local_clients": args.clients,
        "local_works_per_s": works_per_s, "local_raw_rate_hs": raw_b,
        "local_works_allowed_per_s": allowed, "local_efficiency": works_per_s / allowed,
        "local_median_latency_ms": statistics.median(alone) * 1000,
        # Server (a CPU device included) and bench client CPU per LOCAL work: steadier than works/s
        # on a loaded machine, so the figure to compare two versions by.
        "local_cpu_ms_per_work": local_cpu / local_works * 1000,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"device                  {name}")
    print("raw device rate         " + ", ".join(f"{r / 1e6:.2f}" for r in raw) + " MH/s (phases' edges)")
    print(f"(a) API rate, 2^22 jobs {api_rate / 1e6:7.2f} MH/s  raw {raw_a / 1e6:.2f}  "
          f"ratio {api_rate / raw_a:.2f} (target >= 0.85; {jobs} jobs, 2 clients)")
    print(f"    works x 2^22 / time {useful_rate / 1e6:7.2f} MH/s  ratio {useful_rate / raw_a:.2f} "
          "(noisy: the hashes a work needs are geometric)")
    print(f"(b) LOCAL works         {works_per_s:8.1f} /s   allowed {allowed:.1f} /s  "
          f"efficiency {works_per_s / allowed:.2f} (target >= 0.50; {args.clients} clients)")
    print(f"    LOCAL CPU per work  {figures['local_cpu_ms_per_work']:8.2f} core-ms (server + client)")
    print(f"    LOCAL latency       {figures['local_median_latency_ms']:8.2f} ms median of {len(alone)} "
          "works sent alone")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
