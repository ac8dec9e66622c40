"""Start and stop the real Google Pub/Sub emulator on a free loopback port, for tests and benches.

    with PubSubEmulator() as emulator:
        emulator.host          # "127.0.0.1:PORT", the value for PUBSUB_EMULATOR_HOST
        emulator.env()         # os.environ plus PUBSUB_EMULATOR_HOST/PUBSUB_PROJECT_ID, for subprocesses

The emulator runs in its own process group (gcloud starts a Java child), so ``stop`` ends both.
When gcloud or Java is missing this raises ``EmulatorError``: tests that need Pub/Sub fail, loudly,
instead of being skipped. The emulator accepts any project id; ``PROJECT`` is the one tests use.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

PROJECT = "atto-test"
START_TIMEOUT = 90.0  # a JVM on a busy 2-core machine can take a while


class EmulatorError(RuntimeError):
    """The emulator could not be started."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PubSubEmulator:
    def __init__(self, project: str = PROJECT, port: int | None = None) -> None:
        self.project = project
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="pubsub-emulator-", suffix=".log", delete=False)

    @property
    def pid(self) -> int | None:
        """The gcloud wrapper's process id (the emulator's JVM is its child)."""
        return self._process.pid if self._process is not None else None

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """An environment for a child process that talks to this emulator."""
        env = dict(os.environ if base is None else base)
        env["PUBSUB_EMULATOR_HOST"] = self.host
        env["PUBSUB_PROJECT_ID"] = self.project
        return env

    def start(self) -> None:
        gcloud = shutil.which("gcloud")
        if gcloud is None:
            raise EmulatorError("gcloud is not installed: the Pub/Sub tests need the real emulator "
                                "(Google Cloud CLI with the pubsub-emulator component)")
        if shutil.which("java") is None:
            raise EmulatorError("java is not installed: the Pub/Sub emulator needs a Java runtime")
        command = [gcloud, "beta", "emulators", "pubsub", "start",
                   f"--project={self.project}", f"--host-port={self.host}"]
        self._process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if (code := self._process.poll()) is not None:
                output = self.log()
                self.stop()
                raise EmulatorError(f"the emulator exited with {code}:\n{output}")
            if self._answers():
                return
            time.sleep(0.2)
        output = self.log()
        self.stop()
        raise EmulatorError(f"the emulator did not answer within {START_TIMEOUT:.0f} s:\n{output}")

    def _answers(self) -> bool:
        # The emulator's REST side answers "Ok" on / once it serves (gRPC shares the port).
        try:
            with urllib.request.urlopen(f"http://{self.host}/", timeout=1) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def log(self) -> str:
        with open(self._log.name, errors="replace") as file:
            return file.read()[-4000:]

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            except ProcessLookupError:
                pass
        if process is not None:
            try:  # the Java child may outlive gcloud: end what is left of the group
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._log.close()
        if os.path.exists(self._log.name):
            os.unlink(self._log.name)

    def __enter__(self) -> PubSubEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
