"""Fault runs: real processes on the real Pub/Sub emulator; a table of their counts at the end."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.stack import Stack
from tests.faults.ledger import REPORT

#: Short timeouts, so a scenario waits seconds, not minutes (the stack already opens loopback to
#: callbacks and shortens the retry delays).
FAULT_ENV = {
    "CALLBACK_TIMEOUT_SECONDS": "5",
    "ADAPTER_SHUTDOWN_GRACE_SECONDS": "2",
    "WORKER_TIMEOUT_SECONDS": "30",
    "LOG_LEVEL": "INFO",
}


@pytest.fixture
def stack(pubsub_emulator: str, tmp_path: Path) -> Iterator[Stack]:
    with Stack(pubsub_emulator, tmp_path, env=FAULT_ENV) as running:
        yield running


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not REPORT:
        return
    terminalreporter.section("fault runs")
    header = f"{'scenario':<44} {'requests':>8} {'lost':>5} {'invalid':>8} {'duplicates':>10}"
    terminalreporter.write_line(header)
    for row in REPORT:
        terminalreporter.write_line(
            f"{row['scenario']:<44} {row['requests']:>8} {row['lost']:>5} "
            f"{row['invalid_delivered']:>8} {row['duplicates']:>10}")
        if "figures" in row:
            terminalreporter.write_line(f"    {row['figures']}")
    if path := os.environ.get("ATTO_WORK_FAULTS_REPORT"):
        Path(path).write_text(json.dumps(REPORT, indent=2) + "\n")
