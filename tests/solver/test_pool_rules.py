"""The device pool on the real backends under both rules: ``DevicePool.solve(..., rule=...)``
returns works that the rule's own module (and, for Nano, nanopy) accepts."""

from __future__ import annotations

import asyncio
import random

import pytest

from solver.jobs import Rule
from solver.pool import DevicePool
from tests.test_work_nano import DOCS_ROOT, nanopy_valid
from work import difficulty, is_valid, nano

# One nonce in 4096 meets either: Atto difficulty <= ATTO_EASY, Nano difficulty >= NANO_EASY. The
# same number as the other rule's threshold would be met by almost every nonce.
ATTO_EASY = 2**64 // 4096 - 1
NANO_EASY = 2**64 - 2**64 // 4096


@pytest.fixture(params=["opencl", "numpy"])
async def pool(request, open_devices):
    pool = DevicePool(open_devices(request.param), close_devices=False)
    yield pool
    await asyncio.to_thread(pool.close)


async def test_nano_rule_finds_nano_works(pool):
    rnd = random.Random(5)
    for _ in range(3):
        root = rnd.randbytes(32)
        solution = await pool.solve(root, NANO_EASY, time_limit=60, rule=Rule.NANO)
        value = nano.from_raw(solution.work)
        assert difficulty(solution.work, root) >= NANO_EASY  # hashlib, through the Atto function
        assert nano.is_valid(value, root, NANO_EASY) and nanopy_valid(value, root, NANO_EASY)


async def test_atto_rule_stays_the_default(pool):
    rnd = random.Random(6)
    for _ in range(3):
        root = rnd.randbytes(32)
        solution = await pool.solve(root, ATTO_EASY, time_limit=60)
        assert is_valid(solution.work, root, ATTO_EASY)
        assert difficulty(solution.work, root) <= ATTO_EASY


def test_rule_bounds() -> None:
    assert Rule.ATTO.search_bound(12345) == (0, 12345)
    mask, bound = Rule.NANO.search_bound(nano.SEND_DIFFICULTY)
    assert (mask, bound) == (2**64 - 1, 2**35 - 1)
    for value in [nano.SEND_DIFFICULTY - 1, nano.SEND_DIFFICULTY, nano.SEND_DIFFICULTY + 1]:
        assert ((value ^ mask) <= bound) is (value >= nano.SEND_DIFFICULTY)


def test_rule_is_valid_uses_each_rules_module() -> None:
    root, work = DOCS_ROOT, nano.to_raw(0x2BF29EF00786A6BC)
    value = 0xFFFFFFD21C3933F4  # this work's difficulty (tests/test_work_nano.py)
    assert Rule.NANO.is_valid(work, root, value) and not Rule.NANO.is_valid(work, root, value + 1)
    assert Rule.ATTO.is_valid(work, root, value) and not Rule.ATTO.is_valid(work, root, value - 1)
