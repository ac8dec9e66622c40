"""The worker server over a real socket, on the real backends (NumPy and the OpenCL device).

Works are checked with ``work.difficulty`` (hashlib), never against another backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx

from harness.polling import wait_until
from harness.server import ServerThread
from solver.api import create_app
from solver.settings import SolverSettings
from work import Network, difficulty, parse_work, threshold

LOCAL = threshold(Network.LOCAL, datetime(2026, 1, 1, tzinfo=UTC))  # ~43K hashes a work
BETA = threshold(Network.BETA, datetime(2026, 1, 1, tzinfo=UTC))  # minutes of a CPU a work
NEVER = 1  # a search that runs until it is stopped (on a server without a bound)
UNBOUNDED = SolverSettings(max_expected_hashes=2.0**64)
ZERO = "0" * 64


def target(i: int) -> str:
    return f"{i:02X}" * 32


def assert_work(body: dict, hash_hex: str, limit: int) -> None:
    assert set(body) == {"work"}
    assert len(body["work"]) == 16 and body["work"] == body["work"].upper()
    assert difficulty(parse_work(body["work"]), bytes.fromhex(hash_hex)) <= limit


def test_both_endpoints_return_valid_work(devices) -> None:
    with ServerThread(create_app(SolverSettings(), devices)) as server:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            r = client.post(f"/works/{target(1)}", json={"threshold": str(LOCAL)})
            assert r.status_code == 200, r.text
            assert_work(r.json(), target(1), LOCAL)
            r = client.post(f"/works/{target(2).lower()}", json={"threshold": LOCAL})
            assert r.status_code == 200, r.text
            assert_work(r.json(), target(2), LOCAL)
            r = client.post("/works", json={"network": "LOCAL", "timestamp": 1778630400000,
                                            "target": target(3)})
            assert r.status_code == 200, r.text
            assert_work(r.json(), target(3), threshold(Network.LOCAL, datetime(2026, 5, 13, tzinfo=UTC)))
            r = client.post("/works", json={"network": "LOCAL", "timestamp": "2024-06-01T00:00:00Z",
                                            "target": target(4)})
            assert r.status_code == 200, r.text
            assert_work(r.json(), target(4), threshold(Network.LOCAL, datetime(2024, 6, 1, tzinfo=UTC)))


def test_requests_queue_while_the_device_is_busy_and_are_all_served(devices) -> None:
    app = create_app(UNBOUNDED, devices)
    metrics = app.state.metrics
    with ServerThread(app) as server:
        blocker = open_request(server.port, f"/works/{ZERO}", b'{"threshold": 1}')
        wait_until(lambda: metrics.value("solver_device_busy", device=devices[0].name) == 1,
                   what="the blocking search to start")

        async def clients() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                jobs = [asyncio.create_task(client.post(f"/works/{target(i)}", json={"threshold": LOCAL}))
                        for i in range(4)]
                # All four wait behind the blocker; then the blocker's client hangs up.
                await asyncio.to_thread(lambda: wait_until(lambda: metrics.value("solver_queue_depth") == 4,
                                                           what="four queued requests"))
                blocker.close()
                return await asyncio.gather(*jobs)

        responses = asyncio.run(clients())
    for i, r in enumerate(responses):
        assert r.status_code == 200, r.text
        assert_work(r.json(), target(i), LOCAL)
    assert metrics.value("solver_searches_total", outcome="solved") == 4
    assert metrics.value("solver_searches_total", outcome="cancelled") == 1


def test_a_client_that_hangs_up_cancels_its_search(devices) -> None:
    with blocked_server(devices) as (server, busy, client_socket):
        client_socket.close()
        # The device is freed (within one launch) and the search counted as cancelled.
        wait_until(lambda: busy() == 0, what="the device to be freed")
        assert server.app.state.metrics.value("solver_searches_total", outcome="cancelled") == 1
        assert_serves(server, target(5), LOCAL)


@contextlib.contextmanager
def blocked_server(devices) -> Iterator[tuple[ServerThread, Callable[[], float], socket.socket]]:
    """A server whose device runs a search that never ends until its client hangs up (closes
    the socket): the server, its device's busy gauge, the socket."""
    app = create_app(UNBOUNDED, devices)
    busy = lambda: app.state.metrics.value("solver_device_busy", device=devices[0].name)  # noqa: E731
    with ServerThread(app) as server:
        client_socket = open_request(server.port, f"/works/{ZERO}", b'{"threshold": "1"}')
        wait_until(lambda: busy() == 1, what="the search to start")
        yield server, busy, client_socket


def assert_serves(server: ServerThread, hash_hex: str, limit: int) -> None:
    r = httpx.post(f"{server.url}/works/{hash_hex}", json={"threshold": limit}, timeout=60)
    assert r.status_code == 200, r.text
    assert_work(r.json(), hash_hex, limit)


def delete_while_waiting(server: ServerThread, hash_hex: str, limit: int, ready, what: str,
                         ) -> tuple[httpx.Response, httpx.Response]:
    """POST a search for ``hash_hex``, wait until ``ready()``, DELETE it: both answers."""

    async def run() -> tuple[httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            search = asyncio.create_task(client.post(f"/works/{hash_hex}", json={"threshold": limit}))
            await asyncio.to_thread(lambda: wait_until(ready, what=what))
            deleted = await client.delete(f"/works/{hash_hex.lower()}")
            return deleted, await search

    return asyncio.run(run())


def test_a_search_past_the_timeout_answers_504(devices) -> None:
    app = create_app(UNBOUNDED.model_copy(update={"timeout_seconds": 0.5}), devices)
    metrics = app.state.metrics
    with ServerThread(app) as server:
        r = httpx.post(f"{server.url}/works/{ZERO}", json={"threshold": NEVER}, timeout=60)
        assert r.status_code == 504
        assert "no work found within 0.5 s" in r.json()["error"]
        assert metrics.value("solver_searches_total", outcome="timeout") == 1
        assert metrics.value("solver_device_busy", device=devices[0].name) == 0
        # The device serves again (an easy work: this server gives up after 0.5 s).
        assert_serves(server, target(6), 2**64 // 2**10 - 1)


def test_delete_stops_a_running_search_and_frees_its_device(devices) -> None:
    app = create_app(SolverSettings(), devices)
    metrics = app.state.metrics
    busy = lambda: metrics.value("solver_device_busy", device=devices[0].name)  # noqa: E731
    with ServerThread(app) as server:
        deleted, search = delete_while_waiting(server, target(7), BETA, lambda: busy() == 1,
                                               "the BETA search to start")
        assert deleted.status_code == 200, deleted.text
        assert deleted.json() == {"hash": target(7), "cancelled": 1}
        assert search.status_code == 409, search.text
        assert "cancelled" in search.json()["error"] and "work" not in search.json()
        wait_until(lambda: busy() == 0, what="the device to be freed")
        assert metrics.value("solver_searches_total", outcome="cancelled") == 1
        # Nothing is left to cancel; the device serves the next request.
        assert httpx.delete(f"{server.url}/works/{target(7)}", timeout=30).status_code == 404
        assert_serves(server, target(8), LOCAL)


def test_delete_removes_a_queued_search(devices) -> None:
    with blocked_server(devices) as (server, busy, blocker):
        metrics = server.app.state.metrics
        deleted, queued = delete_while_waiting(server, target(9), LOCAL,
                                               lambda: metrics.value("solver_queue_depth") == 1,
                                               "the request to queue")
        assert deleted.status_code == 200 and deleted.json()["cancelled"] == 1, deleted.text
        assert queued.status_code == 409, queued.text
        assert metrics.value("solver_queue_depth") == 0
        # The running search was not touched; it ends when its client hangs up.
        assert busy() == 1
        blocker.close()
        wait_until(lambda: busy() == 0, what="the device to be freed")
    assert metrics.value("solver_searches_total", outcome="cancelled") == 2
    assert metrics.value("solver_searches_total", outcome="solved") == 0


def open_request(port: int, path: str, body: bytes) -> socket.socket:
    """Send a POST on a raw socket and leave it open: the caller closes it to hang up."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    sock.sendall(head + body)
    return sock
