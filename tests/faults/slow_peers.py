"""Hostile peers on loopback for the isolation tests: a callback receiver that drips its answer one
byte at a time, and a DNS server that answers some names and never answers others.

Both run an event loop in a thread of their own, so sync (fault suite) and async tests alike use
them as context managers; both listen on 127.0.0.1 only and stop with the ``with`` block.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Callable, Coroutine
from typing import Any


class _LoopThread:
    """An event loop running in a daemon thread; ``call`` runs a coroutine on it and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> _LoopThread:
        self._thread.start()
        return self

    def call(self, make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        return asyncio.run_coroutine_threadsafe(make(), self.loop).result(timeout=30)

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)
        self.loop.close()


class DrippingReceiver:
    """Reads a request, then sends its answer's head one byte every ``interval`` seconds, forever:
    the slow receiver that once held every connection of the callback pool. Counts connections."""

    HEAD = b"HTTP/1.1 200 OK\r\n" + b"x-drip: " + b"a" * 100_000

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.accepted = 0
        self.open = 0
        self.most_open = 0  # the most connections open at once
        self._loop = _LoopThread()
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/drip"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        closed: asyncio.Future[bytes] | None = None
        try:
            await reader.readuntil(b"\r\n\r\n")
            closed = asyncio.ensure_future(reader.read())  # done when the client closes its side
            for byte in self.HEAD:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.wait([closed], timeout=self.interval)
                if closed.done():
                    break  # counted as closed as soon as the client gives up
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError,
                asyncio.CancelledError):
            pass  # the client gave up, or the receiver stops
        finally:
            self.open -= 1
            if closed is not None:
                closed.cancel()
            writer.close()

    def __enter__(self) -> DrippingReceiver:
        self._loop.__enter__()

        async def start() -> asyncio.Server:
            return await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024)

        self._server = self._loop.call(start)
        return self

    def __exit__(self, *exc: object) -> None:
        server = self._server
        assert server is not None

        async def stop() -> None:
            server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        self._loop.call(stop)
        self._loop.__exit__(*exc)


def _name(packet: bytes, offset: int) -> tuple[str, int]:
    labels = []
    while packet[offset]:
        size = packet[offset]
        labels.append(packet[offset + 1:offset + 1 + size].decode("ascii", "replace"))
        offset += 1 + size
    return ".".join(labels).lower(), offset + 1


class StubDns(asyncio.DatagramProtocol):
    """A DNS server on 127.0.0.1 (UDP): ``answers`` maps a name to its IPv4 address (A); a name in
    ``black_holes`` gets no answer at all (a server that never replies); any other name gets an
    empty NOERROR answer. Counts the queries per name."""

    def __init__(self, answers: dict[str, str], black_holes: set[str]) -> None:
        self.answers = {name.lower(): address for name, address in answers.items()}
        self.black_holes = {name.lower() for name in black_holes}
        self.queries: dict[str, int] = {}
        self._loop = _LoopThread()
        self._transport: asyncio.DatagramTransport | None = None

    @property
    def port(self) -> int:
        assert self._transport is not None
        return self._transport.get_extra_info("sockname")[1]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            name, end = _name(data, 12)
            qtype = struct.unpack("!H", data[end:end + 2])[0]
        except (IndexError, struct.error):
            return
        self.queries[name] = self.queries.get(name, 0) + 1
        if name in self.black_holes:
            return
        question = data[12:end + 4]
        records = b""
        if qtype == 1 and name in self.answers:  # A
            records = (b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 5, 4)
                       + socket.inet_aton(self.answers[name]))
        header = data[:2] + struct.pack("!HHHHH", 0x8180, 1, 1 if records else 0, 0, 0)
        assert self._transport is not None
        self._transport.sendto(header + question + records, addr)

    def __enter__(self) -> StubDns:
        self._loop.__enter__()

        async def start() -> None:
            await asyncio.get_running_loop().create_datagram_endpoint(
                lambda: self, local_addr=("127.0.0.1", 0))

        self._loop.call(start)
        return self

    def __exit__(self, *exc: object) -> None:
        transport = self._transport
        assert transport is not None
        self._loop.loop.call_soon_threadsafe(transport.close)
        self._loop.__exit__(*exc)
