"""Isolation under hostile load, with real processes on the Pub/Sub emulator (issue 10, items 1, 4,
5): a receiver that drips its answer, callback names whose DNS server never answers, a receiver
that is down. Each scenario ends with the ledger (lost = 0, invalid delivered = 0 asserted) and
reports its figures (delays, memory) beside the counts; the bounds asserted on them only stop a
hang, the figures are what docs/operations.md quotes.
"""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path

import httpx
import pytest

from atto_work.receiver import CallbackReceiver
from harness.polling import wait_until
from harness.stack import Component, Stack
from tests.faults.conftest import FAULT_ENV
from tests.faults.ledger import REPORT, Ledger
from tests.faults.slow_peers import DrippingReceiver, StubDns
from tests.faults.test_faults import check

pytestmark = [pytest.mark.emulator, pytest.mark.timeout(400)]
PER_ORIGIN = 8  # CALLBACK_CONNECTIONS_PER_ORIGIN's default


def figures(text: str) -> None:
    """Put ``text`` beside the latest scenario's counts in the fault-run report."""
    REPORT[-1]["figures"] = text
    print(f"{REPORT[-1]['scenario']}: {text}")


def delays(values: list[float]) -> str:
    return f"p50 {statistics.median(values):.2f} s, max {max(values):.2f} s"


def rss_kib(component: Component) -> int:
    assert component.process is not None
    status = Path(f"/proc/{component.process.pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))


def test_a_dripping_receiver_does_not_delay_another(stack: Stack) -> None:
    with DrippingReceiver(interval=1.0) as dripping, CallbackReceiver() as receiver:
        Ledger(receiver).post(stack.coordinator.url, 300, callback=dripping.url)
        wait_until(lambda: dripping.open >= PER_ORIGIN, within=120, what="the dripping receiver to hold "
                   "its connections", details=stack.logs)
        ledger = Ledger(receiver)
        for _ in range(20):
            ledger.post(stack.coordinator.url)
            time.sleep(0.1)
        counts = ledger.settle("beside a dripping receiver (300 pending)", within=60)
        figures(f"callback delay {delays(ledger.delays())}; dripping receiver held at most "
                f"{dripping.most_open} connections")
    check(counts, stack)
    assert dripping.most_open <= PER_ORIGIN


HOLES = [f"hole-{n}.test" for n in range(8)]


def test_black_holed_callback_names_do_not_delay_a_resolvable_one(pubsub_emulator: str,
                                                                  tmp_path: Path) -> None:
    with StubDns({"good.test": "127.0.0.1"}, set(HOLES)) as dns, CallbackReceiver() as receiver:
        env = {**FAULT_ENV, "CALLBACK_DNS_SERVERS": f"127.0.0.1:{dns.port}"}
        with Stack(pubsub_emulator, tmp_path, env=env) as stack:
            ledger = Ledger(receiver)
            good = f"http://good.test:{receiver.port}/callback"

            def intake_seconds() -> list[float]:
                seconds = []
                for _ in range(20):
                    started = time.perf_counter()
                    ledger.post(stack.coordinator.url, callback=good)
                    seconds.append(time.perf_counter() - started)
                return seconds

            alone = intake_seconds()  # the same requests with no black-holed name in the way
            refused: list[int] = []

            def stuck_client(host: str) -> None:
                body = {"network": "LOCAL", "timestamp": "2026-01-01T00:00:00Z",
                        "callback": f"http://{host}/cb"}
                answer = httpx.post(f"{stack.coordinator.url}/works/{'AB' * 32}", json=body,
                                    timeout=30, trust_env=False)
                refused.append(answer.status_code)

            clients = [threading.Thread(target=stuck_client, args=(host,)) for host in HOLES]
            for client in clients:
                client.start()
            wait_until(lambda: all(dns.queries.get(host) for host in HOLES), within=30,
                       what="every black-holed name to be asked", details=stack.logs)
            intake = intake_seconds()
            answered_while_stuck = sum(client.is_alive() for client in clients)
            for client in clients:
                client.join(timeout=60)
            counts = ledger.settle("8 black-holed callback names", within=60)
            figures(f"intake of a resolvable name {delays(intake)} ({delays(alone)} before; "
                    f"{answered_while_stuck} of 8 black-holed still waiting after); callback delay "
                    f"{delays(ledger.delays())}")
        check(counts, stack)
    assert refused == [400] * 8


def test_a_down_receiver_reaches_its_bound_then_intake_answers_503(pubsub_emulator: str,
                                                                   tmp_path: Path) -> None:
    bound = 100
    env = {**FAULT_ENV, "CALLBACK_MAX_PENDING_PER_ORIGIN": str(bound)}
    receiver = CallbackReceiver().start()
    receiver.stop()  # down; the port stays ours to start again on
    try:
        with Stack(pubsub_emulator, tmp_path, env=env) as stack:
            ledger = Ledger(receiver)
            before = rss_kib(stack.coordinator)
            answers = {202: 0, 503: 0}
            with httpx.Client(base_url=stack.coordinator.url, trust_env=False, timeout=10) as client:
                for n in range(2000):
                    target = f"{n + 1:064X}"
                    body = {"network": "LOCAL", "timestamp": "2026-01-01T00:00:00Z", "callback": receiver.url}
                    answer = client.post(f"/works/{target}", json=body)
                    assert answer.status_code in answers, answer.text
                    answers[answer.status_code] += 1
                    if answer.status_code == 202:
                        ledger.accepted[target] = int(answer.json()["threshold"])
                        ledger.accepted_at[target] = time.perf_counter()
                    elif answers[503] >= 20:
                        break
                    time.sleep(0.02)
            grown = rss_kib(stack.coordinator) - before
            assert answers[503] >= 20, "intake never answered 503 for the down receiver"
            receiver.start()
            counts = ledger.settle(f"receiver down, bound {bound} per origin", within=150)
            figures(f"{answers[202]} accepted, then 503 ({answers[503]} refused); coordinator RSS "
                    f"+{grown} KiB while they waited; callback delay after the receiver came back "
                    f"{delays(ledger.delays())}")
        check(counts, stack)
    finally:
        receiver.stop()
