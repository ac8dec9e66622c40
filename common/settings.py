"""Typed settings parsed once at start-up; a bad one stops the process with a one-line message."""

from __future__ import annotations

import sys
from pathlib import Path
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


def setting_entries(value: str | None, what: str) -> list[str]:
    """The entries of a list setting: separated by commas or newlines, given inline or as ``@`` and
    the path of a file (a mounted secret keeps them out of the process environment) whose blank
    lines and lines starting with ``#`` are ignored. ``what`` names an entry in errors (ValueError)."""
    value = (value or "").strip()
    if value.startswith("@"):
        path = Path(value[1:]).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"cannot read {what} file {str(path)!r}: {exc.strerror}") from None
        value = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
        if not value.strip():
            raise ValueError(f"{what} file {str(path)!r} holds no key")
    return [entry.strip() for entry in value.replace("\n", ",").split(",") if entry.strip()]
