"""The scripts the images run beside the services, run for real here: the health check every role's
container runs, and the compose demo's callback receiver (on loopback)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from deploy_support import ROOT

DOCKER = ROOT / "docker"


def _load_healthcheck():
    """docker/healthcheck.py is a script copied into the images, not a package: load it by path."""
    spec = importlib.util.spec_from_file_location("atto_work_healthcheck", DOCKER / "healthcheck.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


healthcheck = _load_healthcheck()


@pytest.mark.parametrize(("argv", "port"), [
    (["/opt/venv/bin/python", "/opt/venv/bin/atto-work", "coordinator", "--host", "0.0.0.0",
      "--port", "8080"], 8080),
    (["/opt/venv/bin/python", "/opt/venv/bin/atto-work", "solver", "--port=9000"], 9000),
    (["python", "-m", "atto_work", "adapter"], 8091),
    (["/opt/venv/bin/python", "/opt/venv/bin/atto-work", "up", "--host", "0.0.0.0"], 8080),
    (["/opt/venv/bin/python", "/opt/venv/bin/atto-work", "pubsub-init"], None),
    (["python", "/usr/local/bin/atto-work-healthcheck"], None),
    (["sleep", "45"], None),
])
def test_healthcheck_finds_each_roles_port(argv: list[str], port: int | None) -> None:
    assert healthcheck.target(argv) == port


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_callback_receiver_prints_each_callback() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(DOCKER / "callback_log.py"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith(f"listening on 127.0.0.1:{port}")
        body = json.dumps({"hash": "0" * 64, "work": "2D7E000000000000"}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/done", data=body, method="POST",
            headers={"Content-Type": "application/json", "X-Atto-Work-Signature": "t=1,v1=ab"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        line = json.loads(proc.stdout.readline())
        assert line == {"path": "/done", "body": body.decode(), "signature": "t=1,v1=ab"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_callback_receiver_stops_on_sigterm_as_pid_1() -> None:
    """In its container the receiver is PID 1, which the kernel does not end on an unhandled SIGTERM:
    without a handler, ``compose down`` waits its 10 s and then kills it."""
    unshare = shutil.which("unshare")
    assert unshare is not None, "unshare (util-linux) is needed to run a process as PID 1"
    port = free_port()
    proc = subprocess.Popen(
        [unshare, "--pid", "--fork", "--kill-child", sys.executable, str(DOCKER / "callback_log.py"),
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith(f"listening on 127.0.0.1:{port}")
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert len(children) == 1  # the receiver, PID 1 in its namespace
        receiver = int(children[0])
        nspid = next(line for line in Path(f"/proc/{receiver}/status").read_text().splitlines()
                     if line.startswith("NSpid:"))
        assert nspid.split()[-1] == "1"
        os.kill(receiver, signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        proc.kill()
        proc.wait(timeout=10)
