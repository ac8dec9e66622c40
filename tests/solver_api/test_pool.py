"""The device pool alone, on a hashlib test device: queueing, parallelism, cancellation, timeouts."""

from __future__ import annotations

import asyncio
import threading

import pytest

import solver.pool as pool_module
from solver.errors import Cancelled, DeviceFailure, QueueFull, SearchTimeout
from solver.jobs import Solution
from solver.metrics import SolverMetrics
from solver.pool import DevicePool
from tests.solver_api.fakes import HashlibDevice, LaunchingHashlibDevice
from work import MAX_THRESHOLD, difficulty

EASY = 2**64 // 2**8 - 1  # about 256 hashes per work
NEVER = 1  # one chance in 2^63 per nonce: a search that runs until stopped


def target(i: int) -> bytes:
    return bytes([i]) * 32


async def started(device: HashlibDevice) -> None:
    assert await asyncio.to_thread(device.started.wait, 10), "the device never started a launch"


async def occupied(device: HashlibDevice, limit: int = MAX_THRESHOLD,
                   ) -> tuple[DevicePool, asyncio.Task[Solution]]:
    """A pool on ``device`` (gated) whose first job (target 0) has started its first launch."""
    assert device.gate is not None
    pool = DevicePool([device])
    first = asyncio.create_task(pool.solve(target(0), limit, time_limit=60))
    await started(device)
    return pool, first


async def test_solution_meets_the_threshold_and_is_counted() -> None:
    metrics = SolverMetrics()
    pool = DevicePool([HashlibDevice(batch=128)], metrics)
    solution = await pool.solve(target(7), EASY, time_limit=30)
    assert difficulty(solution.work, target(7)) <= EASY
    assert solution.device == "hashlib:0"
    assert metrics.value("solver_hashes_total", device="hashlib:0") == solution.hashes
    assert metrics.value("solver_searches_total", outcome="solved") == 1
    assert metrics.value("solver_solve_seconds_count") == 1


async def test_waiting_jobs_are_served_in_arrival_order() -> None:
    gate = threading.Event()
    device = HashlibDevice(gate=gate)
    metrics = SolverMetrics()
    pool = DevicePool([device], metrics)
    first = asyncio.create_task(pool.solve(target(0), MAX_THRESHOLD, time_limit=30))
    await started(device)
    rest = []
    for i in (1, 2, 3):
        rest.append(asyncio.create_task(pool.solve(target(i), MAX_THRESHOLD, time_limit=30)))
        await asyncio.sleep(0.01)
    assert pool.waiting == 3
    assert metrics.value("solver_queue_depth") == 3
    gate.set()
    await asyncio.gather(first, *rest)
    assert [launch[0] for launch in device.launches] == [target(i) for i in range(4)]
    assert metrics.value("solver_queue_depth") == 0
    # Every nonce meets MAX_THRESHOLD: each job tried one nonce, its first, whatever the batch.
    assert metrics.value("solver_hashes_total", device=device.name) == 4


async def test_a_device_runs_one_job_at_a_time() -> None:
    device = HashlibDevice(delay=0.01)
    pool = DevicePool([device])
    results = await asyncio.gather(*(pool.solve(target(i), EASY, time_limit=60) for i in range(6)))
    assert device.max_running == 1
    assert all(difficulty(r.work, target(i)) <= EASY for i, r in enumerate(results))


async def test_jobs_run_in_parallel_across_devices() -> None:
    gates = [threading.Event(), threading.Event()]
    devices = [HashlibDevice(f"hashlib:{i}", gate=gates[i]) for i in range(2)]
    pool = DevicePool(devices)
    jobs = [asyncio.create_task(pool.solve(target(i), MAX_THRESHOLD, time_limit=30)) for i in range(2)]
    # Both launches are in flight at once: neither can finish before its gate opens.
    await started(devices[0])
    await started(devices[1])
    assert devices[0].running == 1 and devices[1].running == 1
    for gate in gates:
        gate.set()
    results = await asyncio.gather(*jobs)
    assert {r.device for r in results} == {"hashlib:0", "hashlib:1"}


async def test_cancelling_stops_the_search_within_one_launch() -> None:
    gate = threading.Event()
    device = HashlibDevice(gate=gate)
    metrics = SolverMetrics()
    pool = DevicePool([device], metrics)
    job = asyncio.create_task(pool.solve(target(1), NEVER, time_limit=60))
    await started(device)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    # The launch in flight still holds the device: nobody else may start on it yet.
    assert pool.idle == 0
    launches = len(device.launches)
    gate.set()
    solution = await pool.solve(target(2), MAX_THRESHOLD, time_limit=30)
    assert device.max_running == 1
    # No launch of the cancelled job after the one in flight; the next job ran one launch.
    assert len(device.launches) == launches + 1
    assert device.launches[-1][0] == target(2) and solution.device == device.name
    assert metrics.value("solver_searches_total", outcome="cancelled") == 1


async def test_a_timeout_stops_the_search_between_launches() -> None:
    device = HashlibDevice(batch=16, delay=0.05)
    metrics = SolverMetrics()
    pool = DevicePool([device], metrics)
    with pytest.raises(SearchTimeout):
        await pool.solve(target(3), NEVER, time_limit=0.3)
    # Each launch lasts at least 0.05 s: at most one launch starts after the deadline's last check.
    assert 1 <= len(device.launches) <= 0.3 / 0.05 + 1
    assert pool.idle == 1 and device.running == 0
    assert metrics.value("solver_searches_total", outcome="timeout") == 1
    # Launches without a hit ran their whole batch: they count fully and give the device's rate.
    assert metrics.value("solver_hashes_total", device=device.name) == 16 * len(device.launches)
    assert 0 < metrics.value("solver_hash_rate", device=device.name) <= 16 / 0.05


async def test_a_timeout_also_bounds_the_wait_in_the_queue() -> None:
    gate = threading.Event()
    device = HashlibDevice(gate=gate)
    pool = DevicePool([device])
    first = asyncio.create_task(pool.solve(target(0), MAX_THRESHOLD, time_limit=30))
    await started(device)
    with pytest.raises(SearchTimeout):
        await pool.solve(target(1), MAX_THRESHOLD, time_limit=0.1)
    assert pool.waiting == 0
    gate.set()
    await first
    assert [launch[0] for launch in device.launches] == [target(0)]
    assert pool.idle == 1


async def test_an_invalid_hit_is_counted_and_never_returned() -> None:
    device = HashlibDevice(lies=3)
    metrics = SolverMetrics()
    pool = DevicePool([device], metrics)
    solution = await pool.solve(target(5), EASY, time_limit=30)
    assert difficulty(solution.work, target(5)) <= EASY
    assert metrics.value("solver_invalid_hits_total", device=device.name) == 3
    assert len(device.launches) >= 4


async def test_a_full_queue_is_refused() -> None:
    gate = threading.Event()
    device = HashlibDevice(gate=gate)
    pool = DevicePool([device], max_queue=1)
    first = asyncio.create_task(pool.solve(target(0), MAX_THRESHOLD, time_limit=30))
    await started(device)
    second = asyncio.create_task(pool.solve(target(1), MAX_THRESHOLD, time_limit=30))
    await asyncio.sleep(0.01)
    with pytest.raises(QueueFull):
        await pool.solve(target(2), MAX_THRESHOLD, time_limit=30)
    gate.set()
    await asyncio.gather(first, second)


async def test_a_failing_device_fails_the_job_and_stays_usable() -> None:
    device = HashlibDevice()
    metrics = SolverMetrics()
    pool = DevicePool([device], metrics)
    real_search = device.search
    device.search = lambda *args: (_ for _ in ()).throw(RuntimeError("lost the device"))
    with pytest.raises(DeviceFailure, match="lost the device"):
        await pool.solve(target(1), EASY, time_limit=30)
    assert metrics.value("solver_errors_total", kind="device") == 1
    device.search = real_search
    solution = await pool.solve(target(1), EASY, time_limit=30)
    assert difficulty(solution.work, target(1)) <= EASY



async def test_a_job_cancelled_while_waiting_leaves_the_line() -> None:
    gate = threading.Event()
    device = HashlibDevice(gate=gate)
    pool = DevicePool([device])
    first = asyncio.create_task(pool.solve(target(0), MAX_THRESHOLD, time_limit=30))
    await started(device)
    waiting = asyncio.create_task(pool.solve(target(1), MAX_THRESHOLD, time_limit=30))
    last = asyncio.create_task(pool.solve(target(2), MAX_THRESHOLD, time_limit=30))
    await asyncio.sleep(0.01)
    waiting.cancel()
    await asyncio.sleep(0.01)
    assert pool.waiting == 1
    gate.set()
    await asyncio.gather(first, last)
    assert [launch[0] for launch in device.launches] == [target(0), target(2)]


async def test_a_device_thread_starts_the_next_job_without_the_event_loop() -> None:
    device = HashlibDevice(gate=(gate := threading.Event()))
    pool, first = await occupied(device)
    second = asyncio.create_task(pool.solve(target(1), MAX_THRESHOLD, time_limit=30))
    await asyncio.sleep(0.01)
    assert pool.waiting == 1
    device.started.clear()
    gate.set()
    # The event loop is blocked here (a synchronous wait): only the device's own thread can start
    # the second job once the first one ends.
    assert device.started.wait(10), "the next job waited for the event loop"
    assert [launch[0] for launch in device.launches] == [target(0), target(1)]
    await asyncio.gather(first, second)


async def test_an_idle_device_thread_ends_and_restarts_on_demand(monkeypatch) -> None:
    monkeypatch.setattr(pool_module, "IDLE_SECONDS", 0.05)
    pool = DevicePool([HashlibDevice()])
    await pool.solve(target(1), EASY, time_limit=30)
    feeders = [t for t in threading.enumerate() if t.name.startswith("feed hashlib:0")]
    assert feeders, "no feeder thread ran the job"
    await asyncio.to_thread(feeders[0].join, 10)
    assert not feeders[0].is_alive()
    solution = await pool.solve(target(2), EASY, time_limit=30)
    assert difficulty(solution.work, target(2)) <= EASY


async def test_closing_the_pool_fails_running_and_waiting_jobs() -> None:
    device = HashlibDevice(gate=(gate := threading.Event()))
    pool, running = await occupied(device, NEVER)
    waiting = asyncio.create_task(pool.solve(target(1), NEVER, time_limit=60))
    await asyncio.sleep(0.01)
    closing = asyncio.create_task(asyncio.to_thread(pool.close))
    await asyncio.sleep(0.01)
    gate.set()  # the launch in flight ends; no further launch starts
    await closing
    for job in (running, waiting):
        with pytest.raises(DeviceFailure, match="closed"):
            await job
    assert [launch[0] for launch in device.launches] == [target(0)] and device.closed
    with pytest.raises(DeviceFailure, match="closed"):
        await pool.solve(target(2), EASY, time_limit=30)


async def test_a_device_that_launches_ahead_runs_two_short_jobs_alternately() -> None:
    device = LaunchingHashlibDevice(gate=(gate := threading.Event()), batch=64)
    pool, first = await occupied(device)
    jobs = [asyncio.create_task(pool.solve(target(i), EASY, time_limit=30)) for i in (1, 2, 3)]
    await asyncio.sleep(0.05)
    assert pool.waiting == 3
    gate.set()
    results = await asyncio.gather(*jobs)
    await first
    # Once the first job ends, the next two start together: the second's launch is queued before
    # the first one's result is read; the fourth job waits for one of them to end.
    assert device.events[:4] == [("launch", target(0)), ("result", target(0)),
                                 ("launch", target(1)), ("launch", target(2))]
    assert device.events.index(("launch", target(3))) > device.events.index(("result", target(1)))
    for i, solution in zip((1, 2, 3), results, strict=True):
        assert difficulty(solution.work, target(i)) <= EASY
        # The lowest hit of the job's own scan: every nonce before it, from its start, misses.
        first_nonce = next(launch[1] for launch in device.enqueued if launch[0] == target(i))
        tried = (int.from_bytes(solution.work, "little") - first_nonce) % 2**64
        assert solution.hashes == tried + 1
        assert all(difficulty(((first_nonce + k) % 2**64).to_bytes(8, "little"), target(i)) > EASY
                   for k in range(tried))
    assert device.max_running == 1


async def test_a_long_job_keeps_its_device_alone() -> None:
    device = LaunchingHashlibDevice(gate=(gate := threading.Event()))
    pool, long = await occupied(device, NEVER)
    short = asyncio.create_task(pool.solve(target(1), MAX_THRESHOLD, time_limit=30))
    await asyncio.sleep(0.05)
    assert [launch[0] for launch in device.enqueued] == [target(0)]
    assert pool.waiting == 1
    long.cancel()
    with pytest.raises(asyncio.CancelledError):
        await long
    gate.set()
    solution = await short
    assert solution.device == device.name and difficulty(solution.work, target(1)) <= MAX_THRESHOLD
    # The cancelled job launched nothing after the launch it had in flight.
    assert [launch[0] for launch in device.enqueued] == [target(0), target(1)]


async def test_cancel_answers_running_and_queued_jobs_of_that_target_only() -> None:
    device = HashlibDevice(gate=(gate := threading.Event()))
    metrics = SolverMetrics()
    pool = DevicePool([device], metrics)
    running = asyncio.create_task(pool.solve(target(1), NEVER, time_limit=60))
    await started(device)
    queued = asyncio.create_task(pool.solve(target(1), MAX_THRESHOLD, time_limit=60))
    other = asyncio.create_task(pool.solve(target(2), MAX_THRESHOLD, time_limit=60))
    await asyncio.sleep(0.01)
    assert pool.waiting == 2
    assert pool.cancel(target(1)) == 2
    # Both requests are answered at once, the running one before its launch in flight returns.
    for job in (running, queued):
        with pytest.raises(Cancelled, match="cancelled"):
            await job
    assert pool.waiting == 1 and pool.idle == 0
    assert pool.cancel(target(1)) == 0
    gate.set()
    solution = await other
    assert solution.device == device.name
    # The cancelled search launched nothing after the launch it had in flight.
    assert [launch[0] for launch in device.launches] == [target(1), target(2)]
    assert metrics.value("solver_searches_total", outcome="cancelled") == 2
