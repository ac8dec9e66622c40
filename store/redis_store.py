"""The Redis store (``STORE_URL=redis://host:port/db``): one work state for every coordinator replica.

Decisions are Lua scripts (``store.redis_scripts``), sent in batches under load
(``store.redis_batch``); reads are MULTI pipelines. Every call has a
socket timeout, and a connection or timeout error becomes ``StoreUnavailable``: the caller answers
503 or nacks, and nothing hangs. One retry lets a call get past a pooled connection that a Redis
restart closed. Works with a single Redis (or Memorystore for Redis), not Redis Cluster: the
deadline sweep reaches the keys of many hashes.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError, ReadOnlyError, TimeoutError

from store import redis_scripts
from store.errors import RequestLimit, StoreUnavailable
from store.protocol import Cancelled, Completion, Decision, Expired, Request, State, Status, Submitted
from store.redis_batch import ScriptBatcher

_DOWN = (ConnectionError, TimeoutError, ReadOnlyError)


@contextmanager
def _reachable() -> Iterator[None]:
    try:
        yield
    except _DOWN as exc:
        raise StoreUnavailable(f"the work-state store is unavailable: {exc}") from exc


def _digits(number: int) -> str:
    """A u64 as 20 decimal digits, so that string order is number order (in Lua too)."""
    return f"{number:020d}"


def _encode(request: Request) -> str:
    body = {"cb": request.callback, "k": request.caller, "d": request.deadline}
    return _digits(request.threshold) + json.dumps(body, separators=(",", ":"))


def _decode(hash: str, id: str, value: str) -> Request:
    body = json.loads(value[20:])
    return Request(id, hash, int(value[:20]), body["cb"], body["k"], body["d"])


class RedisStore:
    def __init__(
        self, url: str, *, timeout: float = 2.0, cache_seconds: float = 3600.0, max_requests: int = 1000,
        prefix: str = "atto-work:", clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=True,
            retry=Retry(NoBackoff(), 1), retry_on_error=[ConnectionError],
        )
        self._cache_seconds = cache_seconds
        self._max_requests = max_requests
        self._prefix = prefix
        self._clock = clock
        self._scripts = ScriptBatcher(self._redis, {
            "submit": redis_scripts.SUBMIT, "complete": redis_scripts.COMPLETE,
            "cancel": redis_scripts.CANCEL, "expire": redis_scripts.EXPIRE,
            "finish": redis_scripts.FINISH, "release": redis_scripts.RELEASE})

    def _key(self, hash: str, name: str) -> str:
        return f"{self._prefix}{{{hash}}}:{name}"

    def _keys(self, hash: str, *names: str) -> list[str]:
        return [self._key(hash, name) for name in names] + [f"{self._prefix}deadlines"]

    async def start(self) -> None:
        with _reachable():
            await self._scripts.load()

    async def close(self) -> None:
        await self._scripts.close()
        await self._redis.aclose()

    async def ping(self) -> bool:
        try:
            with _reachable():
                return bool(await self._redis.ping())
        except StoreUnavailable:
            return False

    async def submit(
        self, hash: str, threshold: int, callback: str, caller: str | None, deadline: float
    ) -> Submitted:
        request = Request(uuid.uuid4().hex, hash, threshold, callback, caller, deadline)
        # The hash's keys live as long as this request may wait (and a minute more for the sweep).
        ttl = max(1, int(deadline - self._clock()) + 60)
        with _reachable():
            answer = await self._scripts.call(
                "submit", self._keys(hash, "req", "claim", "search", "work", "final"),
                [request.id, _encode(request), _digits(threshold), deadline, hash,
                 self._max_requests, ttl, int(self._cache_seconds)],
            )
        if answer[0] == "full":
            raise RequestLimit(f"{answer[1]} requests already wait for this hash")
        if answer[0] == "cached":
            return Submitted(Decision.CACHED, request, bytes.fromhex(answer[1]))
        return Submitted(Decision(answer[0]), request)

    async def withdraw(self, request: Request) -> None:
        await self._run_cancel(request.hash, "id", request.id)

    async def forget_search(self, hash: str) -> None:
        with _reachable():
            await self._redis.delete(self._key(hash, "search"))

    async def complete(self, hash: str, work: bytes, difficulty: int, lease: float) -> Completion:
        now = self._clock()
        with _reachable():
            pending, strictest, requeue, in_flight, deliver = await self._scripts.call(
                "complete", self._keys(hash, "req", "claim", "search", "work", "final"),
                [work.hex().upper(), _digits(difficulty), now, now + lease, int(self._cache_seconds), hash],
            )
        pairs = zip(deliver[::2], deliver[1::2], strict=True)
        requests = tuple(_decode(hash, id, value) for id, value in pairs)
        return Completion(requests, int(pending), int(strictest) if strictest else None,
                          _decode(hash, *requeue) if requeue else None, int(in_flight))

    async def finish(self, hash: str, ids: list[str]) -> None:
        if ids:
            with _reachable():
                await self._scripts.call("finish", [self._key(hash, "req"), self._key(hash, "claim")], ids)

    async def release(self, hash: str, ids: list[str]) -> None:
        if ids:
            with _reachable():
                await self._scripts.call("release", [self._key(hash, "claim")], ids)

    async def status(self, hash: str) -> Status | None:
        with _reachable():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hgetall(self._key(hash, "req"))
                pipe.hkeys(self._key(hash, "claim"))
                pipe.get(self._key(hash, "search"))
                pipe.get(self._key(hash, "work"))
                pipe.get(self._key(hash, "final"))
                records, claims, search, cached, final = await pipe.execute()
        pending = [value for id, value in records.items() if id not in set(claims)]
        if pending:
            threshold = int(search) if search else min(int(value[:20]) for value in pending)
            return Status(hash, State.QUEUED, threshold)
        if final is None:
            return None
        state, threshold = final.split(" ")
        work = bytes.fromhex(cached[:16]) if cached and state == State.DONE.value else None
        return Status(hash, State(state), int(threshold), work)

    async def cancel(self, hash: str, caller: str | None) -> Cancelled:
        count, left = await self._run_cancel(hash, "all" if caller is None else "caller", caller or "")
        return Cancelled(int(count), int(left) == 0)

    async def _run_cancel(self, hash: str, mode: str, who: str) -> list[int]:
        with _reachable():
            return await self._scripts.call("cancel", self._keys(hash, "req", "claim", "search", "final"),
                                            [mode, who, hash, int(self._cache_seconds)])

    async def expire(self, now: float, limit: int = 1000) -> list[Expired]:
        with _reachable():
            out = await self._scripts.call("expire", [f"{self._prefix}deadlines"],
                                           [now, limit, self._prefix, int(self._cache_seconds)])
        rows = zip(out[::3], out[1::3], out[2::3], strict=True)
        return [Expired(h, int(n), bool(int(stop))) for h, n, stop in rows]

    async def is_live(self, hash: str) -> bool:
        with _reachable():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hgetall(self._key(hash, "req"))
                pipe.hkeys(self._key(hash, "claim"))
                records, claims = await pipe.execute()
        now = self._clock()
        return any(_decode(hash, id, value).deadline > now
                   for id, value in records.items() if id not in claims)
