"""The store's settings: where the work state lives, how long works are cached, request timeouts."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, PositiveFloat, PositiveInt, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class StoreSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    store_url: str = Field(
        "memory://",
        description="where the work state lives: `memory://` (in-process, one coordinator) or "
        "`redis://host:port/db` (`rediss://` for TLS), shared by every coordinator replica",
    )
    store_timeout_seconds: PositiveFloat = Field(
        2.0,
        description="connect and read timeout of one store call; past it the call fails "
        "(intake and status answer 503, results are redelivered later)",
    )
    store_max_requests_per_hash: PositiveInt = Field(
        1000, description="requests that may wait for one hash at once; more are refused with 429"
    )
    work_cache_seconds: PositiveFloat = Field(
        3600.0,
        description="how long a delivered work is kept: requests it satisfies are answered from the "
        "cache, and `GET /works/{hash}` returns it, as it does cancelled and expired states",
    )
    work_timeout_seconds: PositiveFloat = Field(
        600.0, description="a request's timeout when its body gives none: unanswered by then, it expires"
    )
    work_max_timeout_seconds: PositiveFloat = Field(
        3600.0, description="the largest `timeout` a request may ask for (seconds)"
    )

    @field_validator("store_url")
    @classmethod
    def _url(cls, value: str) -> str:
        scheme = urlsplit(value).scheme
        if scheme not in ("memory", "redis", "rediss"):
            raise ValueError("STORE_URL must start with memory://, redis:// or rediss://")
        return value

    @model_validator(mode="after")
    def _timeouts(self) -> StoreSettings:
        if self.work_timeout_seconds > self.work_max_timeout_seconds:
            raise ValueError("WORK_TIMEOUT_SECONDS must not exceed WORK_MAX_TIMEOUT_SECONDS")
        return self

    def timeout(self, requested: float | None) -> float:
        """A request's timeout: its own (1 s to the maximum) or the default; ValueError otherwise."""
        if requested is None:
            return self.work_timeout_seconds
        if not 1 <= requested <= self.work_max_timeout_seconds:
            raise ValueError(f"timeout must be between 1 and {self.work_max_timeout_seconds:g} seconds")
        return float(requested)
