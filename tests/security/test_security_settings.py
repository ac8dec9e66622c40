"""Bad security settings stop the coordinator at start-up with one line naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name, value, says", [
    ("COORDINATOR_API_KEYS", "short", "at least 16"),
    ("COORDINATOR_API_KEYS", "@/nonexistent/keys", "cannot read"),
    ("CALLBACK_ALLOWED_NETWORKS", "10.0.0.0/8, intranet", "not a CIDR"),
    ("COORDINATOR_RATE_LIMIT", "-1", "greater than 0"),
])
def test_bad_security_setting_exits_2_naming_it(name: str, value: str, says: str) -> None:
    # Pub/Sub pointed at a closed loopback port: were the setting accepted, nothing could leave.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MESSAGING": "pubsub", "PUBSUB_PROJECT_ID": "p",
           "PUBSUB_EMULATOR_HOST": "127.0.0.1:9", name: value}
    result = subprocess.run([sys.executable, "-m", "atto_work", "coordinator", "--port", "9"],
                            env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 2, result.stderr
    assert name in result.stderr and says in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
