"""What one HTTP client may hold of a service: the size of a request head, the time to send a
request, and (all clients together) the number of connections.

uvicorn's httptools protocol has neither of the first two: it buffers a header that never ends for
as long as bytes come, and its keep-alive timeout runs only between requests and is reset by every
byte, so a connection that never finishes its request (or never sends one) stays open for good.
``BoundedHttpProtocol`` adds both on top of it, through the callbacks a protocol receives (asyncio's
``connection_made``/``data_received``/``connection_lost`` and httptools' parser callbacks), which
uvicorn's ``http=`` setting takes as a class:

- a request head (request line and headers) over ``HTTP_MAX_HEADER_BYTES`` is answered ``431`` and
  the connection closed: the head's bytes are counted up to its blank line as they are read, before
  the parser sees them, so no more than the bound is buffered (a head pipelined behind a whole
  request in the same read is counted from the next read on);
- a request must arrive whole (head and body) within ``HTTP_REQUEST_TIMEOUT_SECONDS`` of its first
  byte, the first one of a connection within that time of connecting; otherwise ``408`` (when the
  head is not complete) and the connection is closed. The time the app then takes to answer is not
  bounded here (the worker server holds a request for as long as a search takes).

The connection bound is uvicorn's own ``limit_concurrency``: beyond ``HTTP_MAX_CONNECTIONS`` open
connections (or running requests) a request is answered ``503``.
"""

from __future__ import annotations

import asyncio
import http
import json
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class ConnectionSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    http_max_header_bytes: int = Field(16384, ge=1024, le=1048576, description=(
        "largest request head (request line and headers) a service reads; beyond it `431` and the "
        "connection is closed"))
    http_request_timeout_seconds: float = Field(10.0, gt=0, le=20, description=(
        "seconds a client has to send a whole request (headers and body) from its first byte, and "
        "the first request from connecting; then `408` and the connection is closed (at most 20)"))
    http_max_connections: int = Field(1000, ge=1, description=(
        "open connections (and requests in progress) a service serves at once; beyond them "
        "requests are answered `503`"))

    def uvicorn_options(self) -> dict[str, Any]:
        """``uvicorn.run``/``uvicorn.Config`` keyword arguments for these settings."""
        protocol = type("BoundedHttpProtocol", (BoundedHttpProtocol,), {
            "max_head_bytes": self.http_max_header_bytes,
            "request_timeout": self.http_request_timeout_seconds,
        })
        # uvicorn answers 503 once ``len(connections) >= limit``, the new connection included.
        return {"http": protocol, "limit_concurrency": self.http_max_connections + 1}


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded request head and a deadline to receive a request."""

    max_head_bytes = 16384
    request_timeout = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes: int | None = 0  # bytes read of the current head; None: in a body or the app
        self._tail = b""  # the last bytes of the head read so far: its end may span two reads
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._head_bytes is not None:
            end = (self._tail + data).find(b"\r\n\r\n")
            self._head_bytes += len(data) if end < 0 else end + 4 - len(self._tail)
            self._tail = data[-3:]
            if self._head_bytes > self.max_head_bytes:
                self._refuse(431, f"request headers larger than {self.max_head_bytes} bytes")
                return
        super().data_received(data)

    # httptools' parser callbacks: a request begins, its head is complete, it is complete.
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()  # the first request keeps the deadline it got at connect

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._head_bytes, self._tail = 0, b""  # what follows is the next request's head
        super().on_message_complete()

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = asyncio.get_running_loop().call_later(self.request_timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._head_bytes is None:  # the app has the request: it sees a disconnect
            self.transport.close()
        else:
            self._refuse(408, f"request not received within {self.request_timeout:g} s")

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` with a JSON error, then close: no request reached the app."""
        self._head_bytes = None
        body = json.dumps({"error": message}).encode()
        self.transport.write(
            f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode() + body)
        self.transport.close()
