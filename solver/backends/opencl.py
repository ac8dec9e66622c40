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
# The share of a launch past its hit the kernel still runs: the work-groups already started (the
# later ones skip their hashes, see ``search`` in work.cl), and the dispatch of the skipped ones.
# Measured on PoCL: a 2^18-nonce launch with its hit in the first ~4000 nonces took 0.13 ms, one
# without a hit 2.4 ms (AVX-512 host, the kernel before its atomics); on an AVX2 host, shared, the
# current kernel: 0.61 ms with a hit at offset 57, 56 ms without. Launches for easy jobs are sized
# by it (``RateBatcher``); 0.02 to 1 gave LOCAL works/s within a few % of one another, all above
# the full scan's.
_TAIL = 0.03


class OpenCLDevice:
    """A ``SearchDevice`` running the nonce-search kernel on one OpenCL device."""

    queues_launches = True  # ``launch`` only enqueues: a second launch can wait behind the first

    def __init__(self, device: cl.Device, platform_index: int, device_index: int,
                 calibrate: bool = True) -> None:
        """``calibrate=False`` skips the first rate measurement, for callers that size every launch
        themselves (the Oclgrind test: a simulated device would take minutes to calibrate)."""
        self.device = device
        self.name = f"opencl:{platform_index}:{device_index} {device.name.strip()}"
        self.kind = device_kind(device)
        self._context = cl.Context([device])
        self._queue = cl.CommandQueue(self._context)
        self._local = min(_LOCAL, device.max_work_group_size)
        started = time.monotonic()
        program = cl.Program(self._context, source("work.cl"))
        self._program = program.build(options=[f"-DGROUP_SIZE={self._local}"])
        log.info("built kernel for %s in %.2f s", self.name, time.monotonic() - started)
        self._search = cl.Kernel(self._program, "search")
        # Scalar types declared once: PyOpenCL then packs the arguments in generated code (under
        # 1 us), where set_args on NumPy scalars took about 47 us a launch, half a LOCAL launch's
        # fixed cost.
        self._search.set_scalar_arg_dtypes([np.uint64] * 8 + [np.uint32, np.uint32, None, None])
        self._difficulties = cl.Kernel(self._program, "difficulties")
        # Hits buffers, one per launch in flight (spares kept for reuse), each with the word
        # naming a work-group that hit (the kernel's ``first``), and the launch tag; 0 is what a
        # cleared buffer holds.
        self._buffers: list[cl.Buffer] = []
        self._firsts: dict[cl.Buffer, cl.Buffer] = {}
        self._spare: list[tuple[np.ndarray, cl.Buffer]] = []
        self._tag = 0
        self._last_done = 0.0  # when the last launch's result was read
        # Enqueueing is serialised: the pool feeds each device from one thread, but a bench or a
        # test may share it between threads.
        self._lock = threading.Lock()
        minimum = 1 << (20 if self.kind == "gpu" else 13)
        self._batcher = RateBatcher(minimum=minimum, maximum=1 << 34, tail=_TAIL)
        if calibrate:
            self._calibrate()

    def _calibrate(self) -> None:
        """Measure a first rate, so that the first real launches are sized sensibly.

        The first launch is a warm-up (PoCL compiles the work-group variant on first use); the
        fixed cost of a launch is the quickest of a few one-work-group launches; then hit-free
        scans grow fourfold until one lasts 20 ms.
        """
        count = self._batcher.minimum
        self.search(bytes(32), 0, 0, count)  # bound 0: no hit expected, a pure scan
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

    def batch_size(self, bound: int) -> int:
        return self._batcher.batch_size(bound)

    def search(self, target: bytes, bound: int, start: int, count: int, mask: int = 0) -> int | None:
        if count <= 0:
            return None
        return self.launch(target, bound, start, count, mask).result()

    def launch(self, target: bytes, bound: int, start: int, count: int, mask: int = 0) -> PendingSearch:
        """Start ``search`` without waiting for it: the pool keeps a second launch queued behind
        the running one, so the device never idles while the host reads a result (or waits for
        the GIL, held by the HTTP server). Launches run in the order they were started."""
        words = target_words(target)
        start &= _MASK64
        with self._lock:
            hits, buffer = self._spare.pop() if self._spare else self._new_hits()
            slot_log2 = self._enqueue(words, bound, mask, start, max(count, 1), buffer)
            # Only the slots this launch uses come back (a LOCAL launch uses a few thousand of the
            # 2^16): the whole buffer was a 256 KiB copy per launch.
            slots = (max(count, 1) + (1 << slot_log2) - 1) >> slot_log2
            done = cl.enqueue_copy(self._queue, hits[:slots], buffer, is_blocking=False)
            tag = self._tag
        return PendingSearch(self, target, words, bound, mask, start, count, slot_log2, tag, hits,
                             buffer, done)

    def _new_hits(self) -> tuple[np.ndarray, cl.Buffer]:
        """A hits buffer (and its host copy) for one launch in flight, cleared of tags."""
        hits = np.zeros(1 << _MAX_SLOTS_LOG2, dtype=np.uint32)
        flags = cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR
        buffer = cl.Buffer(self._context, flags, hostbuf=hits)
        first = cl.Buffer(self._context, flags, hostbuf=np.zeros(1, dtype=np.uint32))
        self._buffers += [buffer, first]
        self._firsts[buffer] = first
        return hits, buffer

    def _enqueue(self, words: tuple[int, ...], bound: int, mask: int, start: int, count: int,
                 buffer: cl.Buffer) -> int:
        """Enqueue one kernel launch writing this launch's tag into ``buffer``; the slot size (log2)."""
        slot_log2 = max(_MIN_SLOT_LOG2, math.ceil(math.log2(count)) - _MAX_SLOTS_LOG2)
        global_size = (count + self._local - 1) // self._local * self._local
        if self._tag == 0xFFFF:  # 16 bits (the kernel packs it with a group number): on the wrap,
            for each in self._buffers:  # clear stale tags (new buffers start cleared)
                cl.enqueue_fill_buffer(self._queue, each, np.uint32(0), 0, each.size)
        self._tag = self._tag % 0xFFFF + 1
        self._search.set_args(start, *words, bound, mask, count, slot_log2, self._tag, buffer,
                              self._firsts[buffer])
        cl.enqueue_nd_range_kernel(self._queue, self._search, (global_size,), (self._local,))
        return slot_log2

    def _finished(self, count: int, submitted: float, hits: np.ndarray, buffer: cl.Buffer,
                  scanned_all: bool) -> None:
        """A launch's result was read: give its buffer back and, when it scanned all its nonces,
        fold its time into the rate (from its start or the previous launch's end, whichever came
        last: it waited in line). A launch with a hit skipped the groups past it: its time says
        nothing of the rate, and counting it would inflate the rate and so the next launches,
        which then outlast LAUNCH_SECONDS and delay a cancel by seconds."""
        now = time.perf_counter()
        with self._lock:
            if scanned_all:
                self._batcher.record(count, now - max(submitted, self._last_done))
            self._last_done = now
            self._spare.append((hits, buffer))

    def _rescan(self, words: tuple[int, ...], bound: int, mask: int, start: int, count: int,
                hits: np.ndarray, buffer: cl.Buffer) -> tuple[int | None, int]:
        """A blocking launch over a slot of a finished launch: its first slot with a hit."""
        with self._lock:
            slot_log2 = self._enqueue(words, bound, mask, start, count, buffer)
            slots = (count + (1 << slot_log2) - 1) >> slot_log2
            cl.enqueue_copy(self._queue, hits[:slots], buffer, is_blocking=True)
            found = np.flatnonzero(hits[:slots] == self._tag)
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
            for buffer in self._buffers:
                buffer.release()


class PendingSearch:
    """One launch in flight on an ``OpenCLDevice``; ``result()`` waits for it."""

    def __init__(self, device: OpenCLDevice, target: bytes, words: tuple[int, ...], bound: int,
                 mask: int, start: int, count: int, slot_log2: int, tag: int, hits: np.ndarray,
                 buffer: cl.Buffer, done: cl.Event) -> None:
        self._device, self._target, self._words = device, target, words
        self._bound, self._mask = bound, mask
        self._start, self._count, self._slot_log2, self._tag = start, count, slot_log2, tag
        self._hits, self._buffer, self._done = hits, buffer, done
        self._submitted = time.perf_counter()

    def result(self) -> int | None:
        """The launch's lowest-offset hit, or None (the same answer as ``search``)."""
        device, words, bound, mask = self._device, self._words, self._bound, self._mask
        start, count, slot_log2 = self._start, self._count, self._slot_log2
        self._done.wait()  # releases the GIL
        hit = False
        try:
            if count <= 0:
                return None
            slots = (count + (1 << slot_log2) - 1) >> slot_log2
            found = np.flatnonzero(self._hits[:slots] == self._tag)
            hit = found.size > 0
            slot = int(found[0]) if hit else None
            # Narrow a large slot (big GPU batches) with a rescan of that slot alone, in finer
            # slots, until a few nonces are left for the host.
            while slot is not None and slot_log2 > _MIN_SLOT_LOG2:
                start = (start + (slot << slot_log2)) & _MASK64
                count = min(1 << slot_log2, count - (slot << slot_log2))
                slot, slot_log2 = device._rescan(words, bound, mask, start, count, self._hits,
                                                 self._buffer)
        finally:
            device._finished(self._count, self._submitted, self._hits, self._buffer,
                             scanned_all=not hit)
        if slot is None:
            return None
        first = slot << slot_log2
        for offset in range(first, min(first + (1 << slot_log2), count)):
            nonce = (start + offset) & _MASK64
            if difficulty(nonce.to_bytes(8, "little"), self._target) ^ mask <= bound:
                return nonce
        log.error("%s reported a hit that hashlib does not confirm (target %s)", device.name,
                  self._target.hex())
        return None


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
