"""Faults of the shared work state: real processes on the emulator with ``STORE_URL`` on a real
redis-server (``harness.redis_server``). Same ledger as the other fault runs: lost = 0 and invalid
delivered = 0 are asserted, duplicates counted."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from atto_work.receiver import CallbackReceiver
from harness.emulator import free_port
from harness.redis_server import RedisServer
from harness.stack import Component, Stack
from tests.faults.conftest import FAULT_ENV
from tests.faults.ledger import Ledger
from tests.faults.test_faults import check, metric

pytestmark = [pytest.mark.emulator, pytest.mark.timeout(400)]


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_stack(pubsub_emulator: str, tmp_path: Path, redis: RedisServer) -> Iterator[Stack]:
    with Stack(pubsub_emulator, tmp_path, env={**FAULT_ENV, "STORE_URL": redis.url}) as running:
        yield running


def test_redis_sigkilled_and_restarted_during_a_run(redis_stack: Stack, redis: RedisServer) -> None:
    stack = redis_stack
    posting = threading.Event()
    posting.set()
    kills = 0

    def chaos() -> None:
        nonlocal kills
        while posting.is_set():
            time.sleep(1.5)
            redis.kill()
            kills += 1
            time.sleep(1.0)  # intake answers 503 meanwhile; the ledger retries like a client
            redis.start()

    with CallbackReceiver() as receiver:
        ledger = Ledger(receiver)
        thread = threading.Thread(target=chaos, name="redis-chaos", daemon=True)
        thread.start()
        try:
            for _ in range(6):
                hashes = ledger.post(stack.coordinator.url, 10, within=120)
                for target in hashes[:3]:  # a second caller for some: joined, or answered from cache
                    ledger.post_to(stack.coordinator.url, target, within=120)
                time.sleep(0.3)
        finally:
            posting.clear()
            thread.join(timeout=30)
        assert kills >= 1
        counts = ledger.settle(f"Redis SIGKILLed {kills}x and restarted", within=240)
    check(counts, stack)


def test_two_coordinators_sharing_redis_run_one_search_per_hash(
    redis_stack: Stack, tmp_path: Path
) -> None:
    stack = redis_stack
    second = Component("coordinator-2", ["coordinator"], free_port(), stack.env, tmp_path).start()
    try:
        with CallbackReceiver() as receiver:
            ledger = Ledger(receiver)
            hashes = [f"{i:02X}" * 32 for i in range(1, 11)]
            with ThreadPoolExecutor(20) as pool:  # each hash to both coordinators at once
                list(pool.map(lambda job: ledger.post_to(*job),
                              [(c.url, h) for h in hashes for c in (stack.coordinator, second)]))
            counts = ledger.settle("two coordinators, one Redis, same hashes", within=120)
            solved = metric(stack.solver, "solver_searches_total", 'outcome="solved"')
        check(counts, stack)
        assert counts.requests == 10
        assert counts.duplicates == 10  # two callers per hash: each got its own callback
        assert solved == 10, f"{solved} searches for 10 hashes\n{stack.logs()}"
    finally:
        second.terminate(timeout=30)
