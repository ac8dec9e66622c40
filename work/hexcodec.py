"""Strict parsing and canonical formatting of targets, works and thresholds.

Input accepts either hex case; output is always upper-case, as the Atto services write it.
"""

from __future__ import annotations

import string

from work.errors import WorkError
from work.networks import MAX_THRESHOLD

_HEX = frozenset(string.hexdigits)


def parse_hex(value: object, what: str, length: int) -> bytes:
    """The bytes of ``value``, a string of exactly ``length`` hex characters (either case).

    ``what`` names the field in the ``WorkError`` message. Shared by the Atto and Nano parsers.
    """
    if not isinstance(value, str):
        raise WorkError(f"{what} must be a string of {length} hex characters")
    if len(value) != length:
        raise WorkError(f"{what} must be {length} hex characters, got {len(value)}")
    if not _HEX.issuperset(value):
        raise WorkError(f"{what} must contain only hex characters 0-9 and A-F")
    return bytes.fromhex(value)


def parse_target(value: object) -> bytes:
    """The 32 bytes of a target written as 64 hex characters."""
    return parse_hex(value, "hash", 64)


def parse_work(value: object) -> bytes:
    """The 8 bytes of a work written as 16 hex characters."""
    return parse_hex(value, "work", 16)


def format_target(target: bytes) -> str:
    return target.hex().upper()


def format_work(work: bytes) -> str:
    return work.hex().upper()


def parse_threshold(value: object) -> int:
    """A threshold in 1..2^64-1, from a JSON integer or a decimal string.

    Booleans, floats, signs, blanks and other bases are refused: a threshold is a u64 and values
    above 2^53 occur, so nothing that could have lost precision is accepted.
    """
    if isinstance(value, bool):
        raise WorkError("threshold must be a decimal unsigned 64-bit integer, not a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        number = int(value)
    else:
        raise WorkError("threshold must be a decimal unsigned 64-bit integer (number or string)")
    if not 1 <= number <= MAX_THRESHOLD:
        raise WorkError(f"threshold must be between 1 and {MAX_THRESHOLD}")
    return number
