"""Bounds every service's HTTP server puts on one client (``common.connections``), over real sockets.

A small app is served by uvicorn on loopback with the options every service runs with
(``ConnectionSettings.uvicorn_options``); the clients are raw sockets, since the point is what a
client that does not follow HTTP can hold: an endless header, a request never finished, idle
connections by the hundred.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import atto_work.serving
from common.connections import ConnectionSettings
from tests.pipeline.fakes import serve

REQUEST = b"GET /ping HTTP/1.1\r\nHost: test\r\n\r\n"


async def ping(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse({"pong": True})


APP = Starlette(routes=[Route("/ping", ping, methods=["GET", "POST"])])


@asynccontextmanager
async def server(**settings: Any) -> AsyncIterator[int]:
    """``APP`` served with the bounds ``settings`` give; yields its port."""
    async with serve(APP, **ConnectionSettings(**settings).uvicorn_options()) as url:
        yield int(url.rsplit(":", 1)[1])


async def exchange(port: int, data: bytes = REQUEST) -> bytes:
    """Send ``data`` on a new connection and read the status line of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), 30)
    finally:
        writer.close()


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> tuple[float, bytes]:
    """Read until the server closes the connection; the time it took and what it sent."""
    started = time.monotonic()
    try:
        answer = await asyncio.wait_for(reader.read(), seconds)
    except ConnectionError:  # reset, or a write of ours failed on the closed connection
        answer = b""
    return time.monotonic() - started, answer


async def test_normal_requests_are_served_also_pipelined() -> None:
    async with server(http_max_header_bytes=1024) as port:
        assert (await exchange(port)).startswith(b"HTTP/1.1 200")
        # Several requests in one write, each head under the cap, all of them over it together.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = b"GET /ping HTTP/1.1\r\nHost: test\r\nX-Pad: " + b"p" * 600 + b"\r\n\r\n"
        writer.write(head * 3)
        await writer.drain()
        answers = await asyncio.wait_for(reader.readuntil(b"pong"), 30)
        for _ in range(2):
            answers += await asyncio.wait_for(reader.readuntil(b"pong"), 30)
        assert answers.count(b"HTTP/1.1 200") == 3
        writer.close()


async def test_an_endless_header_is_refused_after_the_cap_not_buffered() -> None:
    # Before the bound, the server read (and kept) all 100 MB of a header that never ends.
    async with server(http_max_header_bytes=16384) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /ping HTTP/1.1\r\nHost: test\r\nX-Big: ")
        chunk, sent = b"a" * 65536, 0
        try:
            while sent < 100 * 2**20:
                writer.write(chunk)
                await asyncio.wait_for(writer.drain(), 30)
                sent += len(chunk)
        except (ConnectionError, TimeoutError):
            pass  # the server closed the connection: what we expect
        # Whatever the kernel's socket buffers took, the server stopped reading long before 100 MB.
        assert sent < 32 * 2**20, f"the server read {sent} bytes of one header"
        _, answer = await closed_within(reader, 30)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 431"), answer[:100]
        writer.close()
        # ... and it still serves others.
        assert (await exchange(port)).startswith(b"HTTP/1.1 200")


async def test_headers_over_the_cap_in_one_piece_get_431() -> None:
    async with server(http_max_header_bytes=16384) as port:
        big = b"GET /ping HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * 40000 + b"\r\n"  # unfinished
        assert (await exchange(port, big)).startswith(b"HTTP/1.1 431")
        # Finished in the same write, it is refused all the same (and never reaches the app).
        assert (await exchange(port, big + b"\r\n")).startswith(b"HTTP/1.1 431")
        # A head under the cap is fine.
        fine = b"GET /ping HTTP/1.1\r\nHost: test\r\nX-Fine: " + b"a" * 8000 + b"\r\n\r\n"
        assert (await exchange(port, fine)).startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("sent", [
    b"",  # connected, never a byte
    b"GET /ping HTTP/1.1\r\nHost: test\r\n",  # a head never finished
    b"POST /ping HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n{\"a\":",  # a body never finished
])
async def test_a_request_not_sent_in_time_is_closed(sent: bytes) -> None:
    async with server(http_request_timeout_seconds=1) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(sent)
        await writer.drain()
        # Before the bound such a connection stayed open for good (the wait below timed out).
        took, answer = await closed_within(reader, 30)
        assert took < 15
        assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer
        writer.close()


async def test_a_header_dripped_byte_by_byte_is_closed_at_the_deadline() -> None:
    # The deadline runs from the connection, not from the last byte (uvicorn's keep-alive timeout,
    # which every byte resets, would never fire).
    async with server(http_request_timeout_seconds=1) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        try:
            for byte in b"GET /ping HTTP/1.1\r\nHost: test\r\nX-Slow: " + b"a" * 200:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.1)
                if reader.at_eof():
                    break
        except ConnectionError:
            pass
        await closed_within(reader, 30)
        assert time.monotonic() - started < 15
        writer.close()


async def test_a_slow_answer_is_not_cut_by_the_request_deadline() -> None:
    # The deadline covers receiving the request, not the app's work on it (the worker server holds
    # a request for as long as a search takes).
    async def slow(request: Request) -> JSONResponse:
        await asyncio.sleep(2.5)
        return JSONResponse({"done": True})

    APP.router.routes.append(Route("/slow", slow))
    try:
        async with server(http_request_timeout_seconds=1) as port:
            status = await exchange(port, b"GET /slow HTTP/1.1\r\nHost: test\r\n\r\n")
            assert status.startswith(b"HTTP/1.1 200")
    finally:
        APP.router.routes.pop()


async def test_connections_beyond_the_bound_get_503() -> None:
    async with server(http_max_connections=3) as port:
        held = []
        for _ in range(3):  # three clients, each served, connections kept alive
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(REQUEST)
            await writer.drain()
            assert (await asyncio.wait_for(reader.readline(), 30)).startswith(b"HTTP/1.1 200")
            held.append(writer)
        assert (await exchange(port)).startswith(b"HTTP/1.1 503")  # the fourth
        for writer in held:
            writer.close()
        for _ in range(200):  # the server notices the closes
            if (await exchange(port)).startswith(b"HTTP/1.1 200"):
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("connections freed, still 503")


def test_every_service_runs_with_the_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    # serve() runs the coordinator, the adapter and `up`; the worker server's command passes the same.
    seen: dict[str, Any] = {}
    monkeypatch.setattr(atto_work.serving.uvicorn, "run", lambda app, **kwargs: seen.update(kwargs))
    monkeypatch.setenv("HTTP_MAX_CONNECTIONS", "77")
    atto_work.serving.serve(object(), "127.0.0.1", 1)
    assert seen["limit_concurrency"] == 78
    assert isinstance(seen["http"], type)
    seen.clear()
    options = atto_work.serving.server_options()
    assert options["limit_concurrency"] == 78 and options["http"] is not None


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError):
        ConnectionSettings(http_request_timeout_seconds=60)  # the bound: at most 20 s
    with pytest.raises(ValueError):
        ConnectionSettings(http_max_header_bytes=10)
