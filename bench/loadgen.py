"""A lean HTTP/1.1 load generator for ``POST /works/{hash}``: keep-alive connections on raw asyncio
streams, requests prebuilt as bytes, so the client spends little of the CPU it shares with the server
(an httpx client would saturate a core well below the coordinator's rate)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter


def build_request(host: str, port: int, hash_hex: str, body: dict[str, object]) -> bytes:
    payload = json.dumps(body).encode()
    head = (f"POST /works/{hash_hex} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n")
    return head.encode() + payload


async def _read_response(reader: asyncio.StreamReader) -> int:
    return (await _read_answer(reader))[0]


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("server closed the connection")
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length) if length else b""


async def hammer(host: str, port: int, requests: list[bytes], connections: int,
                 duration: float) -> tuple[float, Counter[int]]:
    """Send ``requests`` round-robin on ``connections`` keep-alive connections for ``duration``
    seconds; the answers per second and the count of each status."""
    statuses: Counter[int] = Counter()
    stop_at = time.perf_counter() + duration

    async def one(offset: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        i = offset
        try:
            while time.perf_counter() < stop_at:
                writer.write(requests[i % len(requests)])
                statuses[await _read_response(reader)] += 1
                i += connections
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(one(k) for k in range(connections)))
    return sum(statuses.values()) / (time.perf_counter() - started), statuses


async def exchange(host: str, port: int, requests: list[bytes],
                   connections: int) -> list[tuple[int, bytes]]:
    """Send every request once over ``connections`` keep-alive connections, each request waiting
    for its answer; the status and body of each, in the order of ``requests``."""
    answers: list[tuple[int, bytes]] = [(0, b"")] * len(requests)

    async def one(offset: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for i in range(offset, len(requests), connections):
                writer.write(requests[i])
                answers[i] = await _read_answer(reader)
        finally:
            writer.close()

    await asyncio.gather(*(one(k) for k in range(min(connections, len(requests)))))
    return answers
