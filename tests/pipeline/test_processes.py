"""The pipeline across separate OS processes on the real Pub/Sub emulator: worker server,
coordinator and adapter as ``python -m atto_work ...``, a callback receiver in the test process.
Also: wire compatibility with plain Google clients, the adapter's SIGTERM drain, ``atto-work
request`` against ``atto-work up``, and a service refusing the in-process broker when alone."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from google.cloud import pubsub_v1

from atto_work.receiver import Callback, CallbackReceiver
from harness.emulator import PROJECT, free_port
from harness.polling import wait_until
from harness.server import ServerThread
from harness.stack import Component, Stack, child_env
from tests.pipeline.fakes import TinyWorker
from work import Network, difficulty, parse_target, parse_work, threshold

pytestmark = pytest.mark.emulator


def post_requests(coordinator: str, callback: str, hashes: list[bytes]) -> int:
    now = datetime.now(UTC).isoformat()
    with httpx.Client(base_url=coordinator, trust_env=False) as client:
        for h in hashes:
            answer = client.post(f"/works/{h.hex()}",
                                 json={"network": "LOCAL", "timestamp": now, "callback": callback})
            assert answer.status_code == 202, answer.text
    return threshold(Network.LOCAL, datetime.now(UTC))


def wanted(hashes: list[bytes]) -> list[str]:
    return [h.hex().upper() for h in hashes]


def assert_valid(callbacks: dict[str, Callback], hashes: list[bytes], limit: int) -> None:
    assert set(callbacks) == set(wanted(hashes))
    for hash_hex, callback in callbacks.items():
        assert callback.body["hash"] == hash_hex
        assert difficulty(parse_work(callback.body["work"]), parse_target(hash_hex)) <= limit


@pytest.fixture
def stack(pubsub_emulator: str, tmp_path: Path) -> Iterator[Stack]:
    with Stack(pubsub_emulator, tmp_path) as running:
        yield running


def test_requests_flow_through_separate_processes(stack: Stack) -> None:
    hashes = [bytes([i]) * 32 for i in range(1, 11)]
    with CallbackReceiver() as receiver:
        limit = post_requests(stack.coordinator.url, receiver.url, hashes)
        callbacks = receiver.wait_for_hashes(wanted(hashes), 90)
    assert len(callbacks) == len(hashes), stack.logs()
    assert_valid(callbacks, hashes, limit)


def test_wire_compatible_with_plain_google_clients(
    stack: Stack, pubsub_emulator: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator)
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    generated_topic = publisher.topic_path(PROJECT, stack.names["PUBSUB_WORK_GENERATED_TOPIC"])
    wiretap = subscriber.subscription_path(PROJECT, f"wiretap-{stack.names['PUBSUB_WORK_GENERATED_TOPIC']}")
    subscriber.create_subscription(name=wiretap, topic=generated_topic)
    target = bytes(range(32))
    limit = 429496729550000
    with CallbackReceiver() as receiver:
        # the reference coordinator's WorkRequested, byte for byte its JSON form
        reference = json.dumps({"callbackUrl": receiver.url, "hash": target.hex().upper(),
                                "threshold": limit}).encode()
        topic = publisher.topic_path(PROJECT, stack.names["PUBSUB_WORK_REQUESTED_TOPIC"])
        publisher.publish(topic, reference).result(timeout=30)
        [callback] = receiver.wait_for(1, 90) or [None]
    assert callback is not None, stack.logs()
    assert callback.body["hash"] == target.hex().upper()
    assert difficulty(parse_work(callback.body["work"]), target) <= limit
    pulled = subscriber.pull(subscription=wiretap, max_messages=10, timeout=30)
    [message] = pulled.received_messages
    body = json.loads(message.message.data)
    assert sorted(body) == ["callbackUrl", "hash", "threshold", "work"]
    assert body["callbackUrl"] == receiver.url
    assert body["hash"] == target.hex().upper()
    assert body["threshold"] == limit and isinstance(body["threshold"], int)  # a bare JSON number
    assert re.fullmatch(r"[0-9A-F]{16}", body["work"])
    assert body["work"] == callback.body["work"]
    subscriber.acknowledge(subscription=wiretap, ack_ids=[message.ack_id])
    subscriber.delete_subscription(subscription=wiretap)


@pytest.mark.timeout(200)
def test_adapter_sigterm_drains_running_requests_and_returns_the_rest(
    pubsub_emulator: str, tmp_path: Path,
) -> None:
    worker = TinyWorker(capacity=1, delay=2.0)  # the adapter holds 2
    with ServerThread(worker.app()) as worker_server, CallbackReceiver() as receiver:
        stack = Stack(pubsub_emulator, tmp_path, env={"WORKER_URL": worker_server.url,
                                                      "ADAPTER_SHUTDOWN_GRACE_SECONDS": "20"})
        try:
            stack.coordinator.start()
            stack.adapter.start()
            hashes = [bytes([i]) * 32 for i in range(1, 5)]
            limit = post_requests(stack.coordinator.url, receiver.url, hashes)
            wait_until(lambda: len(worker.calls) >= 2, within=30, details=stack.logs)
            # uvicorn ends by re-raising the signal it handled, after the lifespan's drain
            assert stack.adapter.terminate(timeout=30) in (0, -signal.SIGTERM), stack.adapter.log()
            # the two running when SIGTERM came finished and were published before the exit ...
            assert len(worker.finished) == 2, stack.logs()
            assert len(receiver.wait_for_hashes(worker.finished, 30)) == 2, stack.logs()
            # ... and the other two, never started, come back to the next adapter. Nacked ones come
            # back at once; on the emulator one the client library still buffered when its stream
            # closed may only return when its 60 s ack deadline passes, hence the long wait.
            stack.adapter.start()
            callbacks = receiver.wait_for_hashes(wanted(hashes), 120)
        finally:
            stack.stop()
    assert len(callbacks) == 4, stack.logs()
    assert_valid(callbacks, hashes, limit)
    assert sorted(set(worker.calls)) == sorted(h.hex().upper() for h in hashes)


@pytest.mark.parametrize("messaging", ["memory", "pubsub"])
def test_request_command_against_up(messaging: str, request: pytest.FixtureRequest,
                                    tmp_path: Path) -> None:
    env = child_env({"MESSAGING": "memory"})
    args = ["up"]
    if messaging == "pubsub":  # the same single process, on the emulator, with names of its own
        emulator = request.getfixturevalue("pubsub_emulator")
        env = Stack(emulator, tmp_path).env
        args += ["--messaging", "pubsub"]
    up = Component("up", args, free_port(), env, tmp_path, probe="/adapter/ready")
    up.start()
    try:
        target = "89EB0D6A8A691DAE2CD15ED0369931CE0A949ECAFA5C3F93F8121833646E15C3"
        result = subprocess.run(
            [sys.executable, "-m", "atto_work", "request", target, "--network", "LOCAL",
             "--coordinator", up.url, "--timeout", "60"],
            env=child_env(), capture_output=True, text=True, timeout=90)
        refused = subprocess.run(
            [sys.executable, "-m", "atto_work", "request", target, "--network", "LOCAL",
             "--timestamp", "2023-12-31T23:59:59Z", "--coordinator", up.url],
            env=child_env(), capture_output=True, text=True, timeout=90)
        banner = up.log()
    finally:
        up.terminate()
    assert result.returncode == 0, result.stderr + banner
    match = re.search(r"work ([0-9A-F]{16}) for ([0-9A-F]{64}): valid .* in [0-9.]+ s", result.stdout)
    assert match, result.stdout
    limit = threshold(Network.LOCAL, datetime.now(UTC))
    assert match.group(2) == target
    assert difficulty(parse_work(match.group(1)), parse_target(target)) <= limit
    assert refused.returncode == 2 and "before 2024" in refused.stderr, refused.stderr
    assert f"listening on {up.url}" in banner
    assert f"curl -i -X POST {up.url}/works/" in banner


@pytest.mark.parametrize("role", ["coordinator", "adapter"])
def test_service_alone_refuses_the_in_process_broker(role: str) -> None:
    env = child_env({"MESSAGING": "memory"})
    env.pop("PUBSUB_PROJECT_ID", None)
    result = subprocess.run([sys.executable, "-m", "atto_work", role, "--port", str(free_port())],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "in-process broker" in result.stderr and "atto-work up" in result.stderr


