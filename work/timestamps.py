"""Timestamps as the APIs accept them: ISO-8601 strings or epoch milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from work.errors import WorkError

# Python's datetime covers years 1..9999; this bounds epoch milliseconds to that range.
_MAX_EPOCH_MS = 253402300799999


def parse_timestamp(value: object) -> datetime:
    """An aware UTC datetime from an ISO-8601 string (``Z`` or an offset) or epoch milliseconds.

    A string without a zone is refused rather than guessed: the threshold depends on the UTC year.
    """
    if isinstance(value, bool):
        raise WorkError("timestamp must be an ISO-8601 string or epoch milliseconds")
    if isinstance(value, int):
        if not 0 <= value <= _MAX_EPOCH_MS:
            raise WorkError("timestamp in epoch milliseconds is out of range")
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    if isinstance(value, str):
        if value.isascii() and value.isdigit():
            return parse_timestamp(int(value))
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise WorkError(f"timestamp {value[:40]!r} is not ISO-8601") from None
        if parsed.tzinfo is None:
            raise WorkError("timestamp must carry a time zone (for example a trailing Z)")
        try:
            return parsed.astimezone(UTC)
        except OverflowError:  # e.g. year 1 at +14:00 lies before datetime's first UTC instant
            raise WorkError("timestamp is out of range") from None
    raise WorkError("timestamp must be an ISO-8601 string or epoch milliseconds")


def check_not_future(timestamp: datetime, max_skew: float, now: datetime | None = None) -> None:
    """Refuse a timestamp more than ``max_skew`` seconds ahead of ``now`` (clock skew allowance)."""
    now = now or datetime.now(UTC)
    if timestamp - now > timedelta(seconds=max_skew):
        raise WorkError(f"timestamp is more than {max_skew:g} s in the future")
