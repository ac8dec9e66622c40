"""``HttpWorkerClient``: a worker server over HTTP (``WORKER_URL``) on aiohttp's public API.

It speaks one of two request shapes (``WORKER_PROTOCOL``): ``works``, our worker server's
``POST /works/{hash}`` (``DELETE`` to cancel), or ``rpc``, the nano-work-server RPC that the Kotlin
reference adapter sends: ``{"action": "work_generate", "hash", "threshold"}`` POSTed to the URL as
given (``work_cancel`` to cancel). Either answers ``{"work"}``, or ``{"error"}`` on a failure.

One session for the adapter's life: connections are kept alive and reused (one per request in
flight, however many), the environment's proxies are not used (``trust_env=False``), redirects are
not followed, a connection must open within ``WORKER_CONNECT_TIMEOUT_SECONDS`` and an answer come
within the caller's limit (``WORKER_TIMEOUT_SECONDS`` for a work), and an answer is read only up to
``MAX_ANSWER_BYTES``.
"""

from __future__ import annotations

import json
import logging

import aiohttp

from work import WorkError, format_target, parse_work
from worker_adapter.settings import AdapterSettings
from worker_adapter.worker_client import WorkerFailed, capacity_from_ready

log = logging.getLogger(__name__)

#: A worker server's answers are tens of bytes (``{"work": "..."}``, a ``/ready`` body).
MAX_ANSWER_BYTES = 4096
#: Connect and read limit of a probe (``/ready``, ``/health``) and a cancel: it must answer at once.
PROBE_SECONDS = 5.0
#: What a server without a route for a probe answers.
NO_PROBES = (404, 405)


class HttpWorkerClient:
    def __init__(self, settings: AdapterSettings) -> None:
        self.name = settings.worker_url
        self.rpc = settings.worker_protocol == "rpc"
        #: Where the RPC is POSTed: the URL exactly as given, as the reference adapter does.
        self.rpc_url = settings.worker_url
        #: What ``/works/{hash}`` and the probes hang from.
        self.url = settings.worker_url.rstrip("/")
        self._connect = settings.worker_connect_timeout_seconds
        token = settings.solver_token
        self._headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """Made on first use, on the event loop that uses it."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),  # the broker's flow control bounds requests
                headers=self._headers, trust_env=False, raise_for_status=False)
        return self._session

    def _timeout(self, read: float) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(connect=min(self._connect, read), sock_read=read)

    async def _call(self, method: str, url: str, read: float, body: object = None) -> tuple[int, bytes]:
        """The status and the (bounded) body of one call; ``WorkerFailed`` when there is none."""
        try:
            async with self.session.request(method, url, json=body,
                                            timeout=self._timeout(read), allow_redirects=False) as answer:
                too_long = WorkerFailed(f"answered {answer.status} with more than {MAX_ANSWER_BYTES} bytes")
                if (answer.content_length or 0) > MAX_ANSWER_BYTES:
                    raise too_long
                data = bytearray()
                async for chunk in answer.content.iter_any():  # no or a false Content-Length
                    data += chunk
                    if len(data) > MAX_ANSWER_BYTES:
                        raise too_long
                return answer.status, bytes(data)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise WorkerFailed(f"{type(exc).__name__}: {exc}") from None

    async def solve(self, target: bytes, threshold: int, time_limit: float) -> bytes:
        hash, limit = format_target(target), str(threshold)
        if self.rpc:  # the fields, their order and the threshold string of the reference's call
            url, request = self.rpc_url, {"action": "work_generate", "hash": hash, "threshold": limit}
        else:
            url, request = f"{self.url}/works/{hash}", {"threshold": limit}
        status, body = await self._call("POST", url, time_limit, request)
        answer = _json(body)
        if not isinstance(answer, dict):
            raise WorkerFailed(f"answered {status} {body[:200]!r}")
        if "error" in answer:  # an RPC server may say it with a 200
            raise WorkerFailed(f"answered {status} error {str(answer['error'])[:200]!r}")
        if status != 200:
            raise WorkerFailed(f"answered {status} {body[:200]!r}")
        try:
            return parse_work(answer.get("work"))
        except WorkError as exc:
            raise WorkerFailed(f"unusable answer {body[:200]!r}: {exc}") from None

    async def cancel(self, target: bytes) -> None:
        hash = format_target(target)
        try:
            if self.rpc:
                status, body = await self._call("POST", self.rpc_url, PROBE_SECONDS,
                                                {"action": "work_cancel", "hash": hash})
            else:
                status, body = await self._call("DELETE", f"{self.url}/works/{hash}", PROBE_SECONDS)
        except WorkerFailed as exc:
            log.warning("could not cancel the search on the worker server: %s", exc)
            return
        answer = _json(body)
        refused = isinstance(answer, dict) and "error" in answer and self.rpc
        if refused or status not in (200, 404):  # 404: it had already finished
            log.warning("worker server answered %d %r to a cancel", status, body[:200])

    async def _ready_body(self) -> object | None:
        """The ``/ready`` body when the worker server says it is ready, else None. One without a
        ``/ready`` (404) is ready when its ``/health`` answers 200; an RPC server with neither
        (nano-work-server serves only ``POST /``) when it answers at all."""
        try:
            status, body = await self._call("GET", f"{self.url}/ready", PROBE_SECONDS)
            if status == 404:
                status, body = await self._call("GET", f"{self.url}/health", PROBE_SECONDS)
        except WorkerFailed:
            return None
        if status == 200:
            answer = _json(body)
            return {} if answer is None else answer
        return {} if self.rpc and status in NO_PROBES else None

    async def ready(self) -> bool:
        return await self._ready_body() is not None

    async def capacity(self) -> int | None:
        return capacity_from_ready(await self._ready_body())

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _json(body: bytes) -> object | None:
    try:
        return json.loads(body)
    except ValueError:
        return None
