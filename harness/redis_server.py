"""Start and stop a real ``redis-server`` on a free loopback port, for tests and benches.

    with RedisServer() as server:
        server.url        # "redis://127.0.0.1:PORT/0", the value for STORE_URL
        server.kill()     # SIGKILL, as a crash
        server.start()    # again on the same port, empty (nothing is saved)

No persistence (``--save '' --appendonly no``): a restarted server starts empty, like a lost cache.
When redis-server is missing this raises ``RedisServerError``: tests fail loudly, never skip.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile

from harness.emulator import free_port
from harness.polling import wait_until

START_TIMEOUT = 20.0


class RedisServerError(RuntimeError):
    """redis-server could not be started."""


class RedisServer:
    """One redis-server process on 127.0.0.1 (see the module's docstring)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="redis-server-", suffix=".log", delete=False)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisServerError("redis-server is not installed (scripts/system-deps.sh test)")
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--dir", tempfile.gettempdir()]
        self._process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        try:
            wait_until(self._started, within=START_TIMEOUT, what="redis-server to answer", details=self.log)
        except BaseException:
            self.stop()
            raise

    def _started(self) -> bool:
        assert self._process is not None
        if (code := self._process.poll()) is not None:
            raise RedisServerError(f"redis-server exited with {code}:\n{self.log()}")
        return self._answers()

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL the server and wait until it is gone (its data with it)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)
        self._process = None

    def pause(self) -> None:
        """SIGSTOP: the server keeps its connections but answers nothing (a hung server)."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGCONT)
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        self._process = None

    def log(self) -> str:
        with open(self._log.name, errors="replace") as log:
            return log.read()[-4000:]

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
