"""The callback receiver that ``atto-work request``, the tests and the benchmarks listen with."""

from __future__ import annotations

import socket

import httpx
import pytest

from atto_work.receiver import CallbackReceiver


def post(connection: socket.socket, body: bytes) -> bytes:
    connection.sendall(b"POST /callback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    return connection.recv(4096)


def test_one_connection_carries_many_callbacks() -> None:
    with CallbackReceiver() as receiver, socket.create_connection(("127.0.0.1", receiver.port)) as conn:
        for n in range(3):
            assert post(conn, b'{"hash": "%d", "work": "00"}' % n).startswith(b"HTTP/1.1 200")
        assert [c.body["hash"] for c in receiver.callbacks] == ["0", "1", "2"]


def test_stop_ends_kept_alive_connections() -> None:
    receiver = CallbackReceiver().start()
    try:
        with socket.create_connection(("127.0.0.1", receiver.port)) as conn:
            assert post(conn, b'{"hash": "A"}').startswith(b"HTTP/1.1 200")
            receiver.stop()
            conn.settimeout(5)
            assert conn.recv(1) == b""  # the server ended it (FIN), rather than leaving it open
        with pytest.raises(httpx.ConnectError):
            httpx.post(receiver.url, json={"hash": "D"}, trust_env=False)
        receiver.start()  # the same port again
        assert httpx.post(receiver.url, json={"hash": "E"}, trust_env=False).status_code == 200
    finally:
        receiver.stop()
    assert [c.body["hash"] for c in receiver.callbacks] == ["A", "E"]


def test_wait_for_hashes_gives_the_first_callback_of_each() -> None:
    with CallbackReceiver() as receiver, httpx.Client(trust_env=False) as client:
        for hash, work in (("A", "1"), ("B", "2"), ("A", "3")):
            client.post(receiver.url, json={"hash": hash, "work": work})
        got = receiver.wait_for_hashes(["A", "B"], timeout=5)
        assert {h: c.body["work"] for h, c in got.items()} == {"A": "1", "B": "2"}
        assert set(receiver.wait_for_hashes(["A", "C"], timeout=0.2)) == {"A"}


def test_refused_callbacks_are_counted_not_recorded() -> None:
    with CallbackReceiver() as receiver, httpx.Client(trust_env=False) as client:
        receiver.fail_next(2, status=500)
        statuses = [client.post(receiver.url, json={"hash": str(n)}).status_code for n in range(3)]
        assert statuses == [500, 500, 200]
        assert receiver.refused == 2 and [c.body["hash"] for c in receiver.callbacks] == ["2"]
