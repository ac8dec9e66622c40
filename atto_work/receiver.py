"""A callback receiver on a loopback port: what ``atto-work request`` listens with, and what tests
use as "the client" (it can refuse the next few callbacks, and be stopped and started again on the
same port to play a client that is down for a while).

It runs a threaded ``http.server`` in a background thread, so sync and async callers alike can use
it; ``wait_for`` blocks (async code calls it through ``asyncio.to_thread``).
"""

from __future__ import annotations

import json
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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # bursts of callbacks must not overflow the listen backlog


class CallbackReceiver:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.callbacks: list[Callback] = []
        self.refused = 0
        self._fail_next = 0
        self._fail_status = 503
        self._changed = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/callback"

    def start(self) -> CallbackReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(min(length, MAX_BODY))
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
            self.callbacks.append(Callback(path, body, headers, time.perf_counter()))
            self._changed.notify_all()
        return 200

    def wait_for_hashes(self, hashes: Iterable[str], timeout: float) -> dict[str, Callback]:
        """Block until a callback arrived for each of ``hashes`` (upper-case hex) or ``timeout``;
        the first callback of each hash that arrived. Delivery is at-least-once, so a count of
        callbacks can include repeats: this waits for the set, not for a number."""
        wanted = set(hashes)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                first: dict[str, Callback] = {}
                for callback in self.callbacks:
                    key = callback.body.get("hash")
                    if key in wanted and key not in first:
                        first[key] = callback  # type: ignore[index]
                left = deadline - time.monotonic()
                if len(first) == len(wanted) or left <= 0:
                    return first
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
