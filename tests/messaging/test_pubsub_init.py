"""``atto-work pubsub-init`` as a subprocess against the real emulator: creates, then finds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import pytest

from harness.emulator import PROJECT, free_port

ROOT = Path(__file__).resolve().parents[2]


def init(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "atto_work", "pubsub-init"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def env_for(host: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBSUB_")}
    env.update(PYTHONPATH=str(ROOT), PUBSUB_EMULATOR_HOST=host, PUBSUB_PROJECT_ID=PROJECT, **extra)
    return env


@pytest.mark.emulator
def test_pubsub_init_twice_is_idempotent(pubsub_emulator: str) -> None:
    suffix = uuid4().hex[:8]
    env = env_for(pubsub_emulator, PUBSUB_WORK_REQUESTED_TOPIC=f"req-{suffix}",
                  PUBSUB_WORK_REQUESTED_SUBSCRIPTION=f"req-sub-{suffix}",
                  PUBSUB_WORK_GENERATED_TOPIC=f"gen-{suffix}",
                  PUBSUB_WORK_GENERATED_SUBSCRIPTION=f"gen-sub-{suffix}")
    first = init(env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        f"created topic projects/{PROJECT}/topics/req-{suffix}",
        f"created subscription projects/{PROJECT}/subscriptions/req-sub-{suffix} "
        f"on projects/{PROJECT}/topics/req-{suffix}",
        f"created topic projects/{PROJECT}/topics/gen-{suffix}",
        f"created subscription projects/{PROJECT}/subscriptions/gen-sub-{suffix} "
        f"on projects/{PROJECT}/topics/gen-{suffix}",
    ]
    second = init(env)
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == [
        f"found topic projects/{PROJECT}/topics/req-{suffix}",
        f"found subscription projects/{PROJECT}/subscriptions/req-sub-{suffix}",
        f"found topic projects/{PROJECT}/topics/gen-{suffix}",
        f"found subscription projects/{PROJECT}/subscriptions/gen-sub-{suffix}",
    ]


def test_pubsub_init_unreachable_fails_clearly() -> None:
    env = env_for(f"127.0.0.1:{free_port()}", PUBSUB_PUBLISH_TIMEOUT_SECONDS="2")
    result = init(env)
    assert result.returncode == 1
    assert result.stderr.startswith("atto-work pubsub-init: cannot create topic")


def test_pubsub_init_without_project_fails_clearly() -> None:
    env = env_for("127.0.0.1:1")
    del env["PUBSUB_PROJECT_ID"]
    result = init(env)
    assert result.returncode == 1
    assert "PUBSUB_PROJECT_ID is not set" in result.stderr
