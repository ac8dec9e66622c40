"""The worker server's field types and shared answers, as its routes parse and document them.

Parsing stays in ``work`` (each type runs a ``work`` parser); what lives here is how a field looks in
the OpenAPI document, so that schema-driven clients and fuzzers know the exact ranges.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, BeforeValidator, Field, WithJsonSchema

from work import (
    MAX_THRESHOLD,
    Network,
    parse_network,
    parse_target,
    parse_threshold,
    parse_timestamp,
)

HEX64 = "^[0-9A-Fa-f]{64}$"
_EPOCH_2024_MS = 1704067200000  # work rules start at 2024-01-01T00:00:00Z


def decimal_u64_pattern() -> str:
    """A regex for what ``parse_threshold`` takes as a string: up to 20 digits, value 1..2^64-1.

    Only for the OpenAPI document; the parsing itself stays in ``work``.
    """
    top = str(MAX_THRESHOLD)  # 20 digits
    shorter = [f"0{{0,{20 - n}}}[1-9][0-9]{{{n - 1}}}" for n in range(1, 20)]
    # 20 significant digits: below the maximum at the first digit that differs, or equal to it.
    longest = [f"{top[:i]}[0-{int(top[i]) - 1}][0-9]{{{19 - i}}}" for i in range(20) if top[i] != "0"]
    return "^(?:" + "|".join([*shorter, *longest, top]) + ")$"


Threshold = Annotated[int, BeforeValidator(parse_threshold), WithJsonSchema({
    "anyOf": [{"type": "string", "pattern": decimal_u64_pattern()},
              {"type": "integer", "minimum": 1, "maximum": MAX_THRESHOLD}],
    "description": "largest acceptable difficulty, a decimal u64 (1..2^64-1) as a string or a number",
})]
Target = Annotated[bytes, BeforeValidator(parse_target), WithJsonSchema({
    "type": "string", "pattern": HEX64, "description": "the block's previous hash or public key",
})]
HashPath = Annotated[str, Path(description="target: 64 hex characters",
                               json_schema_extra={"pattern": HEX64})]
NetworkName = Annotated[Network, BeforeValidator(parse_network), WithJsonSchema({
    "type": "string", "enum": list(Network.__members__),
})]
Timestamp = Annotated[datetime, BeforeValidator(parse_timestamp), WithJsonSchema({
    "anyOf": [{"type": "integer", "minimum": _EPOCH_2024_MS, "description": "epoch milliseconds"},
              {"type": "string", "format": "date-time", "description": "ISO-8601 with a zone"}],
    "description": "block timestamp, from 2024 on, at most the allowed clock skew ahead",
})]


class WorkResponse(BaseModel):
    work: str = Field(pattern="^[0-9A-F]{16}$", examples=["2D7E000000000000"],
                      description="8 bytes, upper-case hex, meeting the threshold")


class ErrorResponse(BaseModel):
    error: str = Field(description="what is wrong")


def error_doc(description: str) -> dict[str, Any]:
    """An error status's entry in a route's ``responses``."""
    return {"model": ErrorResponse, "description": description}
