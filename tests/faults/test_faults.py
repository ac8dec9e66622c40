"""Faults with real processes: the Pub/Sub emulator, worker server, coordinator and adapter as
separate OS processes (``harness.stack``), the callback receiver in the test process.

Every scenario ends with the same ledger (``tests.faults.ledger``): lost = 0 and invalid delivered
= 0 are asserted; duplicates are counted and reported (delivery is at-least-once).
"""

from __future__ import annotations

import json
import os
import random
import re
import secrets
import threading
import time
from pathlib import Path

import httpx
import pytest
from google.cloud import pubsub_v1

from atto_work.receiver import CallbackReceiver
from harness.emulator import PROJECT, free_port
from harness.polling import wait_until
from harness.server import ServerThread
from harness.stack import Component, Stack
from tests.faults.ledger import Ledger
from tests.pipeline.fakes import TinyWorker, invalid_work
from work import parse_target

# A SIGKILLed consumer's leased messages come back only when their lease runs out on the emulator
# (tens of seconds), so each scenario may take a minute or two.
pytestmark = [pytest.mark.emulator, pytest.mark.timeout(300)]


def metric(component: Component, name: str, labels: str = "") -> float:
    """One sample of a component's Prometheus ``/metrics`` (0 when absent or unreachable)."""
    try:
        text = httpx.get(component.url + "/metrics", timeout=5, trust_env=False).text
    except httpx.HTTPError:
        return 0.0
    pattern = re.escape(name) + (re.escape("{" + labels + "}") if labels else "") + r" ([0-9.e+-]+)"
    found = re.search("^" + pattern + "$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0



def check(counts, stack: Stack) -> None:  # noqa: ANN001
    assert counts.invalid_delivered == 0, stack.logs()
    assert counts.lost == 0, f"{counts}\n{stack.logs()}"


def test_adapter_sigkill_while_holding_requests(stack: Stack) -> None:
    with CallbackReceiver() as receiver:
        ledger = Ledger(receiver)
        # A hung worker server keeps the adapter's requests open for as long as the scenario needs,
        # however fast the machine solves: the adapter surely holds unacked messages when it dies.
        stack.solver.pause()
        try:
            ledger.post(stack.coordinator.url, 20)
            wait_until(lambda: metric(stack.adapter, "adapter_in_flight") >= 1, within=60,
                   what="the adapter to hold work", details=stack.logs)
            stack.adapter.kill()
        finally:
            stack.solver.resume()
        assert ledger.delivered() == set()
        time.sleep(1)
        stack.adapter.start()
        counts = ledger.settle("adapter SIGKILL holding requests", within=150)
    check(counts, stack)


def test_coordinator_sigkill_between_generation_and_callback(stack: Stack) -> None:
    with CallbackReceiver() as receiver:
        ledger = Ledger(receiver)
        # A: the coordinator holds generated results whose callbacks have not succeeded yet
        receiver.fail_next(10**6)
        ledger.post(stack.coordinator.url, 3)
        wait_until(lambda: receiver.refused >= 3, within=60,
                   what="callbacks to be attempted", details=stack.logs)
        # B: accepted, then the coordinator dies before the adapter generates them
        ledger.post(stack.coordinator.url, 3)
        stack.coordinator.kill()
        wait_until(lambda: metric(stack.adapter, "adapter_messages_total", 'outcome="solved"') >= 6,
                   within=60, what="the adapter to generate every work while the coordinator is down",
                   details=stack.logs)
        assert ledger.delivered() == set()
        receiver.fail_next(0)
        stack.coordinator.start()
        counts = ledger.settle("coordinator SIGKILL before callback", within=150)
    check(counts, stack)


def test_callback_receiver_down_for_20_seconds(stack: Stack) -> None:
    receiver = CallbackReceiver().start()
    try:
        receiver.stop()  # the port stays ours to start again on
        ledger = Ledger(receiver)
        ledger.post(stack.coordinator.url, 10)
        time.sleep(20)
        retried = metric(stack.coordinator, "coordinator_results_total", 'outcome="retried"')
        assert retried >= 10, "the coordinator should have retried each callback during the outage"
        receiver.start()
        counts = ledger.settle("callback receiver down 20 s", within=60)
    finally:
        receiver.stop()
    check(counts, stack)


def test_invalid_work_never_reaches_the_client(stack: Stack, tmp_path: Path, pubsub_emulator: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    liar = TinyWorker(lying=True, capacity=2)
    with ServerThread(liar.app()) as liar_server, CallbackReceiver() as receiver:
        # A second adapter, on the same subscription as the honest one, whose worker server lies.
        lying_adapter = Component("adapter-liar", ["adapter"], free_port(),
                                  {**stack.env, "WORKER_URL": liar_server.url}, tmp_path)
        try:
            lying_adapter.start()
            ledger = Ledger(receiver)
            ledger.post(stack.coordinator.url, 20)
            # A wrong WorkGenerated straight on the queue (a broken or foreign adapter): the
            # coordinator must not call back with it, and must queue the request again.
            target, limit = secrets.token_hex(32).upper(), next(iter(ledger.accepted.values()))
            ledger.accepted[target] = limit  # expected back, valid, like any accepted request
            monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator)
            publisher = pubsub_v1.PublisherClient()
            topic = publisher.topic_path(PROJECT, stack.names["PUBSUB_WORK_GENERATED_TOPIC"])
            bad = invalid_work(parse_target(target), limit).hex().upper()
            message = {"callbackUrl": receiver.url, "hash": target, "threshold": limit, "work": bad}
            publisher.publish(topic, json.dumps(message).encode()).result(timeout=30)
            wait_until(lambda: metric(stack.coordinator, "coordinator_results_total",
                                      'outcome="invalid_work"') >= 1, within=60,
                   what="the coordinator to refuse it", details=stack.logs)
            counts = ledger.settle("invalid work beside a good worker", within=150)
        finally:
            lying_adapter.terminate(timeout=10)
    assert liar.finished, "the lying worker server was never asked: the scenario did not happen"
    check(counts, stack)


def test_worker_server_killed_mid_solve(stack: Stack) -> None:
    with CallbackReceiver() as receiver:
        ledger = Ledger(receiver)
        # BETA: seconds a work on the CPU, so the solve is still running when the server dies
        ledger.post(stack.coordinator.url, 2, network="BETA")
        wait_until(lambda: metric(stack.adapter, "adapter_in_flight") >= 1, within=60,
                   what="a solve to start", details=stack.logs)
        stack.solver.kill()
        assert len(ledger.delivered()) < len(ledger.accepted)
        wait_until(lambda: metric(stack.adapter, "adapter_messages_total", 'outcome="worker_failed"') >= 1,
                   within=30, what="the adapter to see the worker server fail", details=stack.logs)
        stack.solver.start()
        counts = ledger.settle("worker server SIGKILL mid-solve", within=150)
    check(counts, stack)


@pytest.mark.timeout(600)
def test_mixed_run_with_random_kills(stack: Stack) -> None:
    total = int(os.environ.get("ATTO_WORK_FAULTS_MIXED_REQUESTS", "300"))
    seed = int(os.environ.get("ATTO_WORK_FAULTS_SEED", str(random.randrange(10**6))))
    rng = random.Random(seed)
    posting = threading.Event()
    posting.set()
    kills: list[str] = []
    problems: list[BaseException] = []

    def chaos() -> None:
        try:
            while posting.is_set():
                time.sleep(rng.uniform(1.0, 3.0))
                victim = rng.choice(stack.components)
                kills.append(victim.name)
                victim.kill()
                time.sleep(rng.uniform(0.2, 1.5))
                victim.start()
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            problems.append(exc)

    with CallbackReceiver() as receiver:
        ledger = Ledger(receiver)
        chaos_thread = threading.Thread(target=chaos, name="chaos", daemon=True)
        chaos_thread.start()
        try:
            for _ in range(total // 10):
                ledger.post(stack.coordinator.url, 10, within=120)
                time.sleep(0.3)
        finally:
            posting.clear()
            chaos_thread.join(timeout=150)
        assert not problems, problems
        for component in stack.components:
            if not component.running:
                component.start()
        counts = ledger.settle(f"mixed run, {len(kills)} random SIGKILLs (seed {seed})", within=240)
    print(f"mixed run: seed {seed}, kills {kills}, {counts}")
    check(counts, stack)
