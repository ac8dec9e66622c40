"""The Pub/Sub emulator itself SIGKILLed mid-run and started again on its port, under the real
processes (``harness.stack``): the services find it again by themselves (their streams reconnect,
and a consumer that finds its subscription gone makes it again, with its topic) and nothing a client
was told is accepted is lost.

The emulator keeps everything in memory: started again, it has no topics, subscriptions or messages
(real Pub/Sub keeps them). So the run settles what was accepted before the kill, checks that intake
answers 503 while it cannot publish, and once the adapter has made its subscription again posts
more: every request accepted then must come back on its callback. (Between the adapter's re-creating
the topic and its subscription, a few milliseconds, a publish would be stored nowhere: an artefact of
an emulator that forgot everything, which real Pub/Sub, keeping both, does not have.)
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1

from atto_work.receiver import CallbackReceiver
from harness.emulator import PubSubEmulator
from harness.polling import wait_until
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


def test_emulator_sigkilled_and_restarted_mid_run(emulators: list[PubSubEmulator], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    first = emulators[0]
    with Stack(first.host, tmp_path, env=FAULT_ENV) as stack, CallbackReceiver() as receiver:
        ledger = Ledger(receiver)
        ledger.post(stack.coordinator.url, 10)
        receiver.wait_for_hashes(ledger.accepted, 60)  # the emulator holds nothing of ours when it dies
        os.killpg(first.pid, signal.SIGKILL)

        def start_again() -> None:
            time.sleep(5)  # posts meet the outage first
            emulators.append(PubSubEmulator(port=first.port))
            emulators[-1].start()

        restarter = threading.Thread(target=start_again, name="emulator restart")
        restarter.start()
        try:
            answer = httpx.post(f"{stack.coordinator.url}/works/{'AB' * 32}", timeout=30,
                                json={"network": "LOCAL", "timestamp": "2026-01-01T00:00:00Z",
                                      "callback": receiver.url})
            assert answer.status_code == 503, f"intake answered {answer.status_code} with the emulator down"
        finally:
            restarter.join()
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", first.host)
        subscriber = pubsub_v1.SubscriberClient()
        path = subscriber.subscription_path(first.project, stack.names["PUBSUB_WORK_REQUESTED_SUBSCRIPTION"])

        def subscribed() -> bool:
            try:
                subscriber.get_subscription(subscription=path, timeout=5)
            except gexc.NotFound:
                return False
            return True

        wait_until(subscribed, within=120, what="the adapter to make its subscription again")
        subscriber.close()
        ledger.post(stack.coordinator.url, 10, within=60)
        counts = ledger.settle("Pub/Sub emulator SIGKILLed and restarted", within=180)
    check(counts, stack)
