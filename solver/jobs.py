"""What the device pool passes between the event loop and its device threads: jobs, their
progress on a device, their answers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from solver.errors import SolverError


@dataclass(frozen=True)
class Solution:
    work: bytes  # 8 bytes, little-endian nonce
    device: str
    hashes: int  # nonces this job tried, up to its hit
    seconds: float  # from submission to hit, queue wait included


@dataclass(eq=False)
class Job:
    target: bytes
    threshold: int
    deadline: float  # time.monotonic()
    submitted: float  # time.perf_counter()
    on_launch: Callable[[int, float], None] | None
    loop: asyncio.AbstractEventLoop
    done: asyncio.Future[Solution]
    #: Set when nobody waits for a work any more (the request went away or was answered by a
    #: cancel): the device launches nothing more for it.
    stop: threading.Event = field(default_factory=threading.Event)


@dataclass(eq=False)
class Run:
    """A job on a device's thread: where its scan stands."""

    job: Job
    nonce: int  # the next launch's first nonce
    count: int  # nonces per launch
    short: bool  # expected to end within a few launches: the device may take a second job
    scanned: int = 0
    launched: bool = False  # a launch of it is in flight


def deliver(job: Job, answer: Solution | SolverError) -> None:
    """On the job's event loop: hand a job's answer to its waiting request. The first answer wins;
    a request that went away has cancelled ``done`` already."""
    if job.done.done():
        return
    if isinstance(answer, SolverError):
        job.done.set_exception(answer)
    else:
        job.done.set_result(answer)


def answer_soon(job: Job, answer: Solution | SolverError) -> None:
    """``deliver`` from any thread (a no-op once the job's event loop is closed)."""
    try:
        job.loop.call_soon_threadsafe(deliver, job, answer)
    except RuntimeError:  # the loop is closed: nobody waits any more
        pass
