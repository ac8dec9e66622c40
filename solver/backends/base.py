"""What the device pool needs from a search backend.

The host owns the search loop (``solver.pool``): it launches bounded batches from a random start,
so a search can be cancelled or timed out between launches and two devices never walk the same
nonces. A device scans one batch at a time; one that queues launches (``queues_launches``) may
have a second one waiting behind it.

Devices know one comparison, for both rules (``solver.jobs.Rule.search_bound``): a nonce hits when
its difficulty xor ``mask`` is at most ``bound``. Atto's threshold is a bound with mask 0; Nano's
``difficulty >= threshold`` is ``~difficulty <= ~threshold``, the mask 2^64 - 1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Launch(Protocol):
    """One batch started on a device."""

    def result(self) -> int | None:
        """Wait for the batch: what ``SearchDevice.search`` returns for it."""


class SearchDevice(Protocol):
    #: Stable, human-readable identity, e.g. ``opencl:0:0 NVIDIA H200`` or ``numpy:cpu``.
    name: str
    #: ``gpu`` or ``cpu``: what ``auto`` prefers and what metrics are labelled with.
    kind: str
    #: True when ``launch`` returns before the batch runs (an OpenCL command queue), so the pool
    #: may queue a second launch behind the running one; False when the scan runs in ``result``.
    queues_launches: bool

    def batch_size(self, bound: int) -> int:
        """How many nonces one launch should scan for ``bound`` (bound + 1 difficulties hit).

        Large enough to keep the device busy, small enough that an easy job does not pay for a
        huge batch and that cancellation is noticed quickly (well under a second a launch).
        """

    def launch(self, target: bytes, bound: int, start: int, count: int, mask: int = 0) -> Launch:
        """Start scanning nonces ``start .. start + count - 1`` (mod 2^64) for ``target``.

        Launches run in the order they were started. ``result()`` of the returned launch waits
        for it; the pool calls both from the device's own thread.
        """

    def search(self, target: bytes, bound: int, start: int, count: int, mask: int = 0) -> int | None:
        """``launch`` and wait: the lowest-offset nonce whose ``difficulty ^ mask <= bound``, or None.

        Blocking. The pool re-validates every hit with ``work``.
        """

    def close(self) -> None:
        """Release the device's resources."""


class Deferred:
    """The ``Launch`` of a device that scans only when asked (``queues_launches`` False): the
    scan runs in ``result()``, on the thread that reads it."""

    def __init__(self, search: Callable[[bytes, int, int, int, int], int | None],
                 args: tuple[bytes, int, int, int, int]) -> None:
        self.search, self.args = search, args

    def result(self) -> int | None:
        return self.search(*self.args)
