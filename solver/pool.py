"""The device pool: one job per device, jobs in parallel across devices, the rest wait in FIFO order.

The host owns the search loop. A job starts from a random 64-bit nonce (so two devices, or two
servers, never walk the same nonces) and launches bounded batches. Each device has a
``DeviceRunner``: one thread that takes the next job from the shared line as soon as the last one
ends, without waiting for the event loop (busy with HTTP) to hand the device over: for easy jobs
(a LOCAL work is about 0.4 ms of a CPU device) that hand-over, two thread hops per job, cost as
much as the search. A runner's thread ends after ``IDLE_SECONDS`` without work and starts again
on demand.

A job's life on a device, in the order the runner's methods run: ``take`` it from the line,
``launch`` a batch, ``collect`` the batch's result, and, once it is solved, stopped, timed out or
failed, ``finish`` it (its ``Outcome``). Between launches the job notices its deadline and its
stop (the client went away, or ``cancel``), so a search stops within one launch. A launch in
flight cannot be interrupted: a stopped job leaves its device only when that launch returns, so a
device never runs two searches at once.

Every hit is re-validated with the job's rule (``Rule.is_valid``): a device that reports a wrong
nonce is logged and counted, and the search goes on past it.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence

from solver.backends.base import Launch, SearchDevice
from solver.errors import Cancelled, DeviceFailure, QueueFull, SearchTimeout, SolverError
from solver.jobs import Job, Rule, Run, Solution, answer_soon
from solver.metrics import SolverMetrics
from work import expected_hashes, format_target

log = logging.getLogger(__name__)

_NONCES = 2**64
# A runner's thread without work for this long ends (a pool nobody closes leaves no thread behind).
IDLE_SECONDS = 2.0
# Short jobs a device that queues launches runs at once, and how many launches a short job is
# expected to need (see ``DeviceRunner``).
DEPTH = 2
SHORT_JOB_LAUNCHES = 32
# The ``outcome`` labels of ``solver_searches_total``.
_SEARCH_OUTCOMES = ("solved", "cancelled", "timeout", "refused", "failed")
# Weight of the newest launch in a device's smoothed hash rate.
_RATE_WEIGHT = 0.2


class Outcome(enum.Enum):
    """Why a job left its device."""

    SOLVED = "solved"  # a valid work was found
    STOPPED = "stopped"  # nobody waits for it any more (client gone, or ``cancel`` answered it)
    TIMEOUT = "timeout"  # its deadline passed
    CLOSED = "closed"  # the pool closed
    FAILED = "failed"  # the device raised


class DevicePool:
    def __init__(self, devices: Sequence[SearchDevice], metrics: SolverMetrics | None = None,
                 max_queue: int | None = None, close_devices: bool = True) -> None:
        """``close_devices``: whether ``close`` also closes the devices (False when their opener
        keeps them, e.g. for another pool)."""
        if not devices:
            raise ValueError("the pool needs at least one device")
        self.devices = list(devices)
        self.metrics = metrics if metrics is not None else SolverMetrics()
        self.max_queue = max_queue
        self.close_devices = close_devices
        # The line of jobs no device has taken yet, and each runner's runs and thread: all
        # guarded by ``_lock``.
        self._lock = threading.Condition()
        self._line: collections.deque[Job] = collections.deque()
        self._closed = False
        self._runners = [DeviceRunner(self, device) for device in self.devices]
        self._searches = {o: self.metrics.searches.labels(o) for o in _SEARCH_OUTCOMES}

    @property
    def rates(self) -> dict[str, float]:
        """Smoothed hashes per second of each device's launches, by device name."""
        return {r.device.name: r.rate for r in self._runners if r.rate is not None}

    @property
    def waiting(self) -> int:
        return len(self._line)

    @property
    def idle(self) -> int:
        with self._lock:
            return sum(1 for runner in self._runners if not runner.runs)

    async def solve(self, target: bytes, threshold: int, time_limit: float,
                    on_launch: Callable[[int, float], None] | None = None,
                    rule: Rule = Rule.ATTO) -> Solution:
        """Find a work for ``target`` meeting ``threshold`` within ``time_limit`` seconds.

        ``rule`` says which way the difficulty compares: Atto's ``<=`` or Nano's ``>=``.
        Raises a ``solver.errors.SolverError`` (see there); cancelling the calling task stops the
        search within one launch. ``on_launch(hashes, seconds)`` is called after each launch, in
        the device's thread.
        """
        loop = asyncio.get_running_loop()
        job = Job(target, threshold, time.monotonic() + time_limit, time.perf_counter(), on_launch,
                  loop, loop.create_future(), rule)
        outcome = "failed"
        try:
            self._enqueue(job)
            solution = await self._answer(job)
            outcome = "solved"
            self.metrics.solve_seconds.observe(solution.seconds)
            return solution
        except (asyncio.CancelledError, Cancelled):
            outcome = "cancelled"
            raise
        except SearchTimeout:
            outcome = "timeout"
            raise
        except QueueFull:
            outcome = "refused"
            raise
        finally:
            self._searches[outcome].inc()

    def cancel(self, target: bytes) -> int:
        """Stop every queued or running search for ``target``: each one's request gets
        ``Cancelled`` now, and a running one leaves its device within one launch. Returns how
        many searches were stopped (0: none for this target)."""
        with self._lock:
            queued = [job for job in self._line if job.target == target]
            for job in queued:
                self._line.remove(job)
            self.metrics.queue_depth.set(len(self._line))
            running = [run.job for runner in self._runners for run in runner.runs
                       if run.job.target == target and not run.job.stop.is_set()]
            stopped = queued + running
            for job in stopped:
                job.stop.set()
        for job in stopped:
            answer_soon(job, Cancelled(f"search for {format_target(target)} cancelled"))
        return len(stopped)

    def _enqueue(self, job: Job) -> None:
        with self._lock:
            if self._closed:
                raise DeviceFailure("the device pool is closed")
            idle = any(not runner.runs for runner in self._runners)
            if not idle and self.max_queue is not None and len(self._line) >= self.max_queue:
                raise QueueFull(f"all devices busy and {len(self._line)} jobs waiting")
            self._line.append(job)
            self.metrics.queue_depth.set(len(self._line))
            for runner in self._runners:
                runner.start()
            self._lock.notify()

    async def _answer(self, job: Job) -> Solution:
        """Wait for the job's answer; leave the line on cancellation or a queue timeout.

        A timer, not ``asyncio.timeout`` and ``shield``: the same outcomes with fewer objects per
        request (an easy job's whole search costs about as much as the asyncio around it)."""
        timer = job.loop.call_later(max(0.0, job.deadline - time.monotonic()), self._expire, job)
        try:
            # Cancelling this task cancels ``job.done`` too: a later answer finds it done.
            return await job.done
        except asyncio.CancelledError:
            if not self._withdraw(job):
                job.stop.set()  # the launch in flight runs on; the runner then drops the job
            raise
        finally:
            timer.cancel()

    def _expire(self, job: Job) -> None:
        """The deadline, on the event loop: a job still in the line fails now; a running one ends
        before its next launch (its runner checks the deadline)."""
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

    def close(self) -> None:
        """Fail every job (a running one within one launch), end the runners' threads, close the
        devices if the pool owns them. Blocking: from async code, call it in a thread."""
        with self._lock:
            self._closed = True
            line, self._line = list(self._line), collections.deque()
            threads = [r.thread for r in self._runners if r.thread is not None]
            self._lock.notify_all()
        for job in line:
            answer_soon(job, DeviceFailure("the device pool closed"))
        for thread in threads:
            thread.join()
        if self.close_devices:
            for device in self.devices:
                try:
                    device.close()
                except Exception:
                    log.exception("closing device failed", extra={"device": device.name})


class DeviceRunner:
    """One device's thread: ``take`` jobs from the pool's line, ``launch`` their batches,
    ``collect`` each batch's result, ``finish`` each job.

    A device that queues launches (the OpenCL backend) runs up to ``DEPTH`` short jobs at once,
    their launches alternating, so that one is always queued behind the one running: the device
    does not idle while this thread reads a result, re-validates a hit, or waits for the GIL (held
    by the HTTP server), gaps that cost as much as an easy job itself. A long job keeps its device
    alone (its launches are long enough to hide the gaps), so the line stays first come, first
    served. Each job has one launch in flight at most, so it notices its stop and its deadline
    within one launch of its own.
    """

    def __init__(self, pool: DevicePool, device: SearchDevice) -> None:
        self.pool, self.device = pool, device
        self.depth = DEPTH if device.queues_launches else 1
        #: The jobs on this device, and the thread running them (None while idle): guarded by
        #: the pool's lock.
        self.runs: list[Run] = []
        self.thread: threading.Thread | None = None
        #: Smoothed hashes per second of this device's full launches (None until one ran).
        self.rate: float | None = None
        self._inflight: collections.deque[tuple[Run, Launch, float]] = collections.deque()
        self._last_read = 0.0
        # Labelled series looked up once: ``labels()`` takes a lock and builds a key each call,
        # GIL time on every launch of an easy job.
        metrics = pool.metrics
        self._busy = metrics.busy.labels(device.name)
        self._hashes = metrics.hashes.labels(device.name)
        self._rate_gauge = metrics.hash_rate.labels(device.name)
        self._busy.set(0)
        self._rate_gauge.set(0)

    def start(self) -> None:
        """Start the thread if it is not running (under the pool's lock)."""
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, daemon=True,
                                           name=f"feed {self.device.name}")
            self.thread.start()

    def _run(self) -> None:
        while self.take():
            self.launch()
            self.collect()

    def take(self) -> bool:
        """Take jobs from the line while the device has room for them; wait for one while it has
        none. False when the thread should end: idle for ``IDLE_SECONDS``, or the pool closed."""
        pool = self.pool
        with pool._lock:
            while True:
                while (len(self.runs) < self.depth and pool._line and not pool._closed
                       and all(run.short for run in self.runs)):
                    job = pool._line.popleft()
                    count = max(1, int(self.device.batch_size(job.bound)))
                    short = expected_hashes(job.bound) <= SHORT_JOB_LAUNCHES * count
                    self.runs.append(Run(job, secrets.randbits(64), count, short))
                    pool.metrics.queue_depth.set(len(pool._line))
                if self.runs:
                    break
                self._busy.set(0)
                if pool._closed or not pool._lock.wait_for(
                        lambda: pool._line or pool._closed, IDLE_SECONDS) or pool._closed:
                    self.thread = None
                    return False
        self._busy.set(1)
        return True

    def launch(self) -> None:
        """Launch the next batch of every job without one in flight, unless it must end."""
        for run in [r for r in self.runs if not r.launched]:
            ended = self._must_end(run)
            if ended is not None:
                self.finish(run, ended)
                continue
            try:
                job = run.job
                pending = self.device.launch(job.target, job.bound, run.nonce, run.count, job.mask)
            except Exception as exc:
                self.finish(run, Outcome.FAILED, self._failure(exc))
                continue
            run.launched = True
            self._inflight.append((run, pending, time.perf_counter()))

    def _must_end(self, run: Run) -> Outcome | None:
        """Why a job must not launch again, or None to go on."""
        if run.job.stop.is_set():
            return Outcome.STOPPED
        if self.pool._closed:
            return Outcome.CLOSED
        if time.monotonic() >= run.job.deadline:
            return Outcome.TIMEOUT
        return None

    def collect(self) -> None:
        """Wait for the oldest launch in flight; account for it; finish its job on a valid hit."""
        if not self._inflight:
            return
        run, pending, started = self._inflight.popleft()
        run.launched = False
        try:
            hit = pending.result()
        except Exception as exc:
            self.finish(run, Outcome.FAILED, self._failure(exc))
            return
        now = time.perf_counter()
        # Its time on the device: from its start, or from the end of the launch before it.
        seconds, self._last_read = now - max(started, self._last_read), now
        solution = self._count(run, hit, seconds)
        if solution is not None:
            self.finish(run, Outcome.SOLVED, solution)
        else:
            run.nonce = (run.nonce + run.count) % _NONCES

    def finish(self, run: Run, outcome: Outcome, result: Solution | SolverError | None = None) -> None:
        """The job leaves the device; its request gets its answer (a stopped one has had it)."""
        with self.pool._lock:
            self.runs.remove(run)
        if not self.runs:  # before the answer leaves: whoever reads it may look at the gauge next
            self._busy.set(0)
        if outcome is Outcome.TIMEOUT:
            result = SearchTimeout(f"no work found after {run.scanned} hashes")
        elif outcome is Outcome.CLOSED:
            result = DeviceFailure("the device pool closed")
        if result is not None:
            answer_soon(run.job, result)

    def _failure(self, exc: Exception) -> DeviceFailure:
        self.pool.metrics.errors.labels("device").inc()
        log.error("device launch failed", exc_info=exc, extra={"device": self.device.name})
        failure = DeviceFailure(f"device {self.device.name} failed: {exc}")
        failure.__cause__ = exc
        return failure

    def _count(self, run: Run, hit: int | None, seconds: float) -> Solution | None:
        """Account for one launch; its work if it found a valid one."""
        job, count, device = run.job, run.count, self.device
        # Count the nonces tried up to the hit: some backends stop at a hit, others finish the
        # batch, so this is what every backend surely did. Only a launch without a hit surely
        # ran its whole batch, so only those measure the device's rate.
        tried = count if hit is None else min(count, (hit - run.nonce) % _NONCES + 1)
        if hit is None:
            self._measure(count, seconds)
        run.scanned += tried
        self._hashes.inc(tried)
        if job.on_launch is not None:
            job.on_launch(tried, seconds)
        if hit is None:
            return None
        work = (hit % _NONCES).to_bytes(8, "little")
        if job.rule.is_valid(work, job.target, job.threshold):
            return Solution(work, device.name, run.scanned, time.perf_counter() - job.submitted)
        self.pool.metrics.invalid_hits.labels(device.name).inc()
        log.error("device reported an invalid work; searching on",
                  extra={"device": device.name, "hash": format_target(job.target),
                         "work": work.hex().upper(), "threshold": job.threshold,
                         "rule": job.rule.value})
        return None

    def _measure(self, count: int, seconds: float) -> None:
        if seconds <= 0:
            return
        rate = count / seconds
        self.rate = rate if self.rate is None else self.rate + _RATE_WEIGHT * (rate - self.rate)
        self._rate_gauge.set(self.rate)
