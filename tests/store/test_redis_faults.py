"""The Redis store when Redis fails: one clear error (StoreUnavailable) fast, never a hang; and
back to work once Redis is back. Each test runs its own redis-server, which it kills or freezes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from harness.redis_server import RedisServer
from store import Decision, StoreUnavailable
from store.redis_store import RedisStore

H = "C" * 64
TIMEOUT = 1.0
#: A failing call may take its socket timeout twice (one retry for a connection a restart closed);
#: the bound is generous for a loaded machine and still far from a hang.
WITHIN = 8 * TIMEOUT


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
async def store(server: RedisServer) -> AsyncIterator[RedisStore]:
    store = RedisStore(server.url, timeout=TIMEOUT)
    await store.start()
    yield store
    await store.close()


async def _calls(store: RedisStore):
    deadline = time.time() + 60
    submitted = await store.submit(H, 1000, "http://127.0.0.1:9/", None, deadline)
    return [
        lambda: store.submit(H, 1000, "http://127.0.0.1:9/", None, deadline),
        lambda: store.withdraw(submitted.request),
        lambda: store.forget_search(H),
        lambda: store.complete(H, b"\0" * 8, 10, 30),
        lambda: store.finish(H, [submitted.request.id]),
        lambda: store.release(H, [submitted.request.id]),
        lambda: store.status(H),
        lambda: store.cancel(H, None),
        lambda: store.expire(time.time()),
        lambda: store.is_live(H),
    ]


async def _every_call_fails_fast(store: RedisStore, calls) -> None:
    for call in calls:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await call()
        assert time.monotonic() - started < WITHIN
    assert await store.ping() is False


async def test_a_killed_redis_fails_every_call_fast_and_a_restarted_one_serves_again(
        server: RedisServer, store: RedisStore):
    calls = await _calls(store)
    server.kill()
    await _every_call_fails_fast(store, calls)
    server.start()  # same port, empty: what was pending is gone with the old process
    assert await store.ping() is True
    again = await store.submit(H, 1000, "http://127.0.0.1:9/", None, time.time() + 60)
    assert again.decision is Decision.QUEUED


async def test_a_frozen_redis_times_out_instead_of_hanging(server: RedisServer, store: RedisStore):
    calls = await _calls(store)
    server.pause()
    try:
        await _every_call_fails_fast(store, calls[:2])
    finally:
        server.resume()
    assert (await store.status(H)).threshold == 1000


async def test_every_key_of_a_hash_expires(server: RedisServer, store: RedisStore):
    """Nothing outlives its use: each key carries a TTL (the deadlines index is emptied by the sweep)."""
    from redis import asyncio as aioredis

    submitted = await store.submit(H, 1000, "http://127.0.0.1:9/", "k", time.time() + 60)
    done = await store.complete(H, b"\1" * 8, 10, 30)
    await store.submit(H, 5, "http://127.0.0.1:9/", "k", time.time() + 60)
    await store.cancel(H, "k")
    assert [r.id for r in done.deliver] == [submitted.request.id]
    client = aioredis.Redis.from_url(server.url, decode_responses=True)
    try:
        keys = [key async for key in client.scan_iter(f"*{H}*")]
        assert sorted(k.rsplit(":", 1)[1] for k in keys) == ["claim", "final", "req", "work"]
        for key in keys:
            assert 0 < await client.ttl(key) <= 3600 + 60, key
    finally:
        await client.aclose()


async def test_scripts_redis_forgot_are_loaded_again_and_nothing_runs_twice(server: RedisServer,
                                                                             store: RedisStore):
    """After SCRIPT FLUSH (as after a restart), a batch of concurrent calls runs each call once."""
    from redis import asyncio as aioredis

    client = aioredis.Redis.from_url(server.url)
    try:
        await client.script_flush()
        deadline = time.time() + 60
        answers = await asyncio.gather(*(
            store.submit(H, 1000, f"http://127.0.0.1:9/{n}", None, deadline) for n in range(10)))
        assert sorted(a.decision.value for a in answers) == ["joined"] * 9 + ["queued"]
        assert await client.hlen(f"atto-work:{{{H}}}:req") == 10
    finally:
        await client.aclose()


async def test_a_cancelled_caller_does_not_disturb_the_others_in_its_batch(store: RedisStore):
    deadline = time.time() + 60
    calls = [asyncio.create_task(store.submit(H, 1000, "http://127.0.0.1:9/", None, deadline))
             for _ in range(5)]
    calls[0].cancel()
    answers = await asyncio.gather(*calls[1:])
    assert len({a.request.id for a in answers}) == 4
    assert (await store.status(H)).state.value == "queued"
