"""The Dockerfiles (conventional, checked as text: no container engine here), the health check every
role's container runs, and the compose demo's callback receiver (run for real on loopback)."""

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


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out, current = [], ""
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#"):  # Docker drops comment lines, inside continuations too
            continue
        current += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            if current.strip():
                word, _, rest = current.strip().partition(" ")
                out.append((word.upper(), rest))
            current = ""
    return out


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.gpu"])
def test_images_are_multi_stage_non_root_with_healthcheck(name: str) -> None:
    steps = instructions(DOCKER / name)
    froms = [args for word, args in steps if word == "FROM"]
    assert len(froms) == 2 and froms[0].endswith(" AS build") and froms[1].endswith(" AS runtime")
    assert any(word == "COPY" and args.startswith("--from=build /opt/venv") for word, args in steps)
    users = [args for word, args in steps if word == "USER"]
    assert users == ["10001:10001"]  # numeric, so Kubernetes' runAsNonRoot can check it
    assert any(word == "HEALTHCHECK" and "atto-work-healthcheck" in args for word, args in steps)
    assert ("ENTRYPOINT", '["atto-work"]') in steps
    # Exact versions from the lock, then the project without resolving anything else.
    assert ("COPY", "requirements.lock ./") in steps
    assert ("RUN", "pip install --require-hashes --no-deps -r requirements.lock") in steps
    runtime_from = [i for i, (word, _) in enumerate(steps) if word == "FROM"][1]
    runtime = " ".join(args for word, args in steps[runtime_from:] if word == "RUN")
    assert "binutils" in runtime  # PoCL links kernels with ld at run time
    assert "pocl-opencl-icd" in runtime  # PyPI's PoCL cannot build kernels on newer CPUs


def test_gpu_image_registers_the_nvidia_opencl_icd() -> None:
    text = (DOCKER / "Dockerfile.gpu").read_text()
    assert "ARG CUDA_IMAGE=nvidia/cuda:" in text and "-runtime-" in text
    assert "ocl-icd-libopencl1" in text
    assert 'echo "libnvidia-opencl.so.1" > /etc/OpenCL/vendors/nvidia.icd' in text
    assert "NVIDIA_DRIVER_CAPABILITIES=compute,utility" in text


def test_dockerignore_keeps_what_the_build_copies() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", ".tools", "tests", "helm"} <= ignored
    for needed in ("pyproject.toml", "README.md", "requirements.lock", "docker", "docker/healthcheck.py",
                   "atto_work"):
        assert needed not in ignored


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
