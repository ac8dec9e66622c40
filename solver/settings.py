"""The worker server's settings, read once from ``SOLVER_*`` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SolverSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOLVER_", extra="ignore")

    backend: Literal["auto", "opencl", "numpy"] = Field("auto", description=(
        "`auto`: every OpenCL GPU; without one, the first OpenCL CPU device that builds the kernel; "
        "without that, NumPy (the choice is logged). `opencl`: the same without the NumPy fallback. "
        "`numpy`: NumPy only"))
    devices: str | None = Field(None, description=(
        "OpenCL devices as `atto-work devices` lists them: `PLATFORM:DEVICE[,...]` (`0:0,1:0`) or "
        "`PLATFORM` for all its devices; unset: all that `auto` picks; an impossible selection stops "
        "start-up with one line"))
    # A LIVE work of 2026 needs 4.3e9 hashes on average and 4.6x that at p99: about 5 min at p99 on
    # a 60 MH/s CPU. Callers wait about as long (the Atto wallet-server's remote-worker client: 5
    # min) and retry meanwhile (every 10 s), and a retry joins the running search: a shorter limit
    # would restart a slow device's LIVE search over and over.
    timeout_seconds: float = Field(300.0, gt=0, description=(
        "a search longer than this (queue wait included) answers 504; keep it at least as long as "
        "the callers wait (the Atto wallet-server's remote worker: 5 min)"))
    # 2^40: 8x the mean of the hardest Atto threshold through 2036 (LIVE, 2^37 hashes) and 32x
    # Nano's hardest work_generate (64x the send difficulty, 2^35). A threshold of 1 (2^63
    # hashes) would hold a device until the timeout for nothing.
    max_expected_hashes: float = Field(2.0**40, gt=0, description=(
        "every work route refuses with 400 a threshold or difficulty needing more hashes than "
        "this on average (default 2^40, 8x the hardest Atto network through 2036)"))
    max_clock_skew_seconds: float = Field(60.0, ge=0, description=(
        "`POST /works` refuses block timestamps further ahead than this (the Atto work-server's 60 s)"))
    # Beyond the limit the server answers 503 rather than letting a backlog grow without bound.
    max_queue: int = Field(1000, ge=0, description=(
        "requests allowed to wait for a device; beyond it 503 with `Retry-After` (0: no waiting, "
        "only free devices take jobs)"))
    token: SecretStr | None = Field(None, description=(
        "when set, the work routes need `Authorization: Bearer <token>` (the probes stay open)"))

    # The Kotlin reference work-server's name; an alias ignores the `SOLVER_` prefix.
    atto_work_device: int | None = Field(None, ge=0, le=255, validation_alias="atto_work_device",
                                         description=(
        "the Kotlin reference work-server's OpenCL device: an index among the first platform's "
        "devices, so `SOLVER_DEVICES=0:<index>`; `SOLVER_DEVICES` wins when both are set"))

    @model_validator(mode="after")
    def _reference_names(self) -> SolverSettings:
        if self.devices is None and self.atto_work_device is not None:
            self.devices = f"0:{self.atto_work_device}"
        return self

    @field_validator("devices", "token", "atto_work_device", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # Compose and Helm pass a variable that is unset in the shell as an empty string.
        return None if isinstance(value, str) and not value.strip() else value
