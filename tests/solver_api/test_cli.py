"""``atto-work solve`` and ``atto-work solver`` as a user runs them (real subprocesses)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from work import difficulty, parse_work

ROOT = Path(__file__).resolve().parents[2]
ZERO = "0" * 64
LOCAL_2026 = 429496729550000


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "LOG_FORMAT": "json"}


def atto_work(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "atto_work", *args], capture_output=True, text=True,
                          timeout=90, env=env())


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


def test_solver_help_and_serving_on_a_port() -> None:
    assert "--port" in atto_work("solver", "--help").stdout
    assert "--threshold" in atto_work("solve", "--help").stdout
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "atto_work", "solver", "--port", str(port), "--backend", "numpy"],
        env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.communicate()[1]
            try:
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the solver did not become ready"
            time.sleep(0.1)
        r = httpx.post(f"{url}/works/{ZERO}", json={"threshold": LOCAL_2026}, timeout=60)
        assert r.status_code == 200, r.text
        assert difficulty(parse_work(r.json()["work"]), bytes(32)) <= LOCAL_2026
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    # uvicorn shuts down cleanly on SIGTERM, then re-raises the signal so the exit status tells it.
    assert server.returncode in (0, -15), stderr
    assert "Application shutdown complete" in stderr
    assert "numpy" in stderr  # the backend choice is logged


def test_a_device_selection_that_cannot_be_met_exits_2() -> None:
    result = atto_work("solve", "--hash", ZERO, "--threshold", "5", "--backend", "numpy",
                       "--devices", "0:0")
    assert result.returncode == 2 and "SOLVER_DEVICES" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # one line, no traceback


def test_solver_with_a_bad_setting_exits_2_naming_it() -> None:
    result = subprocess.run([sys.executable, "-m", "atto_work", "solver", "--port", "1"],
                            capture_output=True, text=True, timeout=60,
                            env={**env(), "SOLVER_TIMEOUT_SECONDS": "soon"})
    assert result.returncode == 2
    assert "SOLVER_TIMEOUT_SECONDS" in result.stderr.upper()
