"""What the adapter needs from a worker server, and nothing more: ``WorkerClient``.

Two implementations: ``worker_adapter.http_worker.HttpWorkerClient`` (``WORKER_URL``, the worker
server's HTTP API) and, in ``atto-work up``, an in-process one that calls the worker server's device
pool directly (``atto_work.embedded``), so nothing of the worker server's HTTP layer runs inside the
adapter's message handlers. Either way the adapter checks every work it gets with ``work``.
"""

from __future__ import annotations

from typing import Protocol

from messaging import Redeliver


class WorkerFailed(Redeliver):
    """The worker server did not return a usable work (unreachable, timeout, error, bad answer):
    the request is nacked and comes back later."""


class WorkerClient(Protocol):
    #: Which worker server this is, for logs (its URL, or "in-process").
    name: str

    async def solve(self, target: bytes, threshold: int, time_limit: float) -> bytes:
        """A work for ``target`` meant to meet ``threshold``, within ``time_limit`` seconds.

        Raises ``WorkerFailed``; cancelling the caller abandons the search.
        """

    async def cancel(self, target: bytes) -> None:
        """Stop the worker server's searches for ``target`` (their ``solve`` calls fail); a failure
        to reach it is logged, not raised."""

    async def ready(self) -> bool:
        """Whether the worker server can take works now."""

    async def capacity(self) -> int | None:
        """How many works the worker server runs at once, or None when it does not say."""

    async def close(self) -> None:
        """Release connections."""


def capacity_from_ready(body: object) -> int | None:
    """The number of works a worker server runs at once, read from its ``/ready`` body.

    Looks for an integer ``capacity`` (or ``concurrency``), at the top or under ``checks``, else
    takes ``devices`` (a count, as ``atto-work solver`` answers, or a list).
    """
    if not isinstance(body, dict):
        return None
    for where in (body, body.get("checks")):
        if not isinstance(where, dict):
            continue
        for key in ("capacity", "concurrency"):
            value = where.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
        devices = where.get("devices")  # the worker server runs one work per device
        if isinstance(devices, int) and not isinstance(devices, bool) and devices > 0:
            return devices
        if isinstance(devices, list) and devices:
            return len(devices)
    return None
