"""Typed settings parsed once at start-up; a bad one stops the process with a one-line message."""

from __future__ import annotations

import sys
from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

S = TypeVar("S", bound=BaseSettings)


def describe(error: ValidationError, prefix: str = "") -> str:
    """One line naming each bad setting by its environment variable and saying what is wrong."""
    parts = []
    for item in error.errors():
        field = "_".join(str(p) for p in item["loc"])
        name = (prefix + field).upper() if field else "settings"
        parts.append(f"{name}: {item['msg']}")
    return "; ".join(parts)


def load_settings(cls: type[S], **overrides: object) -> S:
    """``cls`` read from the environment (``overrides`` win), or exit 2 naming what is wrong."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        prefix = cls.model_config.get("env_prefix") or ""
        print(f"atto-work: bad setting: {describe(exc, prefix)}", file=sys.stderr)
        raise SystemExit(2) from None
