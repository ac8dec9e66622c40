"""``HttpWorkerClient``: the worker server's HTTP API (``WORKER_URL``) on aiohttp's public API.

One session for the adapter's life: connections are kept alive and reused (one per request in
flight, however many), the environment's proxies are not used (``trust_env=False``), redirects are
not followed, a connection must open within ``CONNECT_SECONDS`` and an answer come within the
caller's limit (``WORKER_TIMEOUT_SECONDS`` for a work), and an answer is read only up to
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
#: Connect and read limit of a probe (``/ready``, ``/health``): it must answer at once.
PROBE_SECONDS = 5.0
#: Opening a connection: the worker server runs beside the adapter (its pod, its compose network),
#: so this is about a dead or overloaded peer, not about distance; it needs no setting.
CONNECT_SECONDS = 5.0


class HttpWorkerClient:
    def __init__(self, settings: AdapterSettings) -> None:
        self.name = settings.worker_url
        self.url = settings.worker_url.rstrip("/")
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
        return aiohttp.ClientTimeout(connect=min(CONNECT_SECONDS, read), sock_read=read)

    async def _call(self, method: str, path: str, read: float, body: object = None) -> tuple[int, bytes]:
        """The status and the (bounded) body of one call; ``WorkerFailed`` when there is none."""
        try:
            async with self.session.request(method, f"{self.url}{path}", json=body,
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
        status, body = await self._call("POST", f"/works/{format_target(target)}", time_limit,
                                        {"threshold": str(threshold)})
        if status != 200:
            raise WorkerFailed(f"answered {status} {body[:200]!r}")
        try:
            return parse_work(json.loads(body)["work"])
        except (ValueError, KeyError, TypeError, WorkError) as exc:
            raise WorkerFailed(f"unusable answer {body[:200]!r}: {exc}") from None

    async def cancel(self, target: bytes) -> None:
        try:
            status, body = await self._call("DELETE", f"/works/{format_target(target)}", PROBE_SECONDS)
        except WorkerFailed as exc:
            log.warning("could not cancel the search on the worker server: %s", exc)
            return
        if status not in (200, 404):  # 404: it had already finished
            log.warning("worker server answered %d %r to a cancel", status, body[:200])

    async def _ready_body(self) -> object | None:
        """The ``/ready`` body when the worker server says it is ready, else None. One without a
        ``/ready`` (404) is ready when its ``/health`` answers 200."""
        try:
            status, body = await self._call("GET", "/ready", PROBE_SECONDS)
            if status == 404:
                status, body = await self._call("GET", "/health", PROBE_SECONDS)
        except WorkerFailed:
            return None
        if status != 200:
            return None
        try:
            return json.loads(body)
        except ValueError:
            return {}

    async def ready(self) -> bool:
        return await self._ready_body() is not None

    async def capacity(self) -> int | None:
        return capacity_from_ready(await self._ready_body())

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
