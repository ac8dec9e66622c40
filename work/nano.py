"""The Nano proof-of-work rules, beside the Atto ones (docs/spec.md, Nano proof of work).

Standard library only. Nano hashes exactly as Atto does (BLAKE2b-8 of the work's 8 little-endian
bytes followed by the 32-byte root, digest read little-endian); it differs in three ways, all here:

- a work is valid when its difficulty is **at least** the threshold (Atto: at most);
- a work is the 64-bit value written as 16 hex digits **big-endian**, lower-case
  (``2bf29ef00786a6bc`` is hashed as the bytes ``bc a6 86 07 f0 9e f2 2b``);
- thresholds are 16 hex digits too, and are also expressed as a ``multiplier`` of a base threshold.

Works are plain ``int`` here (0 .. 2^64-1); ``to_raw`` / ``from_raw`` convert to and from the 8 raw
bytes that the Atto rules and the device search use. Bad input raises ``work.WorkError``.
"""

from __future__ import annotations

import math

from work.difficulty import difficulty as _atto_difficulty
from work.errors import WorkError
from work.hexcodec import parse_hex

# The current base thresholds of the Nano network (since node V21): send/change and receive/open.
SEND_DIFFICULTY = 0xFFFFFFF800000000
RECEIVE_DIFFICULTY = 0xFFFFFE0000000000

_U64 = 2**64
_MAX = _U64 - 1


def _check_u64(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX:
        raise WorkError(f"{what} must be an unsigned 64-bit integer")
    return value


def to_raw(work: int) -> bytes:
    """The 8 bytes a Nano work is hashed as (and that the device search returns): little-endian."""
    return _check_u64(work, "work").to_bytes(8, "little")


def from_raw(raw: bytes) -> int:
    """The Nano work value of 8 raw work bytes (inverse of ``to_raw``)."""
    if not isinstance(raw, bytes | bytearray) or len(raw) != 8:
        raise WorkError("a raw work is 8 bytes")
    return int.from_bytes(raw, "little")


def difficulty(work: int, root: bytes) -> int:
    """The difficulty of ``work`` for the 32-byte ``root`` (block hash or account key); higher is better.

    The same BLAKE2b-8 value as the Atto rules compute for the raw work ``to_raw(work)``.
    """
    if not isinstance(root, bytes | bytearray) or len(root) != 32:
        raise WorkError("a root is 32 bytes")
    return _atto_difficulty(to_raw(work), bytes(root))


def is_valid(work: int, root: bytes, difficulty_threshold: int) -> bool:
    """Whether ``work`` meets ``difficulty_threshold`` for ``root`` (difficulty >= threshold)."""
    return difficulty(work, root) >= _check_u64(difficulty_threshold, "difficulty")


def multiplier(difficulty_value: int, base: int = SEND_DIFFICULTY) -> float:
    """How many times harder ``difficulty_value`` is than ``base``: (2^64 - base) / (2^64 - difficulty).

    Computed in doubles as the Nano node does (each side converted, then divided). The node takes
    ``-difficulty`` modulo 2^64, which divides by zero at difficulty 0; we use 2^64 there instead.
    """
    _check_u64(difficulty_value, "difficulty")
    _check_u64(base, "base difficulty")
    return float(_U64 - base) / float(_U64 - difficulty_value)


def from_multiplier(multiplier_value: float, base: int = SEND_DIFFICULTY) -> int:
    """The difficulty ``multiplier_value`` times harder than ``base`` (the Nano node's formula).

    2^64 - (2^64 - base) / multiplier, the quotient truncated to an integer, clamped to 0 .. 2^64-1
    (a huge multiplier gives the hardest difficulty, 2^64-1; a tiny one gives 0).
    """
    if (
        isinstance(multiplier_value, bool)
        or not isinstance(multiplier_value, int | float)
        or not math.isfinite(multiplier_value)
        or multiplier_value <= 0
    ):
        raise WorkError("multiplier must be a positive finite number")
    _check_u64(base, "base difficulty")
    reverse = float(_U64 - base) / multiplier_value
    if reverse >= _U64:  # includes infinity: a subnormal multiplier overflows the quotient
        return 0
    return min(_U64 - int(reverse), _MAX)


def expected_hashes(difficulty_value: int) -> float:
    """Mean number of hashes needed to find a work with at least ``difficulty_value``."""
    return _U64 / (_U64 - _check_u64(difficulty_value, "difficulty"))


def format_work(work: int) -> str:
    """A work as Nano writes it: 16 lower-case hex digits, big-endian."""
    return f"{_check_u64(work, 'work'):016x}"


def format_difficulty(difficulty_value: int) -> str:
    """A difficulty as Nano writes it: 16 lower-case hex digits."""
    return f"{_check_u64(difficulty_value, 'difficulty'):016x}"


def parse_work(text: object) -> int:
    """A work written as 16 hex digits (either case), big-endian, as its 64-bit value."""
    return int.from_bytes(parse_hex(text, "work", 16), "big")


def parse_difficulty(text: object) -> int:
    """A difficulty written as 16 hex digits (either case)."""
    return int.from_bytes(parse_hex(text, "difficulty", 16), "big")
