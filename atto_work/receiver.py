"""A callback receiver on a loopback port: what ``atto-work request`` listens with, and what tests
use as "the client" (it can refuse the next few callbacks, and be stopped and started again on the
same port to play a client that is down for a while).

It runs a threaded ``http.server`` in a background thread, so sync and async callers alike can use
it; ``wait_for`` blocks (async code calls it through ``asyncio.to_thread``). It speaks HTTP/1.1 and
keeps connections alive, as a client's web server would, so the coordinator reuses its connections;
``stop`` closes them too, so a stopped receiver really is down.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class Callback:
    path: str
    body: dict[str, object]
    headers: dict[str, str]
    received_at: float  # time.perf_counter()
    raw: bytes = b""  # the body as sent: what a signature covers; a bare work (`CALLBACK_FORMAT=work`)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # bursts of callbacks must not overflow the listen backlog

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.connections: set[socket.socket] = set()
        self.accepted = 0  # TCP connections accepted: shows whether a client reuses its connections
        self._connections_lock = threading.Lock()

    def process_request_thread(self, request, client_address) -> None:  # noqa: ANN001
        with self._connections_lock:
            self.connections.add(request)
            self.accepted += 1
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._connections_lock:
                self.connections.discard(request)

    def close_connections(self) -> None:
        """End the kept-alive connections: their handler threads see EOF and exit."""
        with self._connections_lock:
            for connection in self.connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class CallbackReceiver:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.callbacks: list[Callback] = []
        self._first: dict[str, Callback] = {}  # hash -> its first callback
        self.refused = 0
        self._accepted_before = 0  # connections accepted by the servers of earlier starts
        self._fail_next = 0
        self._fail_status = 503
        self._changed = threading.Condition()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted since the first start (a keep-alive client reuses them)."""
        return self._accepted_before + (self._server.accepted if self._server is not None else 0)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/callback"

    def start(self) -> CallbackReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(min(length, MAX_BODY))
                if length > MAX_BODY:
                    self.close_connection = True  # the rest of the body is still unread
                status = receiver._record(self.path, raw, dict(self.headers.items()))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: tests and `atto-work request` print what matters themselves

        self._server = _Server((self.host, self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="callback-receiver",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening (callbacks now fail to connect); ``start`` again reuses the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.close_connections()
            self._accepted_before += self._server.accepted
            self._server = None

    def fail_next(self, count: int, status: int = 503) -> None:
        """Answer the next ``count`` callbacks with ``status`` instead of 200 (and not record them)."""
        with self._changed:
            self._fail_next = count
            self._fail_status = status

    def _record(self, path: str, raw: bytes, headers: dict[str, str]) -> int:
        with self._changed:
            if self._fail_next > 0:
                self._fail_next -= 1
                self.refused += 1
                return self._fail_status
            try:
                body = json.loads(raw)
            except ValueError:
                body = {"unparsable": raw.decode("utf-8", "replace")}
            callback = Callback(path, body, headers, time.perf_counter(), raw)
            self.callbacks.append(callback)
            key = body.get("hash") if isinstance(body, dict) else None
            if isinstance(key, str):
                self._first.setdefault(key, callback)
            self._changed.notify_all()
        return 200

    def wait_for_hashes(self, hashes: Iterable[str], timeout: float) -> dict[str, Callback]:
        """Block until a callback arrived for each of ``hashes`` (upper-case hex) or ``timeout``;
        the first callback of each hash that arrived. Delivery is at-least-once, so a count of
        callbacks can include repeats: this waits for the set, not for a number."""
        wanted = set(hashes)
        missing = set(wanted)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                missing = {key for key in missing if key not in self._first}
                left = deadline - time.monotonic()
                if not missing or left <= 0:
                    return {key: self._first[key] for key in wanted - missing}
                self._changed.wait(left)

    def wait_for(self, count: int, timeout: float) -> list[Callback]:
        """Block until ``count`` callbacks were recorded (or ``timeout``); return those recorded."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.callbacks) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            return list(self.callbacks)

    def __enter__(self) -> CallbackReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
