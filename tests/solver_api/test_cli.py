"""``atto-work solve`` and ``atto-work solver`` as a user runs them (real subprocesses)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from harness.emulator import free_port
from harness.stack import Component, child_env
from work import difficulty, parse_work

ZERO = "0" * 64
LOCAL_2026 = 429496729550000


def atto_work(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "atto_work", *args], capture_output=True, text=True,
                          timeout=90, env=child_env())


@pytest.mark.parametrize("backend", ["numpy", pytest.param("opencl", marks=pytest.mark.opencl)])
def test_solve_prints_the_work_last_and_progress_on_stderr(backend: str) -> None:
    result = atto_work("solve", "--hash", ZERO, "--network", "LOCAL",
                       "--timestamp", "2026-01-01T00:00:00Z", "--backend", backend)
    assert result.returncode == 0, result.stderr
    work = result.stdout.splitlines()[-1]
    assert difficulty(parse_work(work), bytes(32)) <= LOCAL_2026
    assert work == work.upper()
    assert "MH/s" in result.stderr and "expected" in result.stderr


def test_solve_with_an_explicit_threshold() -> None:
    result = atto_work("solve", "--hash", "AB" * 32, "--threshold", str(2**64 // 2**12),
                       "--backend", "numpy")
    assert result.returncode == 0, result.stderr
    assert difficulty(parse_work(result.stdout.splitlines()[-1]), bytes.fromhex("AB" * 32)) <= 2**52


def test_solve_refuses_bad_input_and_gives_up_at_its_timeout() -> None:
    bad = atto_work("solve", "--hash", ZERO[1:], "--threshold", "5")
    assert bad.returncode == 2 and "64 hex characters" in bad.stderr
    bad = atto_work("solve", "--hash", ZERO, "--threshold", "0")
    assert bad.returncode == 2 and "between 1 and" in bad.stderr
    late = atto_work("solve", "--hash", ZERO, "--threshold", "1", "--backend", "numpy", "--timeout", "0.5")
    assert late.returncode == 1 and late.stdout == ""
    assert "no work found" in late.stderr


def test_solver_help_and_serving_on_a_port(tmp_path: Path) -> None:
    assert "--port" in atto_work("solver", "--help").stdout
    assert "--threshold" in atto_work("solve", "--help").stdout
    server = Component("solver", ["solver", "--backend", "numpy"], free_port(), child_env(), tmp_path)
    try:
        server.start(timeout=60)
        r = httpx.post(f"{server.url}/works/{ZERO}", json={"threshold": LOCAL_2026}, timeout=60)
        assert r.status_code == 200, r.text
        assert difficulty(parse_work(r.json()["work"]), bytes(32)) <= LOCAL_2026
    finally:
        status = server.terminate(timeout=30)
    # uvicorn shuts down cleanly on SIGTERM, then re-raises the signal so the exit status tells it.
    assert status in (0, -15), server.log()
    assert "Application shutdown complete" in server.log()
    assert "numpy" in server.log()  # the backend choice is logged


def test_a_device_selection_that_cannot_be_met_exits_2() -> None:
    result = atto_work("solve", "--hash", ZERO, "--threshold", "5", "--backend", "numpy",
                       "--devices", "0:0")
    assert result.returncode == 2 and "SOLVER_DEVICES" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # one line, no traceback


def test_solver_with_a_bad_setting_exits_2_naming_it() -> None:
    result = subprocess.run([sys.executable, "-m", "atto_work", "solver", "--port", "1"],
                            capture_output=True, text=True, timeout=60,
                            env={**child_env(), "SOLVER_TIMEOUT_SECONDS": "soon"})
    assert result.returncode == 2
    assert "SOLVER_TIMEOUT_SECONDS" in result.stderr.upper()
