"""The NumPy backend: vectorised BLAKE2b over nonce batches, the fallback where OpenCL is absent.

A batch is cut into chunks of ``CHUNK`` nonces (small enough that a chunk's 16 state arrays stay
in the CPU cache) and the chunks run on a thread pool with one thread per core: NumPy releases
the GIL inside each array operation, so the threads use every core.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from solver.backends.batching import RateBatcher, target_words
from solver.backends.blake2b_numpy import work_difficulties

CHUNK = 16384
_MASK64 = (1 << 64) - 1


class NumPyDevice:
    """A ``SearchDevice`` computing BLAKE2b with NumPy on every CPU core."""

    kind = "cpu"

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads or os.cpu_count() or 1
        self.name = f"numpy:cpu ({self.threads} threads)"
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="numpy-blake2b")
        self._lock = threading.Lock()
        self._batcher = RateBatcher(minimum=CHUNK, maximum=CHUNK * 1024, rate=1e6 * self.threads)

    @property
    def rate(self) -> float:
        return self._batcher.rate

    def batch_size(self, threshold: int) -> int:
        size = self._batcher.batch_size(threshold)
        # Whole chunks only past the first, so every thread gets full-sized work.
        return size if size <= CHUNK else (size + CHUNK - 1) // CHUNK * CHUNK

    def search(self, target: bytes, threshold: int, start: int, count: int) -> int | None:
        if count <= 0:
            return None
        words = target_words(target)
        start &= _MASK64
        limit = np.uint64(threshold)

        def first_hit(offset: int) -> int | None:
            lanes = min(CHUNK, count - offset)
            # uint64 addition wraps mod 2^64, as nonces do.
            nonces = np.arange(lanes, dtype=np.uint64) + np.uint64((start + offset) & _MASK64)
            hits = np.flatnonzero(work_difficulties(nonces, words) <= limit)
            return offset + int(hits[0]) if hits.size else None

        with self._lock:
            started = time.perf_counter()
            chunks = [self._pool.submit(first_hit, offset) for offset in range(0, count, CHUNK)]
            found = None
            # In chunk order: the first chunk with a hit holds the lowest offset. Later chunks are
            # cancelled; those already running are awaited, so that the next search does not
            # share the cores with them.
            for chunk in chunks:
                if found is None:
                    found = chunk.result()
                else:
                    chunk.cancel()
            for chunk in chunks:
                if not chunk.cancelled():
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
