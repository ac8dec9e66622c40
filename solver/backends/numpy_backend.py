"""The NumPy backend: vectorised BLAKE2b over nonce batches, the fallback where OpenCL is absent.

A batch is cut into chunks of ``MIN_CHUNK`` to ``CHUNK`` nonces, scanned in order by worker
processes, one per core. Processes, not threads: NumPy releases the GIL inside each array
operation, but the Python between two operations holds it, and a chunk is about 2000 operations.
With two threads on the small chunks of easy jobs (4096 lanes: a few microseconds an operation),
a thread whose operation ends must win the GIL back from the other, which CPython hands over on
request only every 5 ms: the threads largely take turns (a 2^16-hash job through the API ran at a
third of the raw rate). A process computes its chunk alone; the chunk's size then only
trades each operation's fixed cost (small chunks) against the scan past a hit (large chunks):
chunks stay in the CPU caches up to 32K nonces (measured best here, against 16K and 64K), and
from 8K on an operation's fixed cost is a small part of it. Chunks are handed out at most one per
process at a time, in order, so a hit stops the scan within one chunk per process.

The workers are started with ``spawn`` and import the main module again, as Python's
``multiprocessing`` does: a script that opens a NumPy device needs the
``if __name__ == "__main__":`` guard (``atto-work`` and ``python -m`` have it).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing.connection import wait

import numpy as np

from solver.backends.base import Deferred
from solver.backends.batching import RateBatcher, target_words
from solver.backends.blake2b_numpy import work_difficulties

CHUNK = 32768
MIN_CHUNK = 8192
_MASK64 = (1 << 64) - 1


def _exit_with_parent() -> None:
    """In a worker process, at its start: exit as soon as the process that opened the device dies,
    even by SIGKILL. A worker holds both ends of its task queue's pipe itself, so it would never
    see that queue close and would linger, an orphan."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=lambda: (wait([parent.sentinel]), os._exit(0)), daemon=True,
                         name="exit with parent").start()


def first_hit(words: tuple[int, int, int, int], bound: int, start: int, lanes: int,
              mask: int = 0) -> int | None:
    """In a worker process: the offset of the first of nonces ``start ..`` (``lanes`` of them,
    mod 2^64) whose ``difficulty ^ mask <= bound`` (``base.SearchDevice``), or None."""
    # uint64 addition wraps mod 2^64, as nonces do.
    nonces = np.arange(lanes, dtype=np.uint64) + np.uint64(start & _MASK64)
    difficulties = work_difficulties(nonces, words) ^ np.uint64(mask)
    hits = np.flatnonzero(difficulties <= np.uint64(bound))
    return int(hits[0]) if hits.size else None


class NumPyDevice:
    """A ``SearchDevice`` computing BLAKE2b with NumPy on every CPU core."""

    kind = "cpu"
    queues_launches = False  # the scan runs when the result is read

    def __init__(self, processes: int | None = None) -> None:
        self.processes = processes or os.cpu_count() or 1
        self.name = f"numpy:cpu ({self.processes} processes)"
        # ``spawn``: a forked child of a process with threads (the HTTP server, an OpenCL runtime)
        # may inherit locks held by threads that do not exist in it.
        self._pool = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_exit_with_parent)
        # Start every worker now (importing NumPy takes a while), not on the first request.
        list(self._pool.map(first_hit, [(0, 0, 0, 0)] * self.processes, [0] * self.processes,
                            [0] * self.processes, [1] * self.processes))
        self._lock = threading.Lock()
        self._batcher = RateBatcher(minimum=MIN_CHUNK * self.processes, maximum=CHUNK * 1024,
                                    rate=1e6 * self.processes)

    @property
    def rate(self) -> float:
        return self._batcher.rate

    def batch_size(self, bound: int) -> int:
        size = self._batcher.batch_size(bound)
        # Past one chunk per process, whole rounds of chunks, so that no process idles at the end.
        step = CHUNK * self.processes
        return size if size <= step else (size + step - 1) // step * step

    def launch(self, target: bytes, bound: int, start: int, count: int, mask: int = 0) -> Deferred:
        return Deferred(self.search, (target, bound, start, count, mask))

    def search(self, target: bytes, bound: int, start: int, count: int, mask: int = 0) -> int | None:
        if count <= 0:
            return None
        words = target_words(target)
        start &= _MASK64
        size = min(CHUNK, max(MIN_CHUNK, -(-count // self.processes)))
        offsets = deque(range(0, count, size))
        with self._lock:
            started = time.perf_counter()
            running: deque[tuple[int, Future[int | None]]] = deque()
            found = None
            while found is None and (offsets or running):
                while offsets and len(running) < self.processes:
                    offset = offsets.popleft()
                    lanes = min(size, count - offset)
                    running.append((offset, self._pool.submit(first_hit, words, bound,
                                                              (start + offset) & _MASK64, lanes, mask)))
                offset, chunk = running.popleft()
                hit = chunk.result()
                if hit is not None:  # in order: every chunk before this one had none
                    found = offset + hit
            # Chunks still running are awaited, so that the next search has the cores to itself.
            for _, chunk in running:
                chunk.result()
            if found is None:  # only full scans measure the rate
                self._batcher.record(count, time.perf_counter() - started)
        return None if found is None else (start + found) & _MASK64

    def difficulties(self, nonces: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """The difficulty of each (nonce, 32-byte target) pair; for checks and tests."""
        nonces = np.ascontiguousarray(nonces, dtype=np.uint64)
        words = np.ascontiguousarray(targets, dtype=np.uint8).reshape(len(nonces), 32).view("<u8")
        return work_difficulties(nonces, [words[:, i].astype(np.uint64) for i in range(4)])

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
