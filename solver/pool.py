"""The device pool: one job per device, jobs in parallel across devices, the rest wait in FIFO order.

The host owns the search loop. A job starts from a random 64-bit nonce (so two devices, or two
servers, never walk the same nonces) and launches bounded batches. Each device has one feeder
thread that takes the next job from the shared line as soon as the last one ends, without
waiting for the event loop (busy with HTTP) to hand the device over: for easy jobs (a LOCAL work
is about 0.4 ms of a CPU device) that hand-over, two thread hops per job, cost as much as the
search. A feeder thread ends after ``IDLE_SECONDS`` without work and starts again on demand.

Between launches the job notices its deadline and its cancellation (the client went away), so a
search stops within one launch. A launch in flight cannot be interrupted: a cancelled job leaves
its device only when that launch returns, so a device never runs two searches at once.

Every hit is re-validated with ``work.is_valid``: a device that reports a wrong nonce is logged and
counted, and the search goes on past it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from solver.backends.base import SearchDevice
from solver.jobs import (
    Deferred,
    DeviceFailure,
    Job,
    QueueFull,
    Run,
    SearchTimeout,
    Solution,
    deliver,
)
from solver.metrics import SolverMetrics
from work import expected_hashes, format_target, is_valid

log = logging.getLogger(__name__)

_NONCES = 2**64
# A feeder thread without work for this long ends (a pool nobody closes leaves no thread behind).
IDLE_SECONDS = 2.0
# Short jobs a device that starts launches without waiting for them runs at once, and how many
# launches a short job is expected to need (see ``_feed``).
DEPTH = 2
SHORT_JOB_LAUNCHES = 32
_OUTCOMES = ("solved", "cancelled", "timeout", "refused", "failed")
# Weight of the newest launch in a device's smoothed hash rate.
_RATE_WEIGHT = 0.2


class DevicePool:
    def __init__(self, devices: Sequence[SearchDevice], metrics: SolverMetrics | None = None,
                 max_queue: int | None = None) -> None:
        if not devices:
            raise ValueError("the pool needs at least one device")
        self.devices = list(devices)
        self.metrics = metrics if metrics is not None else SolverMetrics()
        self.max_queue = max_queue
        # The line of jobs no device has taken yet, and what each feeder thread runs; both guarded
        # by ``_lock``. A device is busy while its thread holds a job (a stopped one included).
        self._lock = threading.Condition()
        self._line: collections.deque[Job] = collections.deque()
        self._running: dict[str, int] = {d.name: 0 for d in self.devices}  # jobs per device
        self._threads: dict[str, threading.Thread | None] = {d.name: None for d in self.devices}
        self._closed = False
        #: Smoothed hashes per second of each device's launches, by device name.
        self.rates: dict[str, float] = {}
        # Labelled series looked up once: ``labels()`` takes a lock and builds a key each call,
        # GIL time on every launch of an easy job.
        m = self.metrics
        self._busy = {d.name: m.busy.labels(d.name) for d in self.devices}
        self._hashes = {d.name: m.hashes.labels(d.name) for d in self.devices}
        self._rate_gauges = {d.name: m.hash_rate.labels(d.name) for d in self.devices}
        self._outcomes = {o: m.searches.labels(o) for o in _OUTCOMES}
        for device in self.devices:
            self._busy[device.name].set(0)
            self._rate_gauges[device.name].set(0)

    @property
    def waiting(self) -> int:
        return len(self._line)

    @property
    def idle(self) -> int:
        with self._lock:
            return sum(1 for jobs in self._running.values() if not jobs)

    async def solve(self, target: bytes, threshold: int, time_limit: float,
                    on_launch: Callable[[int, float], None] | None = None) -> Solution:
        """Find a work for ``target`` meeting ``threshold`` within ``time_limit`` seconds.

        Raises ``SearchTimeout``, ``QueueFull`` or ``DeviceFailure``; cancelling the calling task
        stops the search within one launch. ``on_launch(hashes, seconds)`` is called after each
        launch, in the device's thread.
        """
        loop = asyncio.get_running_loop()
        job = Job(target, threshold, time.monotonic() + time_limit, time.perf_counter(), on_launch,
                   loop, loop.create_future())
        outcome = "failed"
        try:
            self._enqueue(job)
            solution = await self._outcome(job)
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
            self._outcomes[outcome].inc()

    def _enqueue(self, job: Job) -> None:
        with self._lock:
            if self._closed:
                raise DeviceFailure("the device pool is closed")
            idle = any(not jobs for jobs in self._running.values())
            if not idle and self.max_queue is not None and len(self._line) >= self.max_queue:
                raise QueueFull(f"all devices busy and {len(self._line)} jobs waiting")
            self._line.append(job)
            self.metrics.queue_depth.set(len(self._line))
            for device in self.devices:
                thread = self._threads[device.name]
                if thread is None:
                    thread = threading.Thread(target=self._feed, args=(device,), daemon=True,
                                              name=f"feed {device.name}")
                    self._threads[device.name] = thread
                    thread.start()
            self._lock.notify()

    async def _outcome(self, job: Job) -> Solution:
        """Wait for the job's device thread; leave the line on cancellation or a queue timeout.

        A timer, not ``asyncio.timeout`` and ``shield``: the same outcomes with fewer objects per
        request (an easy job's whole search costs about as much as the asyncio around it)."""
        timer = job.loop.call_later(max(0.0, job.deadline - time.monotonic()), self._expire, job)
        try:
            # Cancelling this task cancels ``job.done`` too: ``deliver`` then leaves it alone.
            solution = await job.done
        except asyncio.CancelledError:
            if not self._withdraw(job):
                job.stop.set()  # the launch in flight runs on; the thread then drops the job
            raise
        finally:
            timer.cancel()
        assert solution is not None  # only a stopped job ends without one
        return solution

    def _expire(self, job: Job) -> None:
        """The deadline, on the event loop: a job still in the line fails now; a running one ends
        before its next launch (its thread checks the deadline)."""
        if self._withdraw(job) and not job.done.done():
            job.done.set_exception(SearchTimeout("no device became free before the deadline"))

    def _withdraw(self, job: Job) -> bool:
        """Take a job no device has started out of the line; False when a device runs it."""
        with self._lock:
            try:
                self._line.remove(job)
            except ValueError:
                return False
            self.metrics.queue_depth.set(len(self._line))
            return True

    def _feed(self, device: SearchDevice) -> None:
        """A device's thread: run the line's jobs; end when idle for ``IDLE_SECONDS``.

        A device that can start a launch without waiting for it (``launch``, the OpenCL backend)
        runs up to ``DEPTH`` short jobs at once, their launches alternating, so that one is always
        queued behind the one running: the device does not idle while this thread reads a result,
        re-validates a hit, or waits for the GIL (held by the HTTP server), gaps that cost as much
        as an easy job itself. A long job keeps its device alone (its launches are long enough to
        hide the gaps), so the line stays first come, first served. Each job has one launch in
        flight at most, so it notices cancellation and its deadline within one launch of its own.
        """
        launch = getattr(device, "launch", None)
        depth = DEPTH if launch is not None else 1
        busy = self._busy[device.name]
        runs: list[Run] = []
        inflight: collections.deque[tuple[Run, Any, float]] = collections.deque()
        last_read = 0.0
        while True:
            with self._lock:
                while (len(runs) < depth and self._line and not self._closed
                       and all(run.short for run in runs)):
                    job = self._line.popleft()
                    count = max(1, int(device.batch_size(job.threshold)))
                    short = expected_hashes(job.threshold) <= SHORT_JOB_LAUNCHES * count
                    runs.append(Run(job, secrets.randbits(64), count, short))
                    self.metrics.queue_depth.set(len(self._line))
                self._running[device.name] = len(runs)
                if not runs:
                    busy.set(0)
                    if self._closed or not self._lock.wait_for(
                            lambda: self._line or self._closed, IDLE_SECONDS) or self._closed:
                        self._threads[device.name] = None
                        return
                    continue
            busy.set(1)
            for run in [r for r in runs if not r.launched]:
                ended = self._ended(run)
                if ended is not False:
                    self._end(device, runs, run, ended)
                    continue
                args = (run.job.target, run.job.threshold, run.nonce, run.count)
                try:
                    pending = launch(*args) if launch is not None else Deferred(device, args)
                except Exception as exc:
                    self._end(device, runs, run, self._failure(device, exc))
                    continue
                run.launched = True
                inflight.append((run, pending, time.perf_counter()))
            if not inflight:
                continue
            run, pending, started = inflight.popleft()
            run.launched = False
            try:
                hit = pending.result()
            except Exception as exc:
                self._end(device, runs, run, self._failure(device, exc))
                continue
            now = time.perf_counter()
            # Its time on the device: from its start, or from the end of the launch before it.
            seconds, last_read = now - max(started, last_read), now
            solution = self._count(device, run, hit, seconds)
            if solution is not None:
                self._end(device, runs, run, solution)
            else:
                run.nonce = (run.nonce + run.count) % _NONCES

    def _ended(self, run: Run) -> Solution | None | BaseException | bool:
        """Why a job must not launch again (None: it was stopped), or False to go on."""
        if run.job.stop.is_set():
            return None
        if self._closed:
            return DeviceFailure("the device pool closed")
        if time.monotonic() >= run.job.deadline:
            return SearchTimeout(f"no work found after {run.scanned} hashes")
        return False

    def _failure(self, device: SearchDevice, exc: Exception) -> DeviceFailure:
        self.metrics.errors.labels("device").inc()
        log.error("device launch failed", exc_info=exc, extra={"device": device.name})
        failure = DeviceFailure(f"device {device.name} failed: {exc}")
        failure.__cause__ = exc
        return failure

    def _end(self, device: SearchDevice, runs: list[Run], run: Run,
             result: Solution | None | BaseException) -> None:
        with self._lock:
            runs.remove(run)
            self._running[device.name] = len(runs)
        if not runs:  # before the answer leaves: whoever reads it may look at the gauge next
            self._busy[device.name].set(0)
        job = run.job
        with contextlib.suppress(RuntimeError):  # the job's event loop is gone
            job.loop.call_soon_threadsafe(deliver, job, result)

    def _count(self, device: SearchDevice, run: Run, hit: int | None,
               seconds: float) -> Solution | None:
        """Account for one launch; its work if it found a valid one."""
        job, count = run.job, run.count
        # Count the nonces tried up to the hit: some backends stop at a hit, others finish the
        # batch, so this is what every backend surely did. Only a launch without a hit surely
        # ran its whole batch, so only those measure the device's rate.
        tried = count if hit is None else min(count, (hit - run.nonce) % _NONCES + 1)
        if hit is None:
            self._rate(device, count, seconds)
        run.scanned += tried
        self._hashes[device.name].inc(tried)
        if job.on_launch is not None:
            job.on_launch(tried, seconds)
        if hit is None:
            return None
        work = (hit % _NONCES).to_bytes(8, "little")
        if is_valid(work, job.target, job.threshold):
            return Solution(work, device.name, run.scanned, time.perf_counter() - job.submitted)
        self.metrics.invalid_hits.labels(device.name).inc()
        log.error("device reported an invalid work; searching on",
                  extra={"device": device.name, "hash": format_target(job.target),
                         "work": work.hex().upper(), "threshold": job.threshold})
        return None

    def _rate(self, device: SearchDevice, count: int, seconds: float) -> None:
        if seconds <= 0:
            return
        rate = count / seconds
        previous = self.rates.get(device.name)
        smoothed = rate if previous is None else previous + _RATE_WEIGHT * (rate - previous)
        self.rates[device.name] = smoothed
        self._rate_gauges[device.name].set(smoothed)

    def close(self) -> None:
        """Fail every job (a running one within one launch), end the feeder threads, close the
        devices."""
        with self._lock:
            self._closed = True
            line, self._line = list(self._line), collections.deque()
            threads = [t for t in self._threads.values() if t is not None]
            self._lock.notify_all()
        for job in line:
            with contextlib.suppress(RuntimeError):
                job.loop.call_soon_threadsafe(deliver, job, DeviceFailure("the device pool closed"))
        for thread in threads:
            thread.join()
        for device in self.devices:
            try:
                device.close()
            except Exception:
                log.exception("closing device failed", extra={"device": device.name})

