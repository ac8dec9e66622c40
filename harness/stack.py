"""Real processes for pipeline and fault tests: each component is ``python -m atto_work ...`` in its
own OS process, started, killed and restarted one at a time.

    stack = Stack(emulator_host, tmp_path)      # names unique to this stack on the shared emulator
    stack.start()                               # worker server, coordinator, adapter; waits for /ready
    stack.coordinator.url                       # http://127.0.0.1:PORT
    stack.adapter.kill(); stack.adapter.start() # SIGKILL, then a fresh process on the same port
    stack.adapter.terminate()                   # SIGTERM; returns the exit status
    stack.solver.pause(); stack.solver.resume() # SIGSTOP / SIGCONT: a hung process, then alive again
    stack.stop()                                # everything still running, SIGTERM then SIGKILL

Each component logs to ``<tmp>/<name>.log`` (``Component.log()`` reads it, for failure messages).
Children get ``PYTHONPATH`` = the repository root, so the checkout is tested even when the package is
also installed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

import httpx

from harness.emulator import PROJECT, free_port
from harness.polling import wait_until

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 90.0  # a cold worker server builds its OpenCL kernel; the machine is shared


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("LOG_FORMAT", "json")
    env.update(extra or {})
    return env


class Component:
    """One ``atto-work`` subcommand in its own process, with a port and a log file."""

    def __init__(self, name: str, args: Sequence[str], port: int, env: dict[str, str],
                 log_dir: Path, probe: str = "/ready") -> None:
        self.name = name
        self.args = list(args)
        self.port = port
        self.env = env
        self.probe = probe
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, wait: bool = True, timeout: float = START_TIMEOUT) -> Component:
        assert not self.running, f"{self.name} is already running"
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it; closed when we reap
        command = [sys.executable, "-m", "atto_work", *self.args,
                   "--host", "127.0.0.1", "--port", str(self.port)]
        self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=log,
                                        stdin=subprocess.DEVNULL, cwd=ROOT)
        log.close()
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        wait_until(self._ready, within=timeout, what=f"{self.name} to be ready", details=self.log,
                   interval=0.2)

    def _ready(self) -> bool:
        if not self.running:
            raise RuntimeError(f"{self.name} exited with {self.process and self.process.poll()}:"
                               f"\n{self.log()}")
        try:
            return httpx.get(self.url + self.probe, timeout=2, trust_env=False).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to ack, nack or flush anything."""
        if self.running:
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def pause(self) -> None:
        """SIGSTOP: the process keeps its sockets but answers nothing, like a hung server."""
        assert self.process is not None and self.running, f"{self.name} is not running"
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after ``pause``."""
        assert self.process is not None and self.running, f"{self.name} is not running"
        self.process.send_signal(signal.SIGCONT)

    def terminate(self, timeout: float = 60.0) -> int | None:
        """SIGTERM and wait (SIGKILL after ``timeout``); the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        return self.process.returncode

    def restart(self, wait: bool = True) -> Component:
        self.kill()
        return self.start(wait=wait)

    def log(self, tail: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except FileNotFoundError:
            return ""


class Stack:
    """Worker server, coordinator and adapter as processes on Pub/Sub (the emulator)."""

    def __init__(self, emulator_host: str, log_dir: Path, env: dict[str, str] | None = None) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.names = {
            "PUBSUB_WORK_REQUESTED_TOPIC": f"work-requested-{suffix}",
            "PUBSUB_WORK_REQUESTED_SUBSCRIPTION": f"work-requested-adapter-{suffix}",
            "PUBSUB_WORK_GENERATED_TOPIC": f"work-generated-{suffix}",
            "PUBSUB_WORK_GENERATED_SUBSCRIPTION": f"work-generated-coordinator-{suffix}",
            "PUBSUB_WORK_CANCELLED_TOPIC": f"work-cancelled-{suffix}",
        }
        solver_port = free_port()
        base = child_env({
            "MESSAGING": "pubsub",
            "PUBSUB_PROJECT_ID": PROJECT,
            "PUBSUB_EMULATOR_HOST": emulator_host,
            "WORKER_URL": f"http://127.0.0.1:{solver_port}",
            # quick retries: tests wait seconds, not minutes
            "MESSAGING_RETRY_MIN_SECONDS": "0.2",
            "MESSAGING_RETRY_MAX_SECONDS": "2",
            "CALLBACK_RETRY_MIN_SECONDS": "0.2",
            "CALLBACK_RETRY_MAX_SECONDS": "2",
            "CALLBACK_ALLOWED_NETWORKS": "127.0.0.0/8",  # the receivers of the tests are on loopback
            **self.names,
            **(env or {}),
        })
        self.env = base
        self.solver = Component("solver", ["solver"], solver_port, base, log_dir)
        self.coordinator = Component("coordinator", ["coordinator"], free_port(), base, log_dir)
        self.adapter = Component("adapter", ["adapter"], free_port(), base, log_dir)

    @property
    def components(self) -> list[Component]:
        return [self.solver, self.coordinator, self.adapter]

    def start(self) -> Stack:
        # The worker server first (the adapter asks it its capacity); the coordinator and the
        # adapter each create their topics and subscriptions on the emulator; wait for all.
        self.solver.start(wait=False)
        self.coordinator.start(wait=False)
        self.solver.wait_ready()
        self.adapter.start(wait=False)
        for component in self.components:
            component.wait_ready()
        return self

    def stop(self) -> None:
        for component in (self.adapter, self.coordinator, self.solver):
            component.terminate(timeout=30)

    def logs(self) -> str:
        return "\n".join(f"--- {c.name}\n{c.log()}" for c in self.components)

    def __enter__(self) -> Stack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def real_worker_app() -> object:
    """The real worker server as an in-process ASGI app (its lifespan discovers the best device)."""
    from solver.api import create_app
    from solver.settings import SolverSettings

    return create_app(SolverSettings())
