"""The NumPy BLAKE2b compression F against blake2b-py's raw F over random states and blocks."""

from __future__ import annotations

import random

import blake2b
import numpy as np
import pytest

from solver.backends.blake2b_numpy import compress


def as_bytes(state: list[np.ndarray], lane: int) -> bytes:
    return b"".join(int(word[lane]).to_bytes(8, "little") for word in state)


@pytest.mark.parametrize("rounds", [12, 1, 13])
@pytest.mark.parametrize("last", [False, True])
def test_compress_equals_blake2b_py(rounds, last):
    rnd = random.Random(rounds * 2 + last)
    lanes = 64
    h = [[rnd.getrandbits(64) for _ in range(8)] for _ in range(lanes)]
    m = [[rnd.getrandbits(64) for _ in range(16)] for _ in range(lanes)]
    t = (rnd.getrandbits(64), rnd.getrandbits(64))
    h_arrays = [np.array([h[lane][i] for lane in range(lanes)], dtype=np.uint64) for i in range(8)]
    m_arrays = [np.array([m[lane][i] for lane in range(lanes)], dtype=np.uint64) for i in range(16)]
    got = compress(h_arrays, m_arrays, t, last, rounds, lanes=lanes)
    for lane in range(lanes):
        assert as_bytes(got, lane) == blake2b.compress(rounds, h[lane], m[lane], list(t), last)


def test_compress_with_shared_and_zero_words():
    # The search passes most words as ints shared by all lanes (zero words skipped): same F.
    rnd = random.Random(1)
    h = [rnd.getrandbits(64) for _ in range(8)]
    m = [rnd.getrandbits(64) for _ in range(5)] + [0] * 11
    got = compress(h, [np.array([m[0]], dtype=np.uint64), *m[1:]], (40, 0), True, lanes=1)
    assert as_bytes(got, 0) == blake2b.compress(12, h, m, [40, 0], True)
