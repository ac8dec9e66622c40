"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from harness.emulator import PubSubEmulator
from harness.redis_server import RedisServer
from solver.backends import discover
from solver.backends.base import SearchDevice


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator[str]:
    """The real Pub/Sub emulator on a free loopback port, for the whole session: yields ``"127.0.0.1:PORT"``.

    Started once on first use, stopped at the end of the session. It fails the test (never skips)
    when gcloud or Java is missing. Nothing global is set: pass the host on explicitly, e.g.

        settings = MessagingSettings(messaging="pubsub", pubsub_project_id=PROJECT,
                                     pubsub_emulator_host=pubsub_emulator)
        env = {**os.environ, "PUBSUB_EMULATOR_HOST": pubsub_emulator, "PUBSUB_PROJECT_ID": PROJECT}
        subprocess.Popen([sys.executable, "-m", "atto_work", "adapter"], env=env)

    (``from harness.emulator import PROJECT``; the emulator accepts any project id.) Its state is shared
    by every test of the session, so use topic and subscription names unique to each test
    (e.g. with ``uuid4().hex``).
    """
    with PubSubEmulator() as emulator:
        yield emulator.host


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server on a loopback port for the session; tests keep apart by a key prefix
    of their own (``RedisStore(url, prefix=...)``)."""
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def open_devices() -> Iterator[Callable[[str], list[SearchDevice]]]:
    """``open_devices("numpy" | "opencl")``: that backend's real devices, opened once per session
    (an OpenCL kernel builds once) and closed at its end. It fails, never skips, when none is found:
    the OpenCL device here is PoCL on the CPU."""
    opened: dict[str, list[SearchDevice]] = {}

    def devices(backend: str) -> list[SearchDevice]:
        if backend not in opened:
            found = discover(backend)
            assert found, f"no {backend} device: the tests need one"
            opened[backend] = found
        return opened[backend]

    yield devices
    for found in opened.values():
        for device in found:
            device.close()
