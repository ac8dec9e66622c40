"""What the device pool passes between the event loop and its device threads: jobs, their
progress on a device, their outcomes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from solver.backends.base import SearchDevice


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


@dataclass(eq=False)
class Job:
    target: bytes
    threshold: int
    deadline: float  # time.monotonic()
    submitted: float  # time.perf_counter()
    on_launch: Callable[[int, float], None] | None
    loop: asyncio.AbstractEventLoop
    done: asyncio.Future[Solution | None]
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


class Deferred:
    """A launch of a device without ``launch``: ``search`` runs when its result is read."""

    def __init__(self, device: SearchDevice, args: tuple[bytes, int, int, int]) -> None:
        self.device, self.args = device, args

    def result(self) -> int | None:
        return self.device.search(*self.args)


def deliver(job: Job, result: Solution | None | BaseException) -> None:
    """On the job's event loop: hand the device thread's result to the waiting request."""
    if job.done.done():
        return
    if job.stop.is_set():  # its request is gone: nobody would read an exception
        job.done.cancel()
    elif isinstance(result, BaseException):
        job.done.set_exception(result)
    else:
        job.done.set_result(result)
