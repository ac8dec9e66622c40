"""OpenCL launches in flight together (``launch``/``result``, what the pool uses to keep a device
busy) give the same answers as hashlib, whatever the order they are read in."""

from __future__ import annotations

import random

import pytest

from tests.solver.test_backend_search import MASK64, first_hit


@pytest.fixture
def device(open_devices):
    return open_devices("opencl")[0]


def test_launches_in_flight_answer_like_hashlib(device):
    rnd = random.Random(3)
    # Easy and hard thresholds; 2^20 nonces need the rescan of a wide slot, with another launch
    # still queued behind it; 0 hashes per hit never happen (a full, hit-free scan).
    cases = [(MASK64 // 300, 1 << 14), (MASK64 // 5000, 1 << 20), (0, 1 << 12),
             (MASK64 // 3, 1 << 10), (MASK64 // 20000, 1 << 16)]
    jobs = [(rnd.randbytes(32), limit, rnd.getrandbits(64), count) for limit, count in cases]
    pending = [device.launch(*job) for job in jobs]
    answers = [p.result() for p in pending]
    assert answers == [first_hit(*job) for job in jobs]
    assert answers[2] is None and all(a is not None for i, a in enumerate(answers) if i != 2)


def test_results_read_out_of_order_are_each_launchs_own(device):
    rnd = random.Random(4)
    jobs = [(rnd.randbytes(32), MASK64 // 2000, rnd.getrandbits(64), 1 << 15) for _ in range(3)]
    pending = [device.launch(*job) for job in jobs]
    answers = {i: pending[i].result() for i in (2, 0, 1)}
    assert [answers[i] for i in range(3)] == [first_hit(*job) for job in jobs]


def test_launches_that_hit_early_do_not_count_in_the_rate(device):
    """A launch with a hit skips the work-groups past it, so its short time is no measure of the
    device's rate. Counted, it inflated the rate after a run of easy jobs, so that the launches
    of the next hard job lasted seconds instead of ``LAUNCH_SECONDS`` (and a cancel waited for them)."""
    rate = device.rate
    count = max(int(rate * 0.05), 1 << 16)  # a full-size launch: big enough to be recorded
    for i in range(10):
        start = i << 32
        assert device.launch(bytes(32), MASK64, start, count).result() == start  # every nonce hits
    assert device.rate == rate
