"""The worker server's HTTP API: find a work for a hash, on the device pool.

- ``POST /works/{hash}`` with ``{"threshold": "<decimal u64>"}``: the seed's worker-server contract;
- ``POST /works`` with ``{"network", "timestamp", "target"}``: the Atto work-server contract, so Atto
  wallets can use this server as their remote worker;
- ``POST /`` the nano-work-server RPC (``solver.rpc``): the Kotlin reference adapter's call and
  Nano's work peers.

The first two answer ``200 {"work": "<16 HEX>"}``. A request for a search already running (same
hash, rule and threshold) joins it (``solver.searches``). Every route refuses, with 400, a threshold
needing more than ``SOLVER_MAX_EXPECTED_HASHES`` hashes on average. Requests wait in line while every
device is busy; a client that hangs up leaves its search (stopped when nobody else waits for it); a
search past ``SOLVER_TIMEOUT_SECONDS`` answers 504. ``DELETE /works/{hash}`` (and the RPC's
``work_cancel``) stops every queued or running search for the hash: their requests answer 409, the
device is free within one launch. Errors and their statuses: ``solver.errors``. Devices
are discovered and their kernels built once, at start-up, so no request pays for a build.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from common.bearer import BearerTokens, token_dependency
from common.http import RequestLimits, add_probes, error, install_error_handlers
from solver import rpc
from solver.backends.base import SearchDevice
from solver.errors import Cancelled, DeviceFailure, QueueFull, SearchTimeout
from solver.jobs import Rule, Solution
from solver.metrics import SolverMetrics
from solver.pool import DevicePool
from solver.schemas import HashPath, NetworkName, Target, Threshold, Timestamp, WorkResponse, error_doc
from solver.searches import SharedSearches
from solver.settings import SolverSettings
from work import check_not_future, format_target, format_work, parse_target, threshold

log = logging.getLogger(__name__)


class ThresholdRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"threshold": "429496729550000"}]})
    threshold: Threshold


class WorkServerRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"network": "LIVE", "timestamp": 1778630400000, "target": "0" * 64}]})
    network: NetworkName
    timestamp: Timestamp
    target: Target


class CancelResponse(BaseModel):
    hash: str = Field(pattern="^[0-9A-F]{64}$", description="the target, upper-case hex")
    cancelled: int = Field(ge=1, description="searches stopped (queued or running)")


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: error_doc("Bad input: hash, threshold, network, timestamp or JSON; body over 4 KiB; a "
                   "threshold needing more than SOLVER_MAX_EXPECTED_HASHES hashes on average"),
    401: error_doc("SOLVER_TOKEN is set and no valid Bearer token was sent"),
    409: error_doc("The search was cancelled (DELETE /works/{hash} or the RPC's work_cancel)"),
    414: error_doc("URL too long"),
    500: error_doc("A device failed during the search"),
    503: error_doc("Every device busy and the waiting line full, or devices not initialised"),
    504: error_doc("No work found within SOLVER_TIMEOUT_SECONDS"),
}


def create_app(settings: SolverSettings, devices: Sequence[SearchDevice] | None = None,
               own_devices: bool = False) -> FastAPI:
    """The worker server. Its device pool lives from start-up to shutdown. ``devices`` are used as
    given, and closed at shutdown only with ``own_devices``; without them, devices are discovered
    from ``settings`` at start-up and closed at shutdown."""
    metrics = SolverMetrics()
    state: dict[str, Any] = {}  # "pool" and its "searches", from start-up to shutdown

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        found = list(devices) if devices is not None else await asyncio.to_thread(_discover, settings)
        pool = DevicePool(found, metrics, max_queue=settings.max_queue,
                          close_devices=devices is None or own_devices)
        state["pool"] = app.state.pool = pool  # app.state: for atto-work up's in-process adapter
        state["searches"] = SharedSearches(pool, metrics)
        log.info("devices ready", extra={"devices": [d.name for d in found]})
        try:
            yield
        finally:
            state.clear()
            app.state.pool = None
            # Closing waits for each device's launch in flight: off the event loop, which may
            # serve other apps (``atto-work up``) meanwhile.
            await asyncio.to_thread(pool.close)

    app = FastAPI(
        title="atto-work worker server",
        description="Finds Atto proof-of-work on OpenCL devices (GPUs, CPUs through PoCL) or NumPy.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.add_middleware(RequestLimits)
    install_error_handlers(app)

    async def ready() -> dict[str, object]:
        pool = state.get("pool")
        return {"devices": len(pool.devices) if pool else 0}

    add_probes(app, ready, registry=metrics.registry)
    app.state.metrics = metrics
    app.state.settings = settings

    async def search(request: Request, target: bytes, limit: int,
                     rule: Rule = Rule.ATTO) -> Solution | JSONResponse:
        """The work for ``target`` at ``limit`` (a threshold or a Nano difficulty, per ``rule``),
        or the error to answer."""
        hashes = rule.expected_hashes(limit)
        if hashes > settings.max_expected_hashes:
            what = "difficulty" if rule is Rule.NANO else "threshold"
            return error(400, f"{what} needs {hashes:.3g} hashes on average, more than this server "
                              f"takes ({settings.max_expected_hashes:.3g}, SOLVER_MAX_EXPECTED_HASHES)")
        searches = state.get("searches")
        if searches is None:
            return error(503, "devices are not initialised")
        handler = asyncio.current_task()
        assert handler is not None
        gone = False

        async def watch() -> None:
            """Cancel the handler when the client hangs up. The body is read by now, so the
            server's receive channel has nothing more to say but ``http.disconnect``: waiting on
            it costs nothing per request, where polling ``is_disconnected`` woke every 0.1 s."""
            nonlocal gone
            while (await request.receive())["type"] != "http.disconnect":
                pass
            gone = True
            handler.cancel()

        labels = {"hash": format_target(target), "threshold": limit, "rule": rule.name}
        watcher = asyncio.ensure_future(watch())
        try:
            solution = await searches.solve(target, limit, settings.timeout_seconds, rule)
        except asyncio.CancelledError:
            if not gone:
                raise  # the server itself is stopping
            handler.uncancel()
            log.info("client went away", extra=labels)
            return error(499, "client closed the request")
        except SearchTimeout:
            metrics.errors.labels("timeout").inc()
            log.warning("search timed out", extra=labels)
            return error(504, f"no work found within {settings.timeout_seconds:g} s")
        except QueueFull as exc:
            metrics.errors.labels("queue_full").inc()
            return error(503, f"busy: {exc}", headers={"Retry-After": "1"})
        except Cancelled as exc:
            log.info("search cancelled", extra=labels)
            return error(409, str(exc))
        except DeviceFailure as exc:
            return error(500, str(exc))
        finally:
            watcher.cancel()
        # One line per work (a LOCAL work may take a millisecond): built only when it is written.
        if log.isEnabledFor(logging.INFO):
            log.info("work found", extra={**labels, "work": rule.format_work(solution.work),
                                          "device": solution.device, "hashes": solution.hashes,
                                          "seconds": round(solution.seconds, 4)})
        return solution

    async def solve(request: Request, target: bytes, limit: int) -> JSONResponse:
        """The Atto routes' answer: ``{"work"}`` or the error."""
        found = await search(request, target, limit)
        if isinstance(found, JSONResponse):
            return found
        return JSONResponse({"work": format_work(found.work)})

    def cancel_searches(target: bytes) -> int | None:
        """Stop every search for ``target``: how many (None: no devices yet)."""
        pool = state.get("pool")
        if pool is None:
            return None
        cancelled = pool.cancel(target)
        if cancelled:
            log.info("searches cancelled", extra={"hash": format_target(target), "cancelled": cancelled})
        return cancelled

    # SOLVER_TOKEN, when set, is required on the work routes (the probes stay open for orchestrators).
    token = settings.token.get_secret_value() if settings.token else None
    tokens = BearerTokens([token] if token else [], realm="atto-work-solver")
    require_token = [Depends(token_dependency(tokens))]

    @app.post("/works/{hash}", response_model=WorkResponse, responses=_ERRORS, tags=["work"],
              dependencies=require_token,
              summary="Find a work for a hash at an explicit threshold (worker-server contract)")
    async def works_for_hash(
        request: Request,
        body: ThresholdRequest,
        hash: HashPath,
    ) -> JSONResponse:
        return await solve(request, parse_target(hash), body.threshold)

    @app.post("/works", response_model=WorkResponse, responses=_ERRORS, tags=["work"],
              dependencies=require_token,
              summary="Find a work for a network and timestamp (Atto work-server contract)")
    async def works(request: Request, body: WorkServerRequest) -> JSONResponse:
        check_not_future(body.timestamp, settings.max_clock_skew_seconds)
        return await solve(request, body.target, threshold(body.network, body.timestamp))

    @app.delete("/works/{hash}", response_model=CancelResponse,
                responses={k: _ERRORS[k] for k in (400, 401, 414)} | {
                    404: error_doc("No search for this hash is queued or running"),
                    503: error_doc("Devices not initialised")},
                tags=["work"], dependencies=require_token,
                summary="Stop every queued or running search for a hash")
    async def cancel(
        hash: HashPath,
    ) -> JSONResponse:
        target = parse_target(hash)
        cancelled = cancel_searches(target)
        if cancelled is None:
            return error(503, "devices are not initialised")
        if not cancelled:
            return error(404, f"no search for {format_target(target)} is queued or running")
        return JSONResponse({"hash": format_target(target), "cancelled": cancelled})

    rpc.add_route(app, search, cancel_searches, dependencies=require_token, errors=_ERRORS)
    _document_400_not_422(app)
    return app


def _discover(settings: SolverSettings) -> list[SearchDevice]:
    from solver.backends import discover

    return discover(settings.backend, settings.devices)


def _document_400_not_422(app: FastAPI) -> None:
    """Validation errors answer 400 here (``install_error_handlers``): drop FastAPI's 422 entries."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
