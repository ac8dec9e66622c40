"""The store under test: every contract test runs once per backend, on a real redis-server for Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from store import WorkStore
from store.memory import MemoryStore
from store.redis_store import RedisStore


class Clock:
    """A clock the test moves by hand; it starts at the real time (Redis TTLs run on real time)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


StoreFactory = Callable[..., WorkStore]


@pytest.fixture(params=["memory", "redis"])
async def make_store(request: pytest.FixtureRequest, clock: Clock) -> AsyncIterator[StoreFactory]:
    """Builds stores of one backend that share one state: two calls are two coordinator replicas
    (on Redis two clients on the same keys; in memory the one in-process store itself)."""
    made: list[WorkStore] = []
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    memory: dict[str, MemoryStore] = {}
    url = request.getfixturevalue("redis_server").url if request.param == "redis" else ""

    def make(**options: object) -> WorkStore:
        if request.param == "memory":
            if "store" not in memory:
                memory["store"] = MemoryStore(clock=clock, **options)
            return memory["store"]
        store = RedisStore(url, prefix=prefix, clock=clock, timeout=2.0, **options)
        made.append(store)
        return store

    yield make
    for store in made:
        await store.close()


@pytest.fixture
async def store(make_store: StoreFactory) -> WorkStore:
    made = make_store()
    await made.start()
    return made
