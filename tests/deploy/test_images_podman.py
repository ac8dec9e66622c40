"""The images and the compose stack, built and run for real with rootful podman.

Builds the stand-in base images (no registry is reachable), both project images once, then runs: the
CPU image's default command (ready, its own HEALTHCHECK, a LOCAL work called back valid, read-only
root file system, non-root user); each role's command (coordinator, adapter, solver, pubsub-init
against the emulator stand-in); the GPU image's ``devices`` and its NVIDIA ICD file; the compose stack
end to end and its ``down``. All podman state lives under one temporary folder, removed at the end
with every container, also when a test fails. It fails, never skips, when podman or debootstrap is
missing (``scripts/system-deps.sh test`` installs them).
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from deploy_support import COMPOSE_FILE, ROOT
from podman_support import (
    CPU_IMAGE,
    EMULATOR_IMAGE,
    GPU_IMAGE,
    PodmanRoot,
    http_ok,
)

from harness.emulator import free_port
from harness.polling import wait_until
from work.difficulty import is_valid
from work.hexcodec import parse_target, parse_work
from work.networks import threshold

# The first test's setup builds every image: minutes on a busy 2-core machine.
pytestmark = pytest.mark.timeout(2400)

CALLBACK_LOG = ROOT / "docker" / "callback_log.py"


@pytest.fixture(scope="module")
def podman() -> Iterator[PodmanRoot]:
    root = PodmanRoot()
    try:
        root.build_standins()
        root.build_project_images()
        yield root
    finally:
        root.remove()


def request_local_work(coordinator: str, callback: str) -> tuple[str, datetime]:
    """POST a LOCAL work request for a fresh hash; returns the hash and the block timestamp."""
    block_hash = secrets.token_hex(32).upper()
    now = datetime.now(UTC)
    body = json.dumps({"network": "LOCAL", "timestamp": int(now.timestamp() * 1000),
                       "callback": callback}).encode()
    request = urllib.request.Request(f"{coordinator}/works/{block_hash}", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 202
    return block_hash, now


def assert_valid_callback(line: str, block_hash: str, when: datetime) -> None:
    """One line of callback_log.py: the callback body names our hash and carries a valid work."""
    body = json.loads(json.loads(line)["body"])
    assert body["hash"].upper() == block_hash
    assert is_valid(parse_work(body["work"]), parse_target(block_hash), threshold("LOCAL", when)), body


def callback_line(text: str, block_hash: str) -> str | None:
    return next((line for line in text.splitlines() if block_hash in line.upper()), None)


def test_cpu_image_default_command(podman: PodmanRoot) -> None:
    port = free_port()
    name = "atto-up"
    podman.run("run", "-d", "--name", name, "--read-only", "-p", f"127.0.0.1:{port}:8080",
               # The receiver runs beside the service, on the container's loopback: allow that.
               "-e", "CALLBACK_ALLOWED_NETWORKS=127.0.0.0/8",
               "-v", f"{CALLBACK_LOG}:/callback_log.py:ro", CPU_IMAGE)
    receiver = None
    try:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/ready"), within=180,
                   what="/ready answering", details=lambda: podman.logs(name)[-6000:], interval=1)
        assert podman.healthy(name), podman.logs(name)  # the image's own HEALTHCHECK
        assert podman.run("exec", name, "id", "-u").stdout.strip() == "10001"
        assert podman.run("inspect", "--format", "{{.Config.User}}", name).stdout.strip() == "10001:10001"
        written = podman.run("exec", name, "touch", "/home/app/x", check=False)
        assert written.returncode != 0 and "Read-only file system" in written.stderr

        receiver = podman.popen("exec", name, "python", "/callback_log.py", "--port", "8000")
        assert receiver.stdout is not None
        assert receiver.stdout.readline().startswith("listening on 127.0.0.1:8000")
        block_hash, when = request_local_work(f"http://127.0.0.1:{port}", "http://127.0.0.1:8000/done")
        line = receiver.stdout.readline()  # blocks until the callback (the test's timeout bounds it)
        assert_valid_callback(line, block_hash, when)
    finally:
        if receiver is not None:
            receiver.kill()
            receiver.wait(timeout=30)
        podman.run("rm", "-f", "-t", "0", name, check=False)


PUBSUB_ENV = ["-e", "MESSAGING=pubsub", "-e", "PUBSUB_PROJECT_ID=atto-smoke",
              "-e", "PUBSUB_EMULATOR_HOST=smoke-pubsub:8085"]


def test_each_role_starts_healthy(podman: PodmanRoot) -> None:
    network = "atto-smoke"
    names = ["smoke-pubsub", "smoke-init", "smoke-solver", "smoke-coordinator", "smoke-adapter"]
    podman.run("network", "create", network)
    try:
        podman.run("run", "-d", "--name", "smoke-pubsub", "--network", network, EMULATOR_IMAGE,
                   "gcloud", "beta", "emulators", "pubsub", "start", "--project=atto-smoke",
                   "--host-port=0.0.0.0:8085")
        # Started with the emulator, as compose does: it waits for the emulator to answer.
        podman.run("run", "-d", "--name", "smoke-init", "--network", network, "--read-only", *PUBSUB_ENV,
                   CPU_IMAGE, "pubsub-init", "--wait", "240")
        assert podman.healthy("smoke-init")  # a one-shot role is healthy while it runs
        code = podman.run("wait", "smoke-init", timeout=300).stdout.strip()
        assert code == "0", podman.logs("smoke-init")
        assert "created topic projects/atto-smoke/topics/work-requested" in podman.logs("smoke-init")

        roles = {  # name -> options, image and command
            "smoke-solver": [CPU_IMAGE, "solver", "--host", "0.0.0.0"],
            "smoke-coordinator": [*PUBSUB_ENV, CPU_IMAGE, "coordinator", "--host", "0.0.0.0"],
            "smoke-adapter": [*PUBSUB_ENV, "-e", "WORKER_URL=http://smoke-solver:8090", CPU_IMAGE,
                              "adapter", "--host", "0.0.0.0"],
        }
        for name, args in roles.items():
            podman.run("run", "-d", "--name", name, "--network", network, "--read-only", *args)
        for name in roles:
            podman.wait_healthy(name, timeout=180)  # the image's HEALTHCHECK: /health
            # Ready comes later: the adapter waits for its worker server before it subscribes.
            wait_until(lambda name=name: podman.run("exec", name, "python",
                                                    "/usr/local/bin/atto-work-healthcheck", "/ready",
                                                    check=False).returncode == 0,
                       within=180, what=f"{name} ready", details=lambda name=name: podman.logs(name)[-6000:],
                       interval=1)
    finally:
        podman.run("rm", "-f", "-t", "0", *names, check=False)
        podman.run("network", "rm", "-f", network, check=False)


def test_gpu_image_devices_and_nvidia_icd(podman: PodmanRoot) -> None:
    devices = podman.run("run", "--rm", "--read-only", GPU_IMAGE, "devices", timeout=300)
    assert "Portable Computing Language" in devices.stdout, devices.stdout  # PoCL's CPU device here
    assert "auto would use: " in devices.stdout
    icd = podman.run("run", "--rm", "--entrypoint", "cat", GPU_IMAGE, "/etc/OpenCL/vendors/nvidia.icd")
    assert icd.stdout == "libnvidia-opencl.so.1\n"


def compose(podman: PodmanRoot, env: dict[str, str], *args: str, check: bool = True) -> None:
    # podman-compose is a test dependency: run it with this interpreter, whatever PATH holds.
    result = subprocess.run([sys.executable, "-m", "podman_compose", "-f", str(COMPOSE_FILE),
                             "-p", "atto-ci", *args],
                            capture_output=True, text=True, timeout=300, cwd=ROOT,
                            env={**podman.env, **env})
    if check:
        assert result.returncode == 0, f"podman-compose {' '.join(args)}:\n{result.stdout}\n{result.stderr}"


def test_compose_stack_end_to_end(podman: PodmanRoot) -> None:
    port = free_port()
    env = {"ATTO_WORK_PORT": str(port), "PUBSUB_EMULATOR_PORT": str(free_port())}
    container = "atto-ci_{}_1".format
    up = False
    try:
        # podman 4.3 cannot start chains of dependencies ("... not found in input list") and does not
        # honour `condition: service_healthy`: start everything at once; pubsub-init waits itself.
        compose(podman, env, "up", "-d", "--no-deps")
        up = True
        code = podman.run("wait", container("pubsub-init"), timeout=300).stdout.strip()
        assert code == "0", podman.logs(container("pubsub-init"))
        for service in ("pubsub", "redis", "worker", "coordinator", "adapter", "callback-log"):
            podman.wait_healthy(container(service), timeout=240)  # compose's own health checks
        assert http_ok(f"http://127.0.0.1:{port}/ready")

        block_hash, when = request_local_work(f"http://127.0.0.1:{port}", "http://callback-log:8000/done")
        found: list[str] = []

        def called_back() -> bool:
            line = callback_line(podman.logs(container("callback-log")), block_hash)
            found.extend([line] if line else [])
            return bool(line)

        wait_until(called_back, within=180, what="the callback",
                   details=lambda: podman.logs(container("coordinator"))[-6000:], interval=1)
        assert_valid_callback(found[0], block_hash, when)

        # Every service must end on its stop signal within 10 s: one that ignores it is killed then
        # (exit 137). Wall time is no measure here: podman's own overhead on a busy machine is seconds.
        since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        # Dependents first, as docker compose does; podman-compose's `down` stops every service at
        # once, and a coordinator whose Pub/Sub is already gone needs ~8 s to let go of its stream.
        compose(podman, env, "stop", "-t", "10", "coordinator", "adapter")
        compose(podman, env, "down", "-t", "10")
        up = False
        died = podman.run("events", "--stream=false", "--since", since, "--filter", "event=died",
                          "--format", "{{.Name}} {{.ContainerExitCode}}").stdout.split("\n")
        codes = dict(line.split() for line in died if line.strip())
        assert set(codes) == {container(s) for s in
                              ("pubsub", "redis", "worker", "coordinator", "adapter", "callback-log")}, codes
        assert all(code != "137" for code in codes.values()), f"killed after 10 s: {codes}"
        left = podman.run("ps", "-a", "--filter", "label=io.podman.compose.project=atto-ci",
                          "--format", "{{.Names}}").stdout.split()
        assert left == []
    finally:
        if up:
            compose(podman, env, "down", "-t", "0", check=False)
