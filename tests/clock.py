"""Timestamps relative to when a request is sent, for tables of test cases.

A parametrize table is built when pytest collects the module, minutes before a late test runs on a
slow machine; "two minutes ahead" computed then can be in the past by the time it is posted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Ahead:
    """A timestamp ``seconds`` ahead of now, as ISO-8601 or as epoch milliseconds."""

    seconds: float
    epoch_ms: bool = False

    def value(self) -> str | int:
        moment = time.time() + self.seconds
        if self.epoch_ms:
            return int(moment * 1000)
        return datetime.fromtimestamp(moment, UTC).isoformat()


def resolve(body: object) -> object:
    """``body`` with every ``Ahead`` among its values replaced by the timestamp it stands for now."""
    if isinstance(body, dict):
        return {key: value.value() if isinstance(value, Ahead) else value for key, value in body.items()}
    return body
