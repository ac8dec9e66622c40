"""Typed settings parsed once at start-up; a bad one stops the process with a one-line message."""

from __future__ import annotations

import sys
from typing import TypeVar

from pydantic import PositiveInt, ValidationError
from pydantic_settings import BaseSettings

S = TypeVar("S", bound=BaseSettings)
#: A duration as the Kotlin reference services' settings give it (Spring's `*-timeout` in ms).
Milliseconds = PositiveInt


def describe(error: ValidationError, model: type[BaseSettings]) -> str:
    """One line naming each bad setting by its environment variable and saying what is wrong."""
    prefix = model.model_config.get("env_prefix") or ""
    # A field read under an alias (another project's name) is named by it, without our prefix.
    aliases = {info.validation_alias for info in model.model_fields.values()
               if isinstance(info.validation_alias, str)}
    parts = []
    for item in error.errors():
        field = "_".join(str(p) for p in item["loc"])
        name = (field if field in aliases else prefix + field).upper() if field else "settings"
        parts.append(f"{name}: {item['msg']}")
    return "; ".join(parts)


def load_settings(cls: type[S], **overrides: object) -> S:
    """``cls`` read from the environment (``overrides`` win), or exit 2 naming what is wrong."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        print(f"atto-work: bad setting: {describe(exc, cls)}", file=sys.stderr)
        raise SystemExit(2) from None
