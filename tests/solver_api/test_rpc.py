"""The nano-work-server RPC on ``POST /`` over a real socket, on the real backends (NumPy and the
OpenCL device): the Kotlin reference adapter's call and a Nano node's work-peer call byte for byte,
every action, both rules, cancel, joined retries.

Atto works are checked with ``work.difficulty`` (hashlib), Nano works with ``work.nano`` and with
nanopy (an independent Nano implementation), and ``work_validate`` against a vector published by
nano-work-server; never against another backend.
"""

from __future__ import annotations

import asyncio
import json
import socket

import httpx
import pytest

from harness.polling import wait_until
from harness.server import ServerThread
from solver.api import create_app
from solver.rpc import format_multiplier
from solver.settings import SolverSettings
from tests.test_work_nano import nanopy_difficulty, nanopy_valid
from work import difficulty, nano, parse_work

from .test_server import LOCAL, UNBOUNDED, ZERO, assert_work, target

EASY_NANO = 2**64 - 2**52  # fff0000000000000: ~4K hashes a work
# Searches that run until they are stopped (2^64 hashes on average), on servers without a bound.
NEVER_NANO = 2**64 - 1
NEVER_ATTO = 1


def exchange(port: int, raw: bytes) -> tuple[int, dict]:
    """Send a raw HTTP request, read one answer: (status, JSON body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(raw)
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, body = data.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        length = next(int(v) for k, _, v in (line.partition(": ") for line in lines[1:])
                      if k.lower() == "content-length")
        while len(body) < length:
            body += sock.recv(65536)
    return int(lines[0].split()[1]), json.loads(body)


def post(port: int, body: bytes, headers: str = "") -> tuple[int, dict]:
    return exchange(port, (f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}"
                           f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                           ).encode() + body)


def assert_nano_work(body: dict, hash_hex: str, minimum: int) -> None:
    assert set(body) == {"work", "difficulty", "multiplier", "hash"}, body
    work = nano.parse_work(body["work"])
    assert body["work"] == f"{work:016x}"  # lower case, big-endian
    found = nano.difficulty(work, bytes.fromhex(hash_hex))
    assert found >= minimum and nano.is_valid(work, bytes.fromhex(hash_hex), minimum)
    assert nanopy_valid(work, bytes.fromhex(hash_hex), minimum)
    assert nanopy_difficulty(work, bytes.fromhex(hash_hex)) == found
    assert body["difficulty"] == f"{found:016x}"
    assert float(body["multiplier"]) == pytest.approx(2**35 / (2**64 - found))
    assert body["hash"] == hash_hex.upper()


def test_the_kotlin_reference_adapter_call_gets_an_atto_work(devices) -> None:
    with ServerThread(create_app(SolverSettings(), devices)) as server:
        # As the reference adapter's serializer writes it: compact, threshold a string; and with
        # ``action`` left out (a serializer that skips default values).
        bodies = [f'{{"action":"work_generate","hash":"{target(1)}","threshold":"{LOCAL}"}}',
                  f'{{"hash":"{target(2)}","threshold":"{LOCAL}"}}']
        for i, body in enumerate(bodies, 1):
            status, answer = post(server.port, body.encode(),
                                  "Accept: application/json, application/*+json\r\n")
            assert status == 200, answer
            assert_work(answer, target(i), LOCAL)


def test_a_nano_node_work_peer_call_gets_a_nano_work(devices) -> None:
    with ServerThread(create_app(SolverSettings(), devices)) as server:
        # As the node's distributed_work writes it (boost's write_json: indented, a final newline;
        # ``account`` when the node knows it), on a request with only these headers.
        body = ('{\n    "action": "work_generate",\n    "hash": "' + target(3) + '",\n'
                f'    "difficulty": "{EASY_NANO:016x}",\n'
                '    "account": "nano_3t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr3"\n}\n')
        status, answer = exchange(server.port, (
            f"POST / HTTP/1.1\r\nContent-Type: application/json\r\nHost: 127.0.0.1\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}").encode())
        assert status == 200, answer
        assert_nano_work(answer, target(3), EASY_NANO)


def test_work_generate_with_a_multiplier_and_without_a_difficulty(open_devices) -> None:
    settings = SolverSettings(max_expected_hashes=2**20)
    with ServerThread(create_app(settings, open_devices("numpy"))) as server:
        r = httpx.post(server.url, json={"action": "work_generate", "hash": target(4),
                                         "multiplier": "0.0001"}, timeout=60)
        assert r.status_code == 200, r.text
        assert_nano_work(r.json(), target(4), nano.from_multiplier(0.0001))
        # The smallest positive multiplier: difficulty 0, so any work (the fuzzer found a 500 here).
        r = httpx.post(server.url, json={"action": "work_generate", "hash": target(4),
                                         "multiplier": "5e-324"}, timeout=60)
        assert r.status_code == 200, r.text
        assert_nano_work(r.json(), target(4), 0)
        # Without difficulty or multiplier: Nano's send difficulty, 2^29 hashes on average (over
        # this server's bound, so it says so rather than searching for minutes).
        r = httpx.post(server.url, json={"action": "work_generate", "hash": target(4)}, timeout=60)
        assert r.status_code == 400 and "5.37e+08 hashes" in r.json()["error"], r.text


def test_work_validate_by_the_nano_rules_against_a_published_vector(open_devices) -> None:
    # nano-work-server's README: this work has difficulty ffffffd21c3933f4 for this hash.
    vector = {"hash": "718CC2121C3E641059BC1C2CFC45666C99E8AE922F7A807B7D07B62C995D79E2",
              "work": "2bf29ef00786a6bc"}
    multiplier = format_multiplier(2**35 / (2**64 - 0xFFFFFFD21C3933F4))
    with ServerThread(create_app(SolverSettings(), open_devices("numpy"))) as server:
        r = httpx.post(server.url, json={"action": "work_validate", **vector}, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json() == {"valid_all": "0", "valid_receive": "1", "difficulty": "ffffffd21c3933f4",
                            "multiplier": multiplier}
        for given, valid in [({"difficulty": "ffffffc000000000"}, "1"),
                             ({"difficulty": "FFFFFFD21C3933F5"}, "0"),
                             ({"multiplier": "0.125"}, "1"), ({"multiplier": 1}, "0")]:
            r = httpx.post(server.url, json={"action": "work_validate", **vector, **given}, timeout=30)
            assert r.status_code == 200, r.text
            assert r.json()["valid"] == valid, (given, r.json())


def test_work_validate_by_the_atto_rules(open_devices) -> None:
    with ServerThread(create_app(SolverSettings(), open_devices("numpy"))) as server:
        r = httpx.post(server.url, json={"hash": target(5), "threshold": LOCAL}, timeout=60)
        work = r.json()["work"]
        found = difficulty(parse_work(work), bytes.fromhex(target(5)))
        for limit, valid in [(LOCAL, "1"), (found, "1"), (found - 1, "0")]:
            r = httpx.post(server.url, json={"action": "work_validate", "hash": target(5),
                                             "work": work, "threshold": str(limit)}, timeout=30)
            assert r.status_code == 200, r.text
            assert r.json() == {"valid": valid, "difficulty": str(found)}


def test_work_cancel_stops_a_running_search_and_frees_the_device(devices) -> None:
    app = create_app(UNBOUNDED, devices)
    metrics = app.state.metrics
    busy = lambda: metrics.value("solver_device_busy", device=devices[0].name)  # noqa: E731
    with ServerThread(app) as server:

        async def run() -> tuple[httpx.Response, httpx.Response]:
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                search = asyncio.create_task(client.post("/", json={
                    "action": "work_generate", "hash": target(6), "difficulty": f"{NEVER_NANO:016x}"}))
                await asyncio.to_thread(lambda: wait_until(lambda: busy() == 1, what="the search"))
                cancelled = await client.post("/", json={"action": "work_cancel", "hash": target(6)})
                return cancelled, await search

        cancelled, search = asyncio.run(run())
        assert cancelled.status_code == 200 and cancelled.json() == {}, cancelled.text
        assert search.status_code == 409 and "cancelled" in search.json()["error"], search.text
        wait_until(lambda: busy() == 0, what="the device to be freed")
        assert metrics.value("solver_searches_total", outcome="cancelled") == 1
        # The device runs the next job; nothing is left to cancel, which is no error.
        r = httpx.post(server.url, json={"hash": target(7), "threshold": str(LOCAL)}, timeout=60)
        assert r.status_code == 200, r.text
        assert_work(r.json(), target(7), LOCAL)
        r = httpx.post(server.url, json={"action": "work_cancel", "hash": target(6)}, timeout=30)
        assert r.status_code == 200 and r.json() == {}


def test_work_cancel_removes_a_queued_search(open_devices) -> None:
    devices = open_devices("numpy")
    app = create_app(UNBOUNDED, devices)
    metrics = app.state.metrics
    with ServerThread(app) as server:

        async def run() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                blocker = asyncio.create_task(client.post("/", json={
                    "hash": ZERO, "threshold": str(NEVER_ATTO)}))
                await asyncio.to_thread(lambda: wait_until(
                    lambda: metrics.value("solver_device_busy", device=devices[0].name) == 1,
                    what="the blocking search"))
                queued = asyncio.create_task(client.post("/", json={
                    "hash": target(8), "difficulty": f"{EASY_NANO:016x}", "action": "work_generate"}))
                await asyncio.to_thread(lambda: wait_until(
                    lambda: metrics.value("solver_queue_depth") == 1, what="the queued search"))
                for hash_hex in (target(8), ZERO):
                    r = await client.post("/", json={"action": "work_cancel", "hash": hash_hex.lower()})
                    assert r.status_code == 200 and r.json() == {}, r.text
                return await asyncio.gather(queued, blocker)

        for r in asyncio.run(run()):
            assert r.status_code == 409, r.text
        assert metrics.value("solver_queue_depth") == 0
        assert metrics.value("solver_searches_total", outcome="cancelled") == 2


def test_a_retried_request_joins_the_running_search(open_devices) -> None:
    devices = open_devices("numpy")
    app = create_app(UNBOUNDED, devices)
    metrics = app.state.metrics
    with ServerThread(app) as server:
        blocker = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        body = f'{{"hash":"{ZERO}","threshold":"{NEVER_ATTO}"}}'.encode()
        blocker.sendall(f"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        wait_until(lambda: metrics.value("solver_device_busy", device=devices[0].name) == 1,
                   what="the blocking search")

        async def run() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                # The first request through the Atto work-server route, its retries through the
                # other two: the same hash and threshold, one search.
                first = asyncio.create_task(client.post(f"/works/{target(9)}", json={"threshold": LOCAL}))
                await asyncio.to_thread(lambda: wait_until(
                    lambda: metrics.value("solver_queue_depth") == 1, what="the first request"))
                retries = [
                    asyncio.create_task(client.post("/", json={"hash": target(9), "threshold": LOCAL})),
                    asyncio.create_task(client.post(f"/works/{target(9)}", json={"threshold": str(LOCAL)}))]
                await asyncio.to_thread(lambda: wait_until(
                    lambda: metrics.value("solver_joined_total") == 2, what="the retries to join"))
                # A Nano request for the same hash is another search.
                other = asyncio.create_task(client.post("/", json={
                    "action": "work_generate", "hash": target(9), "difficulty": f"{EASY_NANO:016x}"}))
                await asyncio.to_thread(lambda: wait_until(
                    lambda: metrics.value("solver_queue_depth") == 2, what="the Nano request"))
                blocker.close()  # its client hangs up: the device takes the line
                return await asyncio.gather(first, *retries, other)

        try:
            first, *retries, other = asyncio.run(run())
        finally:
            blocker.close()
    works = {r.json()["work"] for r in (first, *retries)}
    assert all(r.status_code == 200 for r in (first, *retries, other)), [r.text for r in retries]
    assert len(works) == 1
    assert_work(first.json(), target(9), LOCAL)
    assert_nano_work(other.json(), target(9), EASY_NANO)
    assert metrics.value("solver_searches_total", outcome="solved") == 2


def test_the_last_request_of_a_joined_search_going_away_stops_it(open_devices, caplog) -> None:
    devices = open_devices("numpy")
    app = create_app(UNBOUNDED, devices)
    metrics = app.state.metrics
    busy = lambda: metrics.value("solver_device_busy", device=devices[0].name)  # noqa: E731
    body = f'{{"hash":"{ZERO}","threshold":"{NEVER_ATTO}"}}'.encode()
    raw = (f"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    with ServerThread(app) as server:
        clients = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(2)]
        clients[0].sendall(raw)
        wait_until(lambda: busy() == 1, what="the search")
        clients[1].sendall(raw)
        wait_until(lambda: metrics.value("solver_joined_total") == 1, what="the retry to join")
        caplog.set_level("INFO", logger="solver.api")
        clients[0].close()
        wait_until(lambda: "client went away" in caplog.text, what="the server to see the hang-up")
        # The other request still waits: the search runs on.
        assert busy() == 1 and metrics.value("solver_searches_total", outcome="cancelled") == 0
        clients[1].close()
        wait_until(lambda: busy() == 0, what="the device to be freed")
        assert metrics.value("solver_searches_total", outcome="cancelled") == 1


def test_rpc_searches_answer_504_past_the_timeout_and_503_when_the_line_is_full(open_devices) -> None:
    devices = open_devices("numpy")
    settings = UNBOUNDED.model_copy(update={"timeout_seconds": 5.0, "max_queue": 0})
    app = create_app(settings, devices)
    metrics = app.state.metrics
    with ServerThread(app) as server:

        async def run() -> tuple[httpx.Response, httpx.Response]:
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                running = asyncio.create_task(client.post("/", json={
                    "action": "work_generate", "hash": ZERO, "difficulty": f"{NEVER_NANO:016x}"}))
                await asyncio.to_thread(lambda: wait_until(
                    lambda: metrics.value("solver_device_busy", device=devices[0].name) == 1,
                    what="the search"))
                refused = await client.post("/", json={"hash": target(10), "threshold": LOCAL})
                return refused, await running

        refused, timed_out = asyncio.run(run())
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1", refused.text
    assert set(refused.json()) == {"error"}
    assert timed_out.status_code == 504 and "no work found within 5 s" in timed_out.json()["error"]
