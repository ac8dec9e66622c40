"""The in-process store (``STORE_URL=memory://``): the embedded default, one coordinator process.

Atomic because no method awaits between reading and writing the state: on one event loop, two
submits of the same hash run one after the other. Bounded: a hash holds at most ``max_requests``
requests; cached works and terminal states are dropped once old (by ``expire``, which the
coordinator's deadline sweep calls every second).
"""

from __future__ import annotations

import heapq
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from store.errors import RequestLimit
from store.protocol import Cancelled, Completion, Decision, Expired, Request, State, Status, Submitted

_PENDING = 0.0  # a record's claim: not claimed; any other value is the end of a delivery's lease
_RELEASED = 1.0  # a lease that ended at once: the next complete claims the record again


@dataclass
class _Record:
    request: Request
    claim: float = _PENDING


@dataclass
class _Hash:
    records: dict[str, _Record] = field(default_factory=dict)
    search: int | None = None  # the threshold of the strictest search published and not finished

    def pending(self) -> list[Request]:
        return [r.request for r in self.records.values() if r.claim == _PENDING]


class MemoryStore:
    def __init__(
        self, cache_seconds: float = 3600.0, max_requests: int = 1000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._cache_seconds = cache_seconds
        self._max_requests = max_requests
        self._clock = clock
        self._hashes: dict[str, _Hash] = {}
        self._deadlines: list[tuple[float, str, str]] = []  # a heap of (deadline, hash, request id)
        # Both keyed by hash, in the order of their last write, so the oldest come first.
        self._works: dict[str, tuple[bytes, int, float]] = {}  # work, difficulty, kept until
        self._finals: dict[str, tuple[State, int, float]] = {}  # state, threshold, kept until

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def ping(self) -> bool:
        return True

    async def submit(
        self, hash: str, threshold: int, callback: str, caller: str | None, deadline: float
    ) -> Submitted:
        now = self._clock()
        request = Request(uuid.uuid4().hex, hash, threshold, callback, caller, deadline)
        cached = self._work(hash, now)
        if cached is not None and cached[1] <= threshold:
            self._final(hash, State.DONE, threshold, now)
            return Submitted(Decision.CACHED, request, cached[0])
        entry = self._hashes.setdefault(hash, _Hash())
        if len(entry.records) >= self._max_requests:
            raise RequestLimit(f"{len(entry.records)} requests already wait for this hash")
        entry.records[request.id] = _Record(request)
        heapq.heappush(self._deadlines, (deadline, hash, request.id))
        if entry.search is not None and entry.search <= threshold:
            return Submitted(Decision.JOINED, request)
        entry.search = threshold
        return Submitted(Decision.QUEUED, request)

    async def withdraw(self, request: Request) -> None:
        entry = self._hashes.get(request.hash)
        if entry is None:
            return
        record = entry.records.get(request.id)
        if record is not None and record.claim == _PENDING:
            del entry.records[request.id]
        entry.search = None  # its search was never published
        self._forget_if_empty(request.hash, entry)

    async def forget_search(self, hash: str) -> None:
        entry = self._hashes.get(hash)
        if entry is not None:
            entry.search = None
            self._forget_if_empty(hash, entry)

    async def complete(self, hash: str, work: bytes, difficulty: int, lease: float) -> Completion:
        now = self._clock()
        cached = self._work(hash, now)
        if cached is None or difficulty < cached[1]:
            self._works.pop(hash, None)
            self._works[hash] = (work, difficulty, now + self._cache_seconds)
        entry = self._hashes.get(hash) or _Hash()
        deliver: list[Request] = []
        pending: list[Request] = []
        in_flight = 0
        for record in entry.records.values():
            satisfied = record.request.threshold >= difficulty
            if record.claim > now:
                in_flight += 1
            elif satisfied:
                record.claim = now + lease
                deliver.append(record.request)
            elif record.claim == _PENDING:
                pending.append(record.request)
        if deliver:
            self._final(hash, State.DONE, min(r.threshold for r in deliver), now)
        strictest = min(pending, key=lambda r: r.threshold) if pending else None
        requeue = None
        if strictest is None:
            entry.search = None
        elif entry.search is None or entry.search > strictest.threshold:
            entry.search = strictest.threshold
            requeue = strictest
        return Completion(tuple(deliver), len(pending), strictest and strictest.threshold, requeue,
                          in_flight)

    async def finish(self, hash: str, ids: list[str]) -> None:
        entry = self._hashes.get(hash)
        if entry is not None:
            for id in ids:
                entry.records.pop(id, None)
            self._forget_if_empty(hash, entry)

    async def release(self, hash: str, ids: list[str]) -> None:
        entry = self._hashes.get(hash)
        for id in ids:
            record = entry.records.get(id) if entry else None
            if record is not None and record.claim != _PENDING:
                record.claim = _RELEASED

    async def status(self, hash: str) -> Status | None:
        now = self._clock()
        entry = self._hashes.get(hash)
        pending = entry.pending() if entry else []
        if entry and pending:
            threshold = entry.search if entry.search is not None else min(r.threshold for r in pending)
            return Status(hash, State.QUEUED, threshold)
        final = self._finals.get(hash)
        if final is None or final[2] <= now:
            return None
        cached = self._work(hash, now) if final[0] is State.DONE else None
        return Status(hash, final[0], final[1], cached[0] if cached else None)

    async def cancel(self, hash: str, caller: str | None) -> Cancelled:
        entry = self._hashes.get(hash)
        if entry is None:
            return Cancelled(0, True)
        cancelled = [r for r in entry.pending() if caller is None or r.caller == caller]
        for request in cancelled:
            del entry.records[request.id]
        left = bool(entry.pending())
        if not left:
            entry.search = None
        if cancelled:
            self._final(hash, State.CANCELLED, min(r.threshold for r in cancelled), self._clock())
        self._forget_if_empty(hash, entry)
        return Cancelled(len(cancelled), not left)

    async def expire(self, now: float, limit: int = 1000) -> list[Expired]:
        expired: dict[str, list[Request]] = {}
        while self._deadlines and self._deadlines[0][0] <= now and limit > 0:
            _, hash, id = heapq.heappop(self._deadlines)
            entry = self._hashes.get(hash)
            record = entry.records.get(id) if entry else None
            if entry is None or record is None or record.claim != _PENDING:
                continue  # answered, cancelled or being delivered
            limit -= 1
            del entry.records[id]
            expired.setdefault(hash, []).append(record.request)
        answers = []
        for hash, requests in expired.items():
            entry = self._hashes[hash]
            stop = not entry.pending()
            if stop:
                entry.search = None
            self._final(hash, State.EXPIRED, min(r.threshold for r in requests), now)
            self._forget_if_empty(hash, entry)
            answers.append(Expired(hash, len(requests), stop))
        self._drop_old(now)
        return answers

    async def is_live(self, hash: str) -> bool:
        entry = self._hashes.get(hash)
        now = self._clock()
        return entry is not None and any(r.deadline > now for r in entry.pending())

    def _work(self, hash: str, now: float) -> tuple[bytes, int, float] | None:
        cached = self._works.get(hash)
        return cached if cached is not None and cached[2] > now else None

    def _final(self, hash: str, state: State, threshold: int, now: float) -> None:
        self._finals.pop(hash, None)
        self._finals[hash] = (state, threshold, now + self._cache_seconds)

    def _forget_if_empty(self, hash: str, entry: _Hash) -> None:
        if not entry.records and entry.search is None:
            self._hashes.pop(hash, None)

    def _drop_old(self, now: float) -> None:
        for kept in (self._works, self._finals):
            while kept and next(iter(kept.values()))[2] <= now:
                del kept[next(iter(kept))]
