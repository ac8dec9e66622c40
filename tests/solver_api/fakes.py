"""A test-only ``SearchDevice`` on ``hashlib``: slow but surely right, with knobs for the pool's tests.

Only the pool's unit tests use it; the server's tests run the real backends.
"""

from __future__ import annotations

import threading
import time

from solver.backends.base import Deferred
from work import difficulty


class HashlibDevice:
    kind = "cpu"
    queues_launches = False

    def __init__(self, name: str = "hashlib:0", batch: int = 256, delay: float = 0.0,
                 gate: threading.Event | None = None, lies: int = 0) -> None:
        self.name = name
        self.batch = batch
        self.delay = delay  # extra seconds per launch, to make launches long enough to watch
        self.gate = gate  # when set, each launch waits for it (the test decides when launches end)
        self.lies = lies  # the first ``lies`` launches report a nonce that does NOT meet the threshold
        self.launches: list[tuple[bytes, int, int]] = []
        self.running = 0
        self.max_running = 0
        self.started = threading.Event()  # set when a launch begins
        self.closed = False
        self._lock = threading.Lock()

    def batch_size(self, threshold: int) -> int:
        return self.batch

    def launch(self, target: bytes, threshold: int, start: int, count: int, mask: int = 0) -> Deferred:
        return Deferred(self.search, (target, threshold, start, count, mask))

    def search(self, target: bytes, threshold: int, start: int, count: int, mask: int = 0) -> int | None:
        with self._lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
            self.launches.append((target, start, count))
            lie = self.lies > 0
            self.lies -= 1 if lie else 0
        self.started.set()
        try:
            if self.gate is not None:
                self.gate.wait(30)
            if self.delay:
                time.sleep(self.delay)
            for offset in range(count if not lie else 2**64):
                nonce = (start + offset) % 2**64
                if (difficulty(nonce.to_bytes(8, "little"), target) ^ mask <= threshold) != lie:
                    return nonce
            return None
        finally:
            with self._lock:
                self.running -= 1

    def close(self) -> None:
        self.closed = True


class LaunchingHashlibDevice(HashlibDevice):
    """A ``HashlibDevice`` that also starts launches without waiting for them (``launch``), as
    the OpenCL backend does; ``enqueued`` lists them in the order they were started, ``events``
    when each was started and read, as ``("launch" | "result", target)``."""

    queues_launches = True

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.enqueued: list[tuple[bytes, int, int]] = []
        self.events: list[tuple[str, bytes]] = []

    def launch(self, target: bytes, threshold: int, start: int, count: int, mask: int = 0) -> _Pending:
        self.enqueued.append((target, start, count))
        self.events.append(("launch", target))
        return _Pending(self, (target, threshold, start, count, mask))


class _Pending:
    def __init__(self, device: LaunchingHashlibDevice, args: tuple[bytes, int, int, int, int]) -> None:
        self.device, self.args = device, args

    def result(self) -> int | None:
        self.device.events.append(("result", self.args[0]))
        return self.device.search(*self.args)
