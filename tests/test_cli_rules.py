"""``atto-work threshold`` and ``atto-work validate`` as a user runs them (a real subprocess)."""

from __future__ import annotations

import subprocess
import sys

ZERO = "0" * 64


def atto_work(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "atto_work", *args], capture_output=True, text=True, timeout=60
    )


def test_threshold_prints_the_number_alone() -> None:
    result = atto_work("threshold", "--network", "LOCAL", "--timestamp", "2026-01-01T00:00:00Z")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "429496729550000\n"


def test_threshold_refuses_bad_input_with_exit_2() -> None:
    result = atto_work("threshold", "--network", "UNKNOWN", "--timestamp", "2026-01-01T00:00:00Z")
    assert result.returncode == 2
    assert "unknown network" in result.stderr
    result = atto_work("threshold", "--network", "LIVE", "--timestamp", "2023-12-31T23:59:59Z")
    assert result.returncode == 2
    assert "before 2024" in result.stderr


def test_validate_valid_invalid_and_bad_input() -> None:
    ok = atto_work("validate", "--hash", ZERO, "--work", "576887B000000000",
                   "--network", "LIVE", "--timestamp", "2024-01-01T00:00:00Z")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("valid difficulty=5029785218")
    bad = atto_work("validate", "--hash", ZERO, "--work", "A7E077E02E3E759F",
                    "--threshold", "8589934591")
    assert bad.returncode == 1
    assert bad.stdout.startswith("invalid difficulty=26600049800")
    wrong = atto_work("validate", "--hash", ZERO[:-1], "--work", "A7E077E02E3E759F",
                      "--threshold", "1")
    assert wrong.returncode == 2
    assert "64 hex characters" in wrong.stderr
