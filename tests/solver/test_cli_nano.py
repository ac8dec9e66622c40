"""``atto-work validate --nano`` and ``atto-work solve --nano`` as a user runs them (real
subprocesses); works checked by work.nano and nanopy."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.stack import child_env
from tests.test_work_nano import DOCS_ROOT, nanopy_valid
from work import nano

DOCS_HASH = DOCS_ROOT.hex().upper()


def atto_work(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "atto_work", *args], capture_output=True, text=True,
                          timeout=90, env=child_env())


def test_validate_nano_against_the_default_send_and_a_given_difficulty() -> None:
    send = atto_work("validate", "--nano", "--hash", DOCS_HASH, "--work", "2bf29ef00786a6bc")
    assert send.returncode == 1, send.stderr
    assert send.stdout == ("invalid difficulty=ffffffd21c3933f4 threshold=fffffff800000000 "
                           "multiplier=0.174331\n")
    receive = atto_work("validate", "--nano", "--hash", DOCS_HASH, "--work", "2BF29EF00786A6BC",
                        "--difficulty", "fffffe0000000000")
    assert receive.returncode == 0, receive.stderr
    assert receive.stdout.startswith("valid difficulty=ffffffd21c3933f4 threshold=fffffe0000000000")
    exact = atto_work("validate", "--nano", "--hash", DOCS_HASH, "--work", "2bf29ef00786a6bc",
                      "--difficulty", "ffffffd21c3933f4")
    assert exact.returncode == 0, exact.stdout  # at least the difficulty: equal is valid


@pytest.mark.parametrize(("args", "message"), [
    (["--nano", "--network", "LIVE"], "--nano takes --difficulty"),
    (["--nano", "--threshold", "5"], "--nano takes --difficulty"),
    (["--difficulty", "fffffff800000000"], "--difficulty goes with --nano"),
    (["--nano", "--difficulty", "fffffff8"], "16 hex characters"),
    (["--nano", "--difficulty", "fffffff800000000", "--network", "LIVE"], "not allowed with"),
    ([], "one of --network, --threshold or --nano is required"),
])
def test_validate_refuses_mixed_rules_with_exit_2(args, message) -> None:
    result = atto_work("validate", "--hash", DOCS_HASH, "--work", "2bf29ef00786a6bc", *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_validate_refuses_a_bad_nano_work_with_exit_2() -> None:
    result = atto_work("validate", "--nano", "--hash", DOCS_HASH, "--work", "2bf29ef00786a6b")
    assert result.returncode == 2
    assert "argument --work: work must be 16 hex characters" in result.stderr


@pytest.mark.parametrize("backend", ["numpy", pytest.param("opencl", marks=pytest.mark.opencl)])
def test_solve_nano_prints_a_nano_work(backend: str) -> None:
    least = "fff0000000000000"  # 4096 hashes on average
    result = atto_work("solve", "--nano", "--hash", DOCS_HASH, "--difficulty", least,
                       "--backend", backend)
    assert result.returncode == 0, result.stderr
    work = result.stdout.splitlines()[-1]
    assert len(work) == 16 and work == work.lower()
    value = nano.parse_work(work)
    assert nano.is_valid(value, DOCS_ROOT, int(least, 16))
    assert nanopy_valid(value, DOCS_ROOT, int(least, 16))
    check = atto_work("validate", "--nano", "--hash", DOCS_HASH, "--work", work, "--difficulty", least)
    assert check.returncode == 0, check.stdout
