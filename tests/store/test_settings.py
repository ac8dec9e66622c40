"""Store settings: read from the environment, refused with a message naming the setting."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from store import StoreSettings, create_store
from store.memory import MemoryStore
from store.redis_store import RedisStore


def test_defaults_are_the_in_process_store_and_the_documented_times(monkeypatch):
    monkeypatch.delenv("STORE_URL", raising=False)
    settings = StoreSettings()
    assert (settings.store_url, settings.work_cache_seconds, settings.work_timeout_seconds) == (
        "memory://", 3600, 600)
    assert isinstance(create_store(settings), MemoryStore)


async def test_a_redis_url_makes_a_redis_store(monkeypatch):
    monkeypatch.setenv("STORE_URL", "redis://127.0.0.1:1/0")
    store = create_store(StoreSettings())
    assert isinstance(store, RedisStore)
    await store.close()


@pytest.mark.parametrize("env, name", [
    ({"STORE_URL": "http://127.0.0.1/"}, "store_url"),
    ({"WORK_TIMEOUT_SECONDS": "7200"}, "WORK_TIMEOUT_SECONDS"),
    ({"WORK_CACHE_SECONDS": "0"}, "work_cache_seconds"),
])
def test_a_bad_setting_is_refused_by_name(monkeypatch, env, name):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError, match=name):
        StoreSettings()


@pytest.mark.parametrize("asked, wait", [(None, 600.0), (1, 1.0), (3600, 3600.0)])
def test_a_request_timeout_in_range_is_taken(asked, wait):
    assert StoreSettings().timeout(asked) == wait


@pytest.mark.parametrize("asked", [0, 0.99, 3601])
def test_a_request_timeout_out_of_range_is_refused(asked):
    with pytest.raises(ValueError, match="between 1 and 3600"):
        StoreSettings().timeout(asked)


def test_every_setting_is_described():
    assert all(field.description for field in StoreSettings.model_fields.values())
