"""The Nano work rules (work/nano.py) against hashlib, known vectors and nanopy, an independent
Nano implementation (its own C BLAKE2b) used only here."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import nanopy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from work import WorkError, nano

DOCS_ROOT = bytes.fromhex("718CC2121C3E641059BC1C2CFC45666C99E8AE922F7A807B7D07B62C995D79E2")
EXAMPLE_ROOT = bytes.fromhex("89EB0D6A8A691DAE2CD15ED0369931CE0A949ECAFA5C3F93F8121833646E15C3")

# (root, work, difficulty): the first is the Nano RPC documentation's work_validate example; the
# second the first nonce counting up from 0 that meets the receive threshold for the docs' hash.
VECTORS = [
    (DOCS_ROOT, "2bf29ef00786a6bc", "ffffffd21c3933f4"),
    (EXAMPLE_ROOT, "0000000000793a6c", "ffffff5aaf3bb9d9"),
]


def docs_vectors() -> list[list[str]]:
    """The rows of docs/spec.md's Nano vectors table, cells without their backquotes."""
    text = (Path(__file__).parents[1] / "docs" / "spec.md").read_text()
    table = text.split("\n### Nano vectors\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split("|") for line in table.splitlines() if line.startswith("| `")]
    return [[cell.strip().strip("`") for cell in row] for row in rows]


def nanopy_valid(work: int, root: bytes, difficulty: int) -> bool:
    """nanopy's verdict, through its public API: a state block whose previous hash is ``root``."""
    block = nanopy.StateBlock(nanopy.Account(), nanopy.Account(), 0, root.hex(), "0" * 64,
                              work=f"{work:016x}")
    return block.work_validate(f"{difficulty:016x}")


def nanopy_difficulty(work: int, root: bytes) -> int:
    """The difficulty nanopy sees: the highest threshold it accepts (binary search, 64 checks)."""
    low, high = 0, 2**64 - 1  # nanopy accepts ``low``; the answer is in low..high
    while low < high:
        middle = (low + high + 1) // 2
        if nanopy_valid(work, root, middle):
            low = middle
        else:
            high = middle - 1
    return low


@pytest.mark.parametrize(("root", "work", "expected"), VECTORS)
def test_vectors(root, work, expected) -> None:
    value = nano.parse_work(work)
    assert nano.format_difficulty(nano.difficulty(value, root)) == expected
    assert nano.is_valid(value, root, nano.parse_difficulty(expected))
    assert not nano.is_valid(value, root, nano.parse_difficulty(expected) + 1)


@pytest.mark.parametrize(("root", "work", "expected"), VECTORS)
def test_vectors_agree_with_nanopy(root, work, expected) -> None:
    assert nanopy_difficulty(nano.parse_work(work), root) == int(expected, 16)


def test_the_docs_vectors_hold() -> None:
    rows = docs_vectors()
    assert len(rows) == len(VECTORS)
    for root, work, expected, send, receive in rows:
        value, root_bytes = nano.parse_work(work), bytes.fromhex(root)
        assert nano.format_difficulty(nano.difficulty(value, root_bytes)) == expected
        assert nanopy_difficulty(value, root_bytes) == int(expected, 16)
        for verdict, threshold in [(send, nano.SEND_DIFFICULTY), (receive, nano.RECEIVE_DIFFICULTY)]:
            assert verdict.startswith("valid") is nano.is_valid(value, root_bytes, threshold)
            assert verdict.startswith("valid") is nanopy_valid(value, root_bytes, threshold)


def test_the_work_is_hashed_as_its_little_endian_bytes() -> None:
    # "2bf29ef00786a6bc" (big-endian hex) is hashed as the bytes bc a6 86 07 f0 9e f2 2b.
    digest = hashlib.blake2b(bytes.fromhex("bca68607f09ef22b") + DOCS_ROOT, digest_size=8).digest()
    assert int.from_bytes(digest, "little") == 0xFFFFFFD21C3933F4
    assert nano.to_raw(0x2BF29EF00786A6BC) == bytes.fromhex("bca68607f09ef22b")
    assert nano.from_raw(bytes.fromhex("bca68607f09ef22b")) == 0x2BF29EF00786A6BC


def test_difficulty_matches_hashlib_and_nanopy_on_random_inputs() -> None:
    rng = random.Random(9)
    for _ in range(300):
        work, root = rng.getrandbits(64), rng.randbytes(32)
        digest = hashlib.blake2b(work.to_bytes(8, "little") + root, digest_size=8).digest()
        value = nano.difficulty(work, root)
        assert value == int.from_bytes(digest, "little")
        assert nanopy_valid(work, root, value) and nano.is_valid(work, root, value)
        if value < 2**64 - 1:
            assert not nanopy_valid(work, root, value + 1) and not nano.is_valid(work, root, value + 1)


def test_works_nanopy_generates_are_valid_here() -> None:
    easy = 0xFF00000000000000  # 256 hashes on average
    for root in [DOCS_ROOT, EXAMPLE_ROOT, bytes(32)]:
        block = nanopy.StateBlock(nanopy.Account(), nanopy.Account(), 0, root.hex(), "0" * 64)
        block.work_generate(nano.format_difficulty(easy))
        assert nano.is_valid(nano.parse_work(block.work), root, easy)


def test_base_thresholds() -> None:
    assert nano.format_difficulty(nano.SEND_DIFFICULTY) == "fffffff800000000"
    assert nano.format_difficulty(nano.RECEIVE_DIFFICULTY) == "fffffe0000000000"
    assert nano.expected_hashes(nano.SEND_DIFFICULTY) == 2**29
    assert nano.expected_hashes(nano.RECEIVE_DIFFICULTY) == 2**23


def test_multipliers() -> None:
    assert nano.multiplier(nano.SEND_DIFFICULTY) == 1.0
    assert nano.multiplier(nano.RECEIVE_DIFFICULTY) == 1 / 64
    assert nano.multiplier(nano.SEND_DIFFICULTY, base=nano.RECEIVE_DIFFICULTY) == 64.0
    assert nano.from_multiplier(8.0) == 0xFFFFFFFF00000000
    assert nano.from_multiplier(1 / 64) == nano.RECEIVE_DIFFICULTY
    assert nano.from_multiplier(1.0, base=nano.RECEIVE_DIFFICULTY) == nano.RECEIVE_DIFFICULTY


def test_multiplier_extremes_are_clamped() -> None:
    assert nano.from_multiplier(1e30) == 2**64 - 1
    assert nano.from_multiplier(1e-30) == 0
    assert nano.from_multiplier(5e-324) == 0  # the quotient overflows to infinity


@given(st.floats(min_value=0, exclude_min=True, allow_infinity=False, allow_subnormal=True))
def test_every_positive_multiplier_gives_a_difficulty(value) -> None:
    assert 0 <= nano.from_multiplier(value) <= 2**64 - 1
    assert nano.multiplier(0) == 2**35 / 2**64  # no division by zero at difficulty 0


@pytest.mark.parametrize("value", [0, -1.0, float("nan"), float("inf"), True, "2", None])
def test_bad_multipliers_are_refused(value) -> None:
    with pytest.raises(WorkError, match="multiplier"):
        nano.from_multiplier(value)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 2**64 - 1))
def test_multipliers_agree_with_nanopy(difficulty) -> None:
    network = nanopy.Network(difficulty=nano.format_difficulty(nano.SEND_DIFFICULTY))
    text = nano.format_difficulty(difficulty)
    assert nano.multiplier(difficulty) == pytest.approx(network.to_multiplier(text), rel=1e-12)
    factor = nano.multiplier(difficulty)
    # nanopy adds back 2^64 in floating point: equal up to a double's spacing near 2^64.
    assert abs(nano.from_multiplier(factor) - int(network.from_multiplier(factor), 16)) <= 2**12


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**64 - 1))
def test_work_hex_round_trips(work) -> None:
    text = nano.format_work(work)
    assert len(text) == 16 and text == text.lower()
    assert nano.parse_work(text) == work == nano.parse_work(text.upper())
    assert nano.from_raw(nano.to_raw(work)) == work


@pytest.mark.parametrize("value", ["", "0" * 15, "0" * 17, "zz" * 8, "-" + "0" * 15, None, 7,
                                   "0x" + "0" * 14])
def test_bad_works_and_difficulties_are_refused(value) -> None:
    with pytest.raises(WorkError, match="work"):
        nano.parse_work(value)
    with pytest.raises(WorkError, match="difficulty"):
        nano.parse_difficulty(value)


@pytest.mark.parametrize("value", [-1, 2**64, True, 1.0, "1"])
def test_out_of_range_values_are_refused(value) -> None:
    with pytest.raises(WorkError):
        nano.format_work(value)
    with pytest.raises(WorkError):
        nano.difficulty(value, bytes(32))
    with pytest.raises(WorkError):
        nano.is_valid(0, bytes(32), value)


@pytest.mark.parametrize("root", [bytes(31), bytes(33), "00" * 32, None])
def test_bad_roots_are_refused(root) -> None:
    with pytest.raises(WorkError, match="root"):
        nano.difficulty(0, root)
