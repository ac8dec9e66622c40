"""Build the store ``STORE_URL`` names."""

from __future__ import annotations

from store.protocol import WorkStore
from store.settings import StoreSettings


def create_store(settings: StoreSettings) -> WorkStore:
    common = {"cache_seconds": settings.work_cache_seconds,
              "max_requests": settings.store_max_requests_per_hash}
    if settings.store_url.startswith("memory:"):
        from store.memory import MemoryStore

        return MemoryStore(**common)
    from store.redis_store import RedisStore  # imported lazily: only replicas sharing state need it

    return RedisStore(settings.store_url, timeout=settings.store_timeout_seconds, **common)
