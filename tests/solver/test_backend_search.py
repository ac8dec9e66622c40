"""Both search backends against hashlib (``work.difficulty``): values, first hits, wrap-around,
for both rules (Atto's ``<=``, Nano's ``>=`` through ``Rule.search_bound``).

The OpenCL device is the real one ``discover("opencl")`` opens (PoCL on the CPU here); a missing
OpenCL runtime fails these tests rather than skipping them.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import numpy as np
import pytest

from solver.jobs import Rule
from tests.test_work_nano import VECTORS, nanopy_valid
from work import difficulty, expected_hashes, is_valid, nano, threshold

MASK64 = (1 << 64) - 1
LOCAL_2026 = threshold("LOCAL", datetime(2026, 6, 1, tzinfo=UTC))


@pytest.fixture(params=["opencl", "numpy"])
def device(request, open_devices):
    return open_devices(request.param)[0]


def first_hit(target: bytes, limit: int, start: int, count: int) -> int | None:
    """hashlib's answer: the first nonce from ``start`` (mod 2^64) meeting ``limit``."""
    for offset in range(count):
        nonce = (start + offset) & MASK64
        if difficulty(nonce.to_bytes(8, "little"), target) <= limit:
            return nonce
    return None


def first_nano_hit(root: bytes, least: int, start: int, count: int) -> int | None:
    """work.nano's answer: the first nonce from ``start`` (mod 2^64) whose difficulty is >= ``least``."""
    for offset in range(count):
        nonce = (start + offset) & MASK64
        if nano.is_valid(nonce, root, least):
            return nonce
    return None


def test_difficulties_equal_hashlib(device):
    rng = np.random.default_rng(7)
    nonces = rng.integers(0, 2**64, 4096, dtype=np.uint64, endpoint=False)
    targets = rng.integers(0, 256, (4096, 32), dtype=np.uint8)
    got = device.difficulties(nonces, targets)
    want = [difficulty(int(n).to_bytes(8, "little"), bytes(t)) for n, t in zip(nonces, targets, strict=True)]
    assert [int(x) for x in got] == want


def test_spec_vector_first_local_nonce_from_zero(device):
    # 2D7E000000000000 is the first valid LOCAL (2024-2027) nonce counting up from 0 for the zero
    # target (tests/test_work.py checks it with hashlib).
    found = device.search(bytes(32), 858993459100000, 0, 1 << 16)
    assert found is not None and found.to_bytes(8, "little").hex().upper() == "2D7E000000000000"


@pytest.mark.parametrize("expected", [3, 300, 20000])
def test_first_hit_equals_hashlib(device, expected):
    # From "several hits in one slot" (3) to hits only in later slots (20000).
    rnd = random.Random(expected)
    limit = MASK64 // expected
    for _ in range(3):
        target, start = rnd.randbytes(32), rnd.getrandbits(64)
        want = first_hit(target, limit, start, 1 << 17)
        assert want is not None
        assert device.search(target, limit, start, 1 << 17) == want


def test_count_bounds_the_scan(device):
    rnd = random.Random(5)
    target, start, limit = rnd.randbytes(32), rnd.getrandbits(64), MASK64 // 1000
    hit = first_hit(target, limit, start, 1 << 16)
    offset = (hit - start) & MASK64
    assert device.search(target, limit, start, offset) is None  # the hit is just past the batch
    assert device.search(target, limit, start, offset + 1) == hit


def test_batch_wraps_around_2_64(device):
    rnd = random.Random(11)
    start, limit = MASK64 - 99, MASK64 // 400
    while True:  # a target whose first hit from 2^64 - 100 lies past the wrap
        target = rnd.randbytes(32)
        want = first_hit(target, limit, start, 1 << 14)
        if want is not None and want < start:
            break
    assert device.search(target, limit, start, 1 << 14) == want


def test_no_hit_returns_none(device):
    assert device.search(bytes(range(32)), 1, 12345, device.batch_size(1)) is None


def test_found_local_works_validate(device):
    rnd = random.Random(3)
    for _ in range(3):
        target, nonce = rnd.randbytes(32), rnd.getrandbits(64)
        found = None
        while found is None:
            count = device.batch_size(LOCAL_2026)
            found = device.search(target, LOCAL_2026, nonce, count)
            nonce = (nonce + count) & MASK64
        assert is_valid(found.to_bytes(8, "little"), target, LOCAL_2026)


def test_batch_size_follows_threshold(device):
    easy, hard = device.batch_size(LOCAL_2026), device.batch_size(4294967295)
    assert easy <= 5 * expected_hashes(LOCAL_2026)  # an easy job does not pay for a huge batch
    assert hard >= easy


def test_large_batch_first_hit_equals_hashlib(device):
    # 2^23 nonces: the OpenCL backend's hit slots hold 128 nonces here and are narrowed by a rescan.
    rnd = random.Random(23)
    limit = MASK64 // 3000
    for _ in range(3):
        target, start = rnd.randbytes(32), rnd.getrandbits(64)
        want = first_hit(target, limit, start, 1 << 17)
        assert device.search(target, limit, start, 1 << 23) == want


@pytest.mark.parametrize("expected", [3, 300, 20000])
def test_nano_first_hit_equals_work_nano(device, expected):
    rnd = random.Random(expected + 1)
    least = 2**64 - 2**64 // expected  # a Nano difficulty one nonce in ``expected`` meets
    mask, bound = Rule.NANO.search_bound(least)
    for _ in range(3):
        root, start = rnd.randbytes(32), rnd.getrandbits(64)
        want = first_nano_hit(root, least, start, 1 << 17)
        assert want is not None
        assert device.search(root, bound, start, 1 << 17, mask) == want
        assert nanopy_valid(want, root, least)


def test_nano_large_batch_first_hit_equals_work_nano(device):
    # The OpenCL backend's wide hit slots, narrowed by a rescan, under the Nano rule.
    rnd = random.Random(29)
    least = 2**64 - 2**64 // 3000
    mask, bound = Rule.NANO.search_bound(least)
    root, start = rnd.randbytes(32), rnd.getrandbits(64)
    assert device.search(root, bound, start, 1 << 23, mask) == first_nano_hit(root, least, start, 1 << 17)


@pytest.mark.parametrize(("root", "work", "expected"), VECTORS, ids=[v[1] for v in VECTORS])
def test_both_rules_include_the_threshold(device, root, work, expected):
    """A nonce whose difficulty equals the threshold hits under either rule; one step past, not."""
    nonce, value = nano.parse_work(work), int(expected, 16)
    for rule, inside, outside in [(Rule.NANO, value, value + 1), (Rule.ATTO, value, value - 1)]:
        mask, bound = rule.search_bound(inside)
        assert device.search(root, bound, nonce, 1, mask) == nonce
        mask, bound = rule.search_bound(outside)
        assert device.search(root, bound, nonce, 1, mask) is None


def test_found_nano_receive_work_validates(open_devices):
    """A real-size Nano work (the receive threshold, 2^23 hashes on average) from the OpenCL
    device, checked by work.nano and by nanopy."""
    (device, *_) = open_devices("opencl")
    rnd = random.Random(41)
    root, nonce = rnd.randbytes(32), rnd.getrandbits(64)
    mask, bound = Rule.NANO.search_bound(nano.RECEIVE_DIFFICULTY)
    found = None
    while found is None:
        count = device.batch_size(bound)
        found = device.search(root, bound, nonce, count, mask)
        nonce = (nonce + count) & MASK64
    assert nano.is_valid(found, root, nano.RECEIVE_DIFFICULTY)
    assert nanopy_valid(found, root, nano.RECEIVE_DIFFICULTY)
