"""The OpenCL backend: ``kernels/work.cl`` on one OpenCL device (a GPU, or the CPU through PoCL).

The program is built once per device when the device is opened. Across restarts the build is
cached by the runtime itself: PyOpenCL skips its own binary cache for PoCL and NVIDIA because they
cache source builds (PoCL in ``POCL_CACHE_DIR``, default ``~/.cache/pocl``; NVIDIA in
``~/.nv/ComputeCache``). Measured here with PoCL: 0.54 s cold, 0.02 s on the next start.
"""

from __future__ import annotations

import logging
import math
import threading
import time

import numpy as np
import pyopencl as cl

from kernels import source
from solver.backends.batching import RateBatcher, target_words
from work import difficulty

log = logging.getLogger(__name__)

_MASK64 = (1 << 64) - 1
# A fixed work-group size: PoCL compiles a kernel variant per work-group size, so letting the
# runtime pick one per global size would recompile (about a second) whenever the batch size moves.
# Global sizes are rounded up to a multiple of it.
_LOCAL = 256
# At most this many hit slots per launch, so the hits buffer stays small to read back; a slot
# holds at least 2^3 nonces, few enough for the host to resolve the lowest hit with hashlib in a
# few microseconds (a 2^6 slot cost about 40 us a hit, a tenth of a LOCAL work's device time).
_MAX_SLOTS_LOG2 = 16
_MIN_SLOT_LOG2 = 3


class OpenCLDevice:
    """A ``SearchDevice`` running the nonce-search kernel on one OpenCL device."""

    def __init__(self, device: cl.Device, platform_index: int, device_index: int) -> None:
        self.device = device
        self.name = f"opencl:{platform_index}:{device_index} {device.name.strip()}"
        self.kind = device_kind(device)
        self._context = cl.Context([device])
        self._queue = cl.CommandQueue(self._context)
        started = time.monotonic()
        self._program = cl.Program(self._context, source("work.cl")).build()
        log.info("built kernel for %s in %.2f s", self.name, time.monotonic() - started)
        self._search = cl.Kernel(self._program, "search")
        # Scalar types declared once: PyOpenCL then packs the arguments in generated code (under
        # 1 us), where set_args on NumPy scalars took about 47 us a launch, half a LOCAL launch's
        # fixed cost.
        self._search.set_scalar_arg_dtypes([np.uint64] * 7 + [np.uint32, np.uint32, None])
        self._local = min(_LOCAL, device.max_work_group_size)
        self._difficulties = cl.Kernel(self._program, "difficulties")
        self._hits = np.zeros(1 << _MAX_SLOTS_LOG2, dtype=np.uint32)
        self._hits_buf = cl.Buffer(self._context, cl.mem_flags.READ_WRITE, self._hits.nbytes)
        self._tag = 0  # the launch tag; 0 is what the cleared buffer holds
        # One launch at a time per device: the pool gives each device one job, but a bench or a
        # test may share it between threads.
        self._lock = threading.Lock()
        minimum = 1 << (20 if self.kind == "gpu" else 13)
        self._batcher = RateBatcher(minimum=minimum, maximum=1 << 34)
        self._calibrate()

    def _calibrate(self) -> None:
        """Measure a first rate, so that the first real launches are sized sensibly.

        The first launch is a warm-up (PoCL compiles the work-group variant on first use); the
        fixed cost of a launch is the quickest of a few one-work-group launches; then hit-free
        scans grow fourfold until one lasts 20 ms.
        """
        count = self._batcher.minimum
        self.search(bytes(32), 0, 0, count)  # threshold 0: no hit expected, a pure scan
        overhead = min(self._timed_scan(self._local) for _ in range(5))
        while True:
            elapsed = self._timed_scan(count)
            if elapsed >= 0.02 or count >= self._batcher.maximum:
                break
            count *= 4
        self._batcher.reset(count / elapsed, overhead)
        log.info("%s: %.1f MH/s, %.3f ms a launch", self.name, self.rate / 1e6, overhead * 1e3)

    def _timed_scan(self, count: int) -> float:
        started = time.perf_counter()
        self.search(bytes(32), 0, 0, count)
        return time.perf_counter() - started

    @property
    def rate(self) -> float:
        """Measured hashes per second (moving average over recent launches)."""
        return self._batcher.rate

    def batch_size(self, threshold: int) -> int:
        return self._batcher.batch_size(threshold)

    def search(self, target: bytes, threshold: int, start: int, count: int) -> int | None:
        if count <= 0:
            return None
        words = target_words(target)
        start &= _MASK64
        with self._lock:
            started = time.perf_counter()
            slot, slot_log2 = self._launch(words, threshold, start, count)
            self._batcher.record(count, time.perf_counter() - started)
            # Narrow a large slot (big GPU batches) with a rescan of that slot alone, in finer
            # slots, until a few dozen nonces are left for the host.
            while slot is not None and slot_log2 > _MIN_SLOT_LOG2:
                start = (start + (slot << slot_log2)) & _MASK64
                count = min(1 << slot_log2, count - (slot << slot_log2))
                slot, slot_log2 = self._launch(words, threshold, start, count)
        if slot is None:
            return None
        first = slot << slot_log2
        for offset in range(first, min(first + (1 << slot_log2), count)):
            nonce = (start + offset) & _MASK64
            if difficulty(nonce.to_bytes(8, "little"), target) <= threshold:
                return nonce
        log.error("%s reported a hit that hashlib does not confirm (target %s)", self.name, target.hex())
        return None

    def _launch(
        self, words: tuple[int, ...], threshold: int, start: int, count: int
    ) -> tuple[int | None, int]:
        """One kernel launch: the first slot holding a hit (or None), and the slot size as log2."""
        slot_log2 = max(_MIN_SLOT_LOG2, math.ceil(math.log2(count)) - _MAX_SLOTS_LOG2)
        slots = (count + (1 << slot_log2) - 1) >> slot_log2
        global_size = (count + self._local - 1) // self._local * self._local
        self._tag = self._tag % 0xFFFFFFFF + 1
        if self._tag == 1:  # first launch, or the tag wrapped: clear stale tags
            cl.enqueue_fill_buffer(self._queue, self._hits_buf, np.uint32(0), 0, self._hits.nbytes)
        hits = self._hits[:slots]
        self._search.set_args(start, *words, threshold, count, slot_log2, self._tag, self._hits_buf)
        cl.enqueue_nd_range_kernel(self._queue, self._search, (global_size,), (self._local,))
        cl.enqueue_copy(self._queue, hits, self._hits_buf, is_blocking=True)
        found = np.flatnonzero(hits == self._tag)
        return (int(found[0]) if found.size else None), slot_log2

    def difficulties(self, nonces: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """The kernel's difficulty for each (nonce, 32-byte target) pair; for checks and tests."""
        nonces = np.ascontiguousarray(nonces, dtype=np.uint64)
        targets = np.ascontiguousarray(targets, dtype=np.uint8).reshape(len(nonces), 32)
        words = targets.view("<u8").astype(np.uint64)
        out = np.empty_like(nonces)
        flags = cl.mem_flags
        with self._lock:
            n_buf = cl.Buffer(self._context, flags.READ_ONLY | flags.COPY_HOST_PTR, hostbuf=nonces)
            t_buf = cl.Buffer(self._context, flags.READ_ONLY | flags.COPY_HOST_PTR, hostbuf=words)
            o_buf = cl.Buffer(self._context, flags.WRITE_ONLY, out.nbytes)
            self._difficulties(self._queue, (len(nonces),), None, n_buf, t_buf, o_buf)
            cl.enqueue_copy(self._queue, out, o_buf, is_blocking=True)
        return out

    def close(self) -> None:
        with self._lock:
            self._queue.finish()
            self._hits_buf.release()


def device_kind(device: cl.Device) -> str:
    """``gpu`` for GPUs and accelerators, else ``cpu``."""
    gpu_like = cl.device_type.GPU | cl.device_type.ACCELERATOR
    return "gpu" if device.type & gpu_like else "cpu"


def opencl_platforms() -> list[cl.Platform]:
    """The OpenCL platforms the ICD loader finds; empty when there is no OpenCL runtime at all."""
    try:
        return cl.get_platforms()
    except cl.Error:  # "platform not found": no ICD registered
        return []
