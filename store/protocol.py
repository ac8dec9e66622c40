"""The work-state protocol: what the coordinator asks of its store, and the answers' shapes.

One search per hash. A request for hash H carries its own threshold (lower is stricter in Atto: a
work meeting a threshold meets every higher one), callback, caller and deadline. The store decides
atomically, even across coordinator replicas sharing it:

- ``submit``: answered from the cache, joined to a pending search at least as strict, or queued (the
  caller publishes a search at this threshold; exactly one submitter is told to).
- ``complete``: a found work is cached; the requests it satisfies are claimed for delivery by this
  caller alone (for ``lease`` seconds), the others stay pending.
- ``finish`` after their callbacks, or ``release`` so that the next ``complete`` (the result message
  redelivered) claims them again.
- ``cancel``, ``expire``: remove pending requests; say when nobody waits for H any more, so that its
  search can stop everywhere.

Hashes are the canonical 64 upper-case hex characters (``work.format_target``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol


class Decision(enum.Enum):
    CACHED = "cached"  # a cached work satisfies it: call back now, publish nothing
    JOINED = "joined"  # a pending search is at least as strict: publish nothing
    QUEUED = "queued"  # publish a search at this request's threshold


class State(enum.Enum):
    QUEUED = "queued"
    DONE = "done"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Request:
    """One caller's request: every request gets its own callback."""

    id: str
    hash: str
    threshold: int
    callback: str
    caller: str | None  # who may cancel it (an API key's digest); None without API keys
    deadline: float  # epoch seconds; unanswered by then, it expires


@dataclass(frozen=True)
class Submitted:
    decision: Decision
    request: Request
    work: bytes | None = None  # the cached work when ``decision`` is CACHED


@dataclass(frozen=True)
class Completion:
    """What one found work means for the requests of its hash."""

    deliver: tuple[Request, ...]  # claimed by this caller: call them back, then finish or release
    pending: int  # requests this work does not satisfy (their threshold is stricter)
    strictest: int | None  # the strictest pending threshold
    requeue: Request | None  # set when no search strict enough runs: publish one for this request
    in_flight: int  # satisfied requests another caller is delivering now (its lease is running)


@dataclass(frozen=True)
class Status:
    hash: str
    state: State
    threshold: int
    work: bytes | None = None  # when ``state`` is DONE and the work is still cached


@dataclass(frozen=True)
class Cancelled:
    count: int  # pending requests cancelled
    stop: bool  # no request for the hash waits any more: its search should stop


@dataclass(frozen=True)
class Expired:
    hash: str
    count: int  # requests of this hash that expired
    stop: bool  # none is left waiting: its search should stop


class WorkStore(Protocol):
    """Work state shared by coordinator replicas. Every method raises ``StoreUnavailable`` when the
    backend cannot answer."""

    async def start(self) -> None:
        """Connect (and check that the backend answers)."""

    async def close(self) -> None:
        """Release connections."""

    async def ping(self) -> bool:
        """Whether the store answers now (for readiness probes)."""

    async def submit(
        self, hash: str, threshold: int, callback: str, caller: str | None, deadline: float
    ) -> Submitted:
        """Record a request, or answer it from the cache; raises ``RequestLimit`` when H is full."""

    async def withdraw(self, request: Request) -> None:
        """Undo a ``submit`` whose search could not be published (the queue refused it)."""

    async def forget_search(self, hash: str) -> None:
        """The search recorded for H was not published after all (a requeue the queue refused): the
        next ``complete`` or ``submit`` for H queues one again."""

    async def complete(self, hash: str, work: bytes, difficulty: int, lease: float) -> Completion:
        """Cache ``work`` and claim, for ``lease`` seconds, the pending requests it satisfies."""

    async def finish(self, hash: str, ids: list[str]) -> None:
        """Forget claimed requests whose callbacks are done (delivered, or given up)."""

    async def release(self, hash: str, ids: list[str]) -> None:
        """Give claimed requests back: the next ``complete`` for the hash claims them again."""

    async def status(self, hash: str) -> Status | None:
        """The state of H, or None when the store knows nothing of it."""

    async def cancel(self, hash: str, caller: str | None) -> Cancelled:
        """Cancel the pending requests of ``caller`` (every caller's when None)."""

    async def expire(self, now: float, limit: int = 1000) -> list[Expired]:
        """Remove up to ``limit`` pending requests whose deadline is before ``now``, per hash."""

    async def is_live(self, hash: str) -> bool:
        """Whether any request still waits for H (before its deadline): its search is worth running."""
