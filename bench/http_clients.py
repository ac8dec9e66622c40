"""HTTP client CPU per POST: httpx vs aiohttp, for the two POSTs the services make.

    python -m bench.http_clients --quick      # seconds; validates the script
    python -m bench.http_clients              # the documented figures

Shapes:
- ``callback``: the coordinator's callback, a small JSON body answered by an empty 200;
- ``worker``: the adapter's call to its worker server, a JSON body answered by a JSON body that is
  parsed.
Each client POSTs N times over keep-alive connections to a loopback server running in another
process (so only the client's CPU is counted), once one request at a time (``seq``) and once with
``--concurrency`` requests in flight (``conc``). CPU per POST = ``time.process_time()`` of this
process over the run / N. The clients run in interleaved rounds (client A, client B, A, B, ...) so
that a machine whose speed drifts affects each alike; the report gives the median over rounds and
the spread (lowest-highest). ``ours`` is the coordinator's own ``CallbackSender`` (aiohttp, with the
address policy and the response bound), to show what the production path adds. Nothing leaves
127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import statistics
import time
from collections.abc import Awaitable, Callable

import aiohttp
import httpx

from coordinator.callbacks import CallbackPolicy, CallbackSender, parse_networks

HASH = "AB" * 32
CALLBACK_BODY = json.dumps({"hash": HASH, "work": "2D7E000000000000"}, separators=(",", ":")).encode()
WORKER_BODY = json.dumps({"threshold": "18446743936270598144"}).encode()
WORKER_ANSWER = json.dumps({"hash": HASH, "work": "2D7E000000000000", "difficulty": "12345678",
                            "hashes": 65536, "seconds": 0.01}).encode()
JSON = {"Content-Type": "application/json"}


# --- the server (another process) -----------------------------------------------------------------

class _Answer(asyncio.Protocol):
    """HTTP/1.1 keep-alive: reads each request (head + Content-Length body) and answers at once."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1")
            length = next((int(line.split(":", 1)[1]) for line in head.split("\r\n")
                           if line.lower().startswith("content-length:")), 0)
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length:]
            body = WORKER_ANSWER if head.startswith("POST /works/") else b""
            kind = b"application/json" if body else b"text/plain"
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s"
                                 % (kind, len(body), body))


def serve(port: int) -> None:
    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_Answer, "127.0.0.1", port, backlog=1024)
        await server.serve_forever()

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- the clients ------------------------------------------------------------------------------------

Post = Callable[[], Awaitable[None]]


class Client:
    """One client library, opened for the duration of a run; ``post(shape)`` makes one POST."""

    name = ""

    def __init__(self, base: str) -> None:
        self.base = base

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    def poster(self, shape: str) -> Post:
        raise NotImplementedError


class Httpx(Client):
    name = "httpx"

    async def __aenter__(self) -> Client:
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
        self.client = httpx.AsyncClient(base_url=self.base, trust_env=False, timeout=30, limits=limits)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()

    def poster(self, shape: str) -> Post:
        async def callback() -> None:
            answer = await self.client.post("/callback", content=CALLBACK_BODY, headers=JSON)
            assert answer.status_code == 200

        async def worker() -> None:
            answer = await self.client.post(f"/works/{HASH}", content=WORKER_BODY, headers=JSON)
            assert answer.json()["work"]

        return callback if shape == "callback" else worker


class Aiohttp(Client):
    name = "aiohttp"

    async def __aenter__(self) -> Client:
        self.session = aiohttp.ClientSession(self.base, trust_env=False, timeout=aiohttp.ClientTimeout(30),
                                             connector=aiohttp.TCPConnector(limit=256))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()

    def poster(self, shape: str) -> Post:
        async def callback() -> None:
            async with self.session.post("/callback", data=CALLBACK_BODY, headers=JSON) as answer:
                await answer.read()
                assert answer.status == 200

        async def worker() -> None:
            async with self.session.post(f"/works/{HASH}", data=WORKER_BODY, headers=JSON) as answer:
                assert (await answer.json())["work"]

        return callback if shape == "callback" else worker


class Ours(Client):
    """The coordinator's ``CallbackSender`` (callback shape only)."""

    name = "ours"

    async def __aenter__(self) -> Client:
        self.sender = CallbackSender(30, CallbackPolicy(parse_networks("127.0.0.0/8")))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.sender.close()

    def poster(self, shape: str) -> Post:
        async def callback() -> None:
            await self.sender.send(f"{self.base}/callback", HASH, "2D7E000000000000")

        return callback


async def cpu_per_post(client: Client, shape: str, count: int, concurrency: int) -> float:
    """Microseconds of this process's CPU per POST over ``count`` POSTs, ``concurrency`` at a time."""
    async with client:
        post = client.poster(shape)
        for _ in range(min(count, 2 * concurrency)):  # warm-up: connections opened, code paths hot
            await post()
        if concurrency > 1:  # open the concurrent run's connections before measuring
            await asyncio.gather(*(post() for _ in range(concurrency)))
        left = count

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await post()

        started = time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return (time.process_time() - started) / count * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=2000, help="POSTs per run")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of every client")
    parser.add_argument("--concurrency", type=int, default=16, help="POSTs in flight in the conc runs")
    parser.add_argument("--quick", action="store_true", help="small N, 2 rounds (validation)")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.rounds = 200, 2
    port = free_port()
    server = multiprocessing.get_context("spawn").Process(target=serve, args=(port,), daemon=True)
    server.start()
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(port)
        runs = [(shape, mode, kind) for shape in ("callback", "worker") for mode in ("seq", "conc")
                for kind in (Httpx, Aiohttp, Ours) if shape == "callback" or kind is not Ours]
        samples: dict[tuple[str, str, str], list[float]] = {}
        for _ in range(args.rounds):
            for shape, mode, kind in runs:
                concurrency = 1 if mode == "seq" else args.concurrency
                value = asyncio.run(cpu_per_post(kind(base), shape, args.n, concurrency))
                samples.setdefault((shape, mode, kind.name), []).append(value)
    finally:
        server.terminate()
        server.join(10)
    print("| shape | mode | client | CPU per POST, median (us) | spread (us) |")
    print("|---|---|---|---|---|")
    for (shape, mode, name), values in samples.items():
        print(f"| {shape} | {mode} | {name} | {statistics.median(values):.0f} | "
              f"{min(values):.0f}-{max(values):.0f} |")
    print(f"\n(n={args.n} per run, {args.rounds} interleaved rounds, concurrency {args.concurrency} in conc)")
    return 0


def _wait(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the loopback server did not start")


if __name__ == "__main__":
    raise SystemExit(main())
