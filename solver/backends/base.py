"""What the device pool needs from a search backend.

The host owns the search loop (``solver.pool``): it launches bounded batches from a random start,
so a search can be cancelled or timed out between launches and two devices never walk the same
nonces. A device only scans one batch at a time.
"""

from __future__ import annotations

from typing import Protocol


class SearchDevice(Protocol):
    #: Stable, human-readable identity, e.g. ``opencl:0:0 NVIDIA H200`` or ``numpy:cpu``.
    name: str
    #: ``gpu`` or ``cpu``: what ``auto`` prefers and what metrics are labelled with.
    kind: str

    def batch_size(self, threshold: int) -> int:
        """How many nonces one launch should scan for ``threshold``.

        Large enough to keep the device busy, small enough that an easy job does not pay for a
        huge batch and that cancellation is noticed quickly (well under a second a launch).
        """

    def search(self, target: bytes, threshold: int, start: int, count: int) -> int | None:
        """Scan nonces ``start .. start + count - 1`` (mod 2^64) for ``target``.

        Returns the lowest-offset nonce whose difficulty is ``<= threshold``, or ``None``.
        Blocking; the pool runs it in a thread. The pool re-validates every hit with ``work``.
        """

    def close(self) -> None:
        """Release the device's resources."""
