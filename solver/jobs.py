"""What the device pool passes between the event loop and its device threads: jobs, their
progress on a device, their answers."""

from __future__ import annotations

import asyncio
import enum
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from solver.errors import SolverError
from work import expected_hashes, format_work, is_valid, nano

_MASK64 = 2**64 - 1


class Rule(enum.Enum):
    """Which way a work's difficulty must compare with the job's threshold."""

    ATTO = "atto"  # valid when difficulty <= threshold (``work.is_valid``)
    NANO = "nano"  # valid when difficulty >= threshold (``work.nano.is_valid``)

    def search_bound(self, threshold: int) -> tuple[int, int]:
        """``(mask, bound)`` for the devices, which all test one comparison: a nonce hits when
        ``difficulty ^ mask <= bound``. Atto: ``(0, threshold)``. Nano: complementing both sides
        turns ``difficulty >= threshold`` into ``~difficulty <= ~threshold``. So one kernel serves
        both rules at the cost of one xor a hash, and ``bound + 1`` is the number of valid
        difficulties in both (``work.expected_hashes(bound)`` sizes launches for either)."""
        if self is Rule.ATTO:
            return 0, threshold
        return _MASK64, threshold ^ _MASK64

    def expected_hashes(self, threshold: int) -> float:
        """Mean number of hashes a search for ``threshold`` under this rule takes."""
        return expected_hashes(threshold) if self is Rule.ATTO else nano.expected_hashes(threshold)

    def is_valid(self, work: bytes, target: bytes, threshold: int) -> bool:
        """The rules' own check of a device's hit (not the mask trick the devices use)."""
        if self is Rule.ATTO:
            return is_valid(work, target, threshold)
        return nano.is_valid(nano.from_raw(work), target, threshold)

    def format_work(self, work: bytes) -> str:
        """The 8 raw work bytes as the rule's users write them: Atto's upper-case hex of the bytes,
        Nano's lower-case big-endian hex of the value (the same bytes, reversed)."""
        if self is Rule.ATTO:
            return format_work(work)
        return nano.format_work(nano.from_raw(work))


@dataclass(frozen=True)
class Solution:
    work: bytes  # 8 bytes, little-endian nonce (a Nano work's value: ``work.nano.from_raw``)
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
    rule: Rule = Rule.ATTO
    #: Set when nobody waits for a work any more (the request went away or was answered by a
    #: cancel): the device launches nothing more for it.
    stop: threading.Event = field(default_factory=threading.Event)
    #: What the devices search for: ``rule.search_bound(threshold)``.
    mask: int = field(init=False)
    bound: int = field(init=False)

    def __post_init__(self) -> None:
        self.mask, self.bound = self.rule.search_bound(self.threshold)


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
