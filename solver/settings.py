"""The worker server's settings, read once from ``SOLVER_*`` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SolverSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOLVER_", extra="ignore")

    #: ``auto`` picks GPUs, then the OpenCL CPU (PoCL), then NumPy.
    backend: Literal["auto", "opencl", "numpy"] = "auto"
    #: Which devices to use (backend-specific selector, e.g. ``0:0,0:1``); empty means the default.
    devices: str | None = None
    #: A search longer than this (queue wait included) answers 504. A LIVE work of 2026 needs
    #: 4.3e9 hashes on average and 4.6x that at p99: about 5 min at p99 on a 60 MH/s CPU.
    timeout_seconds: float = Field(120.0, gt=0)
    #: ``POST /works`` refuses block timestamps further ahead than this (the Atto work-server's 60 s).
    max_clock_skew_seconds: float = Field(60.0, ge=0)
    #: Requests allowed to wait for a device; beyond this the server answers 503 rather than
    #: letting a backlog grow without bound (0 = no waiting, only free devices take jobs).
    max_queue: int = Field(1000, ge=0)
    #: Shared secret for callers (accepted here; enforced by the API's auth layer when set).
    token: SecretStr | None = None

    @field_validator("devices", "token", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # Compose and Helm pass a variable that is unset in the shell as an empty string.
        return None if isinstance(value, str) and not value.strip() else value
