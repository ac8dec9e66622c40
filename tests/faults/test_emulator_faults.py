"""The Pub/Sub emulator itself SIGKILLed mid-run and started again on its port, under the real
processes (``harness.stack``): the services find it again by themselves (their streams reconnect,
and a consumer that finds its subscription gone makes it again, with its topic) and nothing a client
was told is accepted is lost.

The emulator keeps everything in memory: started again, it has no topics, subscriptions or messages
(real Pub/Sub keeps them). So the run settles what was accepted before the kill, then keeps posting
through the outage: intake answers 503 while it cannot publish, a patient client retries, and every
request accepted once the emulator is back must come back on its callback.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from atto_work.receiver import CallbackReceiver
from harness.emulator import PubSubEmulator
from harness.stack import Stack
from tests.faults.conftest import FAULT_ENV
from tests.faults.ledger import Ledger
from tests.faults.test_faults import check

pytestmark = [pytest.mark.emulator, pytest.mark.timeout(400)]


@pytest.fixture
def emulators() -> Iterator[list[PubSubEmulator]]:
    """An emulator of this test's own (the session's is shared): the first, and any started again."""
    started = [PubSubEmulator()]
    started[0].start()
    try:
        yield started
    finally:
        for emulator in started:
            emulator.stop()


def test_emulator_sigkilled_and_restarted_mid_run(emulators: list[PubSubEmulator], tmp_path: Path) -> None:
    first = emulators[0]
    with Stack(first.host, tmp_path, env=FAULT_ENV) as stack, CallbackReceiver() as receiver:
        ledger = Ledger(receiver)
        ledger.post(stack.coordinator.url, 10)
        receiver.wait_for_hashes(ledger.accepted, 60)  # the emulator holds nothing of ours when it dies
        os.killpg(first.pid, signal.SIGKILL)
        down = time.monotonic()

        def start_again() -> None:
            time.sleep(5)  # posts meet the outage first
            emulators.append(PubSubEmulator(port=first.port))
            emulators[-1].start()

        restarter = threading.Thread(target=start_again, name="emulator restart")
        restarter.start()
        try:
            ledger.post(stack.coordinator.url, 10, within=180)
        finally:
            restarter.join()
        assert time.monotonic() - down > 5, "the requests were accepted while the emulator was down"
        counts = ledger.settle("Pub/Sub emulator SIGKILLed and restarted", within=180)
    check(counts, stack)
