"""Test-only stand-ins for one piece at a time: a tiny worker server speaking the worker-server HTTP
contract (``POST /works/{hash}`` with ``{"threshold"}`` -> ``{"work"}``), honest or lying.

The honest one searches with ``hashlib`` (LOCAL works take ~4e4 hashes, a few ms to 100 ms);
the lying one returns a work that does not meet the threshold. Both count their calls (and the
connections they came over) and can say they are not ready yet.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp

from work import difficulty, format_work, parse_target, parse_threshold


def search(target: bytes, threshold: int) -> bytes:
    nonce = random.getrandbits(64)
    while True:
        work = nonce.to_bytes(8, "little")
        if difficulty(work, target) <= threshold:
            return work
        nonce = (nonce + 1) % 2**64


def invalid_work(target: bytes, threshold: int) -> bytes:
    nonce = 0
    while True:
        work = nonce.to_bytes(8, "little")
        if difficulty(work, target) > threshold:
            return work
        nonce += 1


@dataclass
class TinyWorker:
    lying: bool = False
    capacity: int = 2
    #: Seconds each call waits before answering (to keep requests in flight, e.g. for drain tests).
    delay: float = 0.0
    #: While False, ``/ready`` answers 503 (a worker server still starting, e.g. after a scale from zero).
    ready: bool = True
    calls: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    #: The client port of each call: how many connections the calls came over.
    ports: set[int] = field(default_factory=set)
    #: Hashes of the DELETE /works/{hash} calls; a call stops the ``delay`` of that hash's searches.
    cancelled: list[str] = field(default_factory=list)
    _stops: dict[str, asyncio.Event] = field(default_factory=dict)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/works/{hash}")
        async def solve(hash: str, request: Request) -> JSONResponse:
            target = parse_target(hash)
            limit = parse_threshold((await request.json())["threshold"])
            self.calls.append(hash)
            if request.client is not None:
                self.ports.add(request.client.port)
            if self.delay:
                stop = self._stops.setdefault(hash.upper(), asyncio.Event())
                try:
                    await asyncio.wait_for(stop.wait(), self.delay)
                    return JSONResponse({"error": f"search for {hash.upper()} cancelled"}, status_code=409)
                except TimeoutError:
                    pass
            make = invalid_work if self.lying else search
            work = await asyncio.to_thread(make, target, limit)
            self.finished.append(hash)
            return JSONResponse({"work": format_work(work)})

        @app.delete("/works/{hash}")
        async def cancel(hash: str) -> JSONResponse:
            self.cancelled.append(hash.upper())
            stop = self._stops.pop(hash.upper(), None)
            if stop is None:
                return JSONResponse({"error": "no search"}, status_code=404)
            stop.set()
            return JSONResponse({"hash": hash.upper(), "cancelled": 1})

        @app.get("/health")
        async def health() -> dict[str, str]:
            return {"status": "ok"}

        @app.get("/ready")
        async def ready() -> JSONResponse:
            return JSONResponse({"ready": self.ready, "capacity": self.capacity},
                                status_code=200 if self.ready else 503)

        return app


@asynccontextmanager
async def serve(app: ASGIApp, **options: Any) -> AsyncIterator[str]:
    """Run ``app`` (lifespan included) with uvicorn on a free loopback port in this event loop;
    ``options`` are more ``uvicorn.Config`` arguments (a service's own: proxies, bounds)."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", **options)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises what stopped it
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


