"""The device pool: one job per device, jobs in parallel across devices, the rest wait in FIFO order.

The host owns the search loop. A job starts from a random 64-bit nonce (so two devices, or two
servers, never walk the same nonces) and launches bounded batches, in a worker thread
(``asyncio.to_thread``). Between launches the job notices its deadline and its cancellation (the
client went away), so a search stops within one launch. A launch in flight cannot be
interrupted: a cancelled job hands its device back only when that launch returns, so a device never
runs two searches at once.

Every hit is re-validated with ``work.is_valid``: a device that reports a wrong nonce is logged and
counted, and the search goes on past it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from solver.backends.base import SearchDevice
from solver.metrics import SolverMetrics
from work import format_target, is_valid

log = logging.getLogger(__name__)

_NONCES = 2**64
# Weight of the newest launch in a device's smoothed hash rate.
_RATE_WEIGHT = 0.2


class SearchTimeout(Exception):
    """No work was found before the job's deadline (queue wait included)."""


class QueueFull(Exception):
    """Every device is busy and the waiting line is at its limit."""


class DeviceFailure(Exception):
    """A device raised during a launch; the job is abandoned, the device stays in the pool."""


@dataclass(frozen=True)
class Solution:
    work: bytes  # 8 bytes, little-endian nonce
    device: str
    hashes: int  # nonces this job tried, up to its hit
    seconds: float  # from submission to hit, queue wait included


class DevicePool:
    def __init__(self, devices: Sequence[SearchDevice], metrics: SolverMetrics | None = None,
                 max_queue: int | None = None) -> None:
        if not devices:
            raise ValueError("the pool needs at least one device")
        self.devices = list(devices)
        self.metrics = metrics if metrics is not None else SolverMetrics()
        self.max_queue = max_queue
        self._free: collections.deque[SearchDevice] = collections.deque(self.devices)
        self._waiters: collections.deque[asyncio.Future[SearchDevice]] = collections.deque()
        #: Smoothed hashes per second of each device's launches, by device name.
        self.rates: dict[str, float] = {}
        for device in self.devices:
            self.metrics.busy.labels(device.name).set(0)
            self.metrics.hash_rate.labels(device.name).set(0)

    @property
    def waiting(self) -> int:
        return sum(1 for w in self._waiters if not w.done())

    @property
    def idle(self) -> int:
        return len(self._free)

    async def solve(self, target: bytes, threshold: int, time_limit: float,
                    on_launch: Callable[[int, float], None] | None = None) -> Solution:
        """Find a work for ``target`` meeting ``threshold`` within ``time_limit`` seconds.

        Raises ``SearchTimeout``, ``QueueFull`` or ``DeviceFailure``; cancelling the calling task
        stops the search within one launch. ``on_launch(hashes, seconds)`` is called after each launch.
        """
        submitted = time.perf_counter()
        deadline = time.monotonic() + time_limit
        outcome = "failed"
        try:
            device = await self._acquire(deadline)
            solution = await self._search(device, target, threshold, deadline, submitted, on_launch)
            outcome = "solved"
            self.metrics.solve_seconds.observe(solution.seconds)
            return solution
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        except SearchTimeout:
            outcome = "timeout"
            raise
        except QueueFull:
            outcome = "refused"
            raise
        finally:
            self.metrics.searches.labels(outcome).inc()

    async def _acquire(self, deadline: float) -> SearchDevice:
        if self._free and not self.waiting:
            return self._free.popleft()
        if self.max_queue is not None and self.waiting >= self.max_queue:
            raise QueueFull(f"all devices busy and {self.waiting} jobs waiting")
        waiter: asyncio.Future[SearchDevice] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self.metrics.queue_depth.set(self.waiting)
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                device = await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                # Handed a device at the moment we gave up: pass it on to the next in line.
                self._release(waiter.result())
            else:
                waiter.cancel()
            self._prune()
            self.metrics.queue_depth.set(self.waiting)
            if isinstance(exc, TimeoutError):
                raise SearchTimeout("no device became free before the deadline") from None
            raise
        self.metrics.queue_depth.set(self.waiting)
        return device

    def _prune(self) -> None:
        while self._waiters and self._waiters[0].done():
            self._waiters.popleft()

    def _release(self, device: SearchDevice) -> None:
        self.metrics.busy.labels(device.name).set(0)
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(device)
                self.metrics.queue_depth.set(self.waiting)
                return
        self._free.append(device)

    async def _search(self, device: SearchDevice, target: bytes, threshold: int, deadline: float,
                      submitted: float, on_launch: Callable[[int, float], None] | None) -> Solution:
        """Run the job's launches in one worker thread, so the device goes from one launch to the
        next without waiting for the event loop (busy with HTTP) to schedule it."""
        self.metrics.busy.labels(device.name).set(1)
        stop = threading.Event()
        scan = asyncio.ensure_future(asyncio.to_thread(
            self._scan, device, target, threshold, deadline, submitted, on_launch, stop))
        try:
            solution = await asyncio.shield(scan)
        except asyncio.CancelledError:
            # The launch in flight runs on: the device is free only when the thread sees ``stop``.
            stop.set()
            scan.add_done_callback(lambda _: self._release(device))
            raise
        except BaseException:
            self._release(device)
            raise
        self._release(device)
        assert solution is not None  # only a stopped scan returns None
        return solution

    def _scan(self, device: SearchDevice, target: bytes, threshold: int, deadline: float,
              submitted: float, on_launch: Callable[[int, float], None] | None,
              stop: threading.Event) -> Solution | None:
        """The search loop (in a worker thread): bounded launches from a random start, checking
        ``stop`` and the deadline (``time.monotonic``) between launches."""
        nonce = secrets.randbits(64)
        count = max(1, int(device.batch_size(threshold)))
        scanned = 0
        while True:
            if stop.is_set():
                return None
            if time.monotonic() >= deadline:
                raise SearchTimeout(f"no work found after {scanned} hashes")
            started = time.perf_counter()
            try:
                hit = device.search(target, threshold, nonce, count)
            except Exception as exc:
                self.metrics.errors.labels("device").inc()
                log.exception("device launch failed", extra={"device": device.name})
                raise DeviceFailure(f"device {device.name} failed: {exc}") from exc
            seconds = time.perf_counter() - started
            # Count the nonces tried up to the hit: some backends stop at a hit, others finish
            # the batch, so this is what every backend surely did. Only a launch without a hit
            # surely ran its whole batch, so only those measure the device's rate.
            tried = count if hit is None else min(count, (hit - nonce) % _NONCES + 1)
            if hit is None:
                self._rate(device, count, seconds)
            scanned += tried
            self.metrics.hashes.labels(device.name).inc(tried)
            if on_launch is not None:
                on_launch(tried, seconds)
            if hit is not None:
                work = (hit % _NONCES).to_bytes(8, "little")
                if is_valid(work, target, threshold):
                    return Solution(work, device.name, scanned, time.perf_counter() - submitted)
                self.metrics.invalid_hits.labels(device.name).inc()
                log.error("device reported an invalid work; searching on",
                          extra={"device": device.name, "hash": format_target(target),
                                 "work": work.hex().upper(), "threshold": threshold})
            nonce = (nonce + count) % _NONCES

    def _rate(self, device: SearchDevice, count: int, seconds: float) -> None:
        if seconds <= 0:
            return
        rate = count / seconds
        previous = self.rates.get(device.name)
        smoothed = rate if previous is None else previous + _RATE_WEIGHT * (rate - previous)
        self.rates[device.name] = smoothed
        self.metrics.hash_rate.labels(device.name).set(smoothed)

    def close(self) -> None:
        for device in self.devices:
            try:
                device.close()
            except Exception:
                log.exception("closing device failed", extra={"device": device.name})
