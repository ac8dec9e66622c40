"""``atto-work devices`` and ``atto-work bench`` run as the user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.hashrate import rules_ratio

ROOT = Path(__file__).resolve().parents[2]


def atto_work(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "atto_work", *args], capture_output=True, text=True,
                          env=env, timeout=100, check=False)  # fmt: skip


def test_devices_lists_platforms_and_auto_choice():
    result = atto_work("devices")
    assert result.returncode == 0, result.stderr
    assert "platform 0:" in result.stdout
    assert "0:0" in result.stdout
    assert "auto would use: opencl:" in result.stdout


def test_bench_json_measures_each_backend():
    result = atto_work("bench", "--seconds", "1", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    names = [r["device"] for r in report["rates"]]
    assert any(n.startswith("opencl:") for n in names) and any(n.startswith("numpy:") for n in names)
    for r in report["rates"]:
        assert r["hashes"] > 0 and r["seconds"] >= 1 and r["rate"] == r["hashes"] / r["seconds"]


def test_gpu_check_logic_runs_on_pocl_with_an_easy_network():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, str(ROOT / "bench" / "gpu-check"), "--cpu", "--network", "LOCAL",
           "--pairs", "4096", "--rate-seconds", "1"]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=110, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4096 difficulties and 5 first hits equal hashlib's" in result.stdout
    assert "LOCAL works: 20 solved and validated; mean" in result.stdout


def test_hashrate_rules_measures_both_rules_on_pocl():
    """``bench/hashrate.py --rules``' measurement runs (tiny sizes; no speed is asserted here)."""
    result = rules_ratio(None, seconds=0.2, rounds=1, jobs=1)
    assert "error" not in result, result
    assert result["device"].startswith("opencl:")
    for key in ("raw", "jobs_2_22"):
        summary = result[key]
        assert summary["rounds"] == 1 and summary["ours_median"] > 0 and summary["peer_median"] > 0
