"""``atto-work pubsub-init --wait``: a compose stack starts it together with the emulator (podman
does not honour ``depends_on: condition: service_healthy``), so it keeps trying until Pub/Sub answers,
within a bound, and then fails clearly. Against the real emulator, started after pubsub-init."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from deploy_support import ROOT

from harness.emulator import PROJECT, PubSubEmulator, free_port


def pubsub_init(host: str, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBSUB_")}
    env.update(PYTHONPATH=str(ROOT), PUBSUB_EMULATOR_HOST=host, PUBSUB_PROJECT_ID=PROJECT,
               PUBSUB_PUBLISH_TIMEOUT_SECONDS="1")
    return subprocess.Popen([sys.executable, "-m", "atto_work", "pubsub-init", *args], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_gives_up_after_the_wait_with_a_clear_error() -> None:
    start = time.monotonic()
    proc = pubsub_init(f"127.0.0.1:{free_port()}", "--wait", "3")
    out, err = proc.communicate(timeout=60)
    elapsed = time.monotonic() - start
    assert proc.returncode == 1, (out, err)
    assert err.startswith("atto-work pubsub-init: cannot create topic"), err
    assert "no answer after trying for 3 s" in err
    assert elapsed >= 3


@pytest.mark.emulator
@pytest.mark.timeout(300)
def test_waits_for_an_emulator_that_starts_later() -> None:
    port = free_port()
    proc = pubsub_init(f"127.0.0.1:{port}", "--wait", "240")
    try:
        time.sleep(3)
        assert proc.poll() is None, proc.communicate()  # still trying: nothing answers yet
        with PubSubEmulator(port=port):
            out, err = proc.communicate(timeout=250)
        assert proc.returncode == 0, err
        assert f"created topic projects/{PROJECT}/topics/work-requested" in out.splitlines()
    finally:
        proc.kill()
        proc.wait(timeout=10)
