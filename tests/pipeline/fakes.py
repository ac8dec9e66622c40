"""Test-only stand-ins for one piece at a time: a tiny worker server speaking the worker-server HTTP
contract (``POST /works/{hash}`` with ``{"threshold"}`` -> ``{"work"}``, and the same as the RPC
``work_generate`` on ``POST /``), honest or lying.

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
    #: Hashes of the cancel calls (DELETE /works/{hash}, RPC work_cancel); a call stops the
    #: ``delay`` of that hash's searches.
    cancelled: list[str] = field(default_factory=list)
    #: Whether it serves ``/ready`` and ``/health`` (nano-work-server serves only ``POST /``).
    probes: bool = True
    #: The body of each RPC call (``POST /``), as sent.
    rpc_bodies: list[bytes] = field(default_factory=list)
    _stops: dict[str, asyncio.Event] = field(default_factory=dict)

    async def _solve(self, hash: str, threshold: object, request: Request) -> JSONResponse:
        target = parse_target(hash)
        limit = parse_threshold(threshold)
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

    def _cancel(self, hash: str) -> bool:
        """Stop the ``delay`` of ``hash``'s searches; whether one was waiting."""
        self.cancelled.append(hash.upper())
        stop = self._stops.pop(hash.upper(), None)
        if stop is not None:
            stop.set()
        return stop is not None

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/works/{hash}")
        async def solve(hash: str, request: Request) -> JSONResponse:
            return await self._solve(hash, (await request.json())["threshold"], request)

        @app.delete("/works/{hash}")
        async def cancel(hash: str) -> JSONResponse:
            if not self._cancel(hash):
                return JSONResponse({"error": "no search"}, status_code=404)
            return JSONResponse({"hash": hash.upper(), "cancelled": 1})

        @app.post("/")
        async def rpc(request: Request) -> JSONResponse:
            """The nano-work-server RPC's Atto form: ``work_generate`` with a decimal ``threshold``,
            ``work_cancel``; errors as ``{"error"}`` with a 200, as nano-work-server answers."""
            self.rpc_bodies.append(await request.body())
            call = await request.json()
            if call.get("action") == "work_generate":
                return await self._solve(call["hash"], call["threshold"], request)
            if call.get("action") == "work_cancel":
                self._cancel(call["hash"])
                return JSONResponse({})
            return JSONResponse({"error": "Unknown action"})

        if not self.probes:
            return app

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


