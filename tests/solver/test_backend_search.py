"""Both search backends against hashlib (``work.difficulty``): values, first hits, wrap-around.

The OpenCL device is the real one ``discover("opencl")`` opens (PoCL on the CPU here); a missing
OpenCL runtime fails these tests rather than skipping them.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import numpy as np
import pytest

from work import difficulty, expected_hashes, is_valid, threshold

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
