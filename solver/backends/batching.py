"""Launch sizing shared by the backends: follow the measured rate, and stay small for easy jobs.

A job needs a geometric number of hashes with mean E (``expected_hashes``). Scanning it in
launches of B nonces wastes, per job, about t B/2 hashes past the hit (t = 1 when the last launch
finishes; less for a kernel that skips what lies past a hit) and o hashes per launch (o: the fixed
cost of a launch, in hashes at the device's rate): a job costs about E (1 + o/B) + t B/2, least at
B = sqrt(2 o E / t). Launches are also capped at
``LAUNCH_SECONDS`` so that cancellation is quick, and never smaller than the device needs to run
at full speed.
"""

from __future__ import annotations

import math

from work import expected_hashes

# A launch should last about this long: long enough to hide launch overhead, short enough that
# cancellation and timeouts are noticed quickly between launches.
LAUNCH_SECONDS = 0.05
# No launch is larger than this many times a job's expected hashes (P(miss) = e^-4, about 2 %).
EASY_FACTOR = 4
# The fixed cost of one launch until a backend measures its own.
DEFAULT_OVERHEAD_SECONDS = 1e-4
_ALIGN = 256


def target_words(target: bytes) -> tuple[int, int, int, int]:
    """The 32-byte target as BLAKE2b message words m1..m4 (little-endian u64)."""
    if len(target) != 32:
        raise ValueError("target must be 32 bytes")
    w = [int.from_bytes(target[i : i + 8], "little") for i in range(0, 32, 8)]
    return w[0], w[1], w[2], w[3]


class RateBatcher:
    """Tracks a device's hash rate and turns it into launch sizes."""

    def __init__(self, minimum: int, maximum: int, rate: float = 0.0, tail: float = 1.0) -> None:
        self.minimum = minimum
        self.maximum = maximum
        self.rate = rate
        self.tail = tail  # the share of a launch past its hit that the device still scans
        self.overhead = DEFAULT_OVERHEAD_SECONDS

    def reset(self, rate: float, overhead: float | None = None) -> None:
        self.rate = rate
        if overhead is not None:
            self.overhead = overhead

    def record(self, hashes: int, seconds: float) -> None:
        """Fold one launch into the rate (exponential moving average).

        Launches much shorter than ``LAUNCH_SECONDS`` (easy jobs) are left out: their fixed
        overhead would understate the rate and shrink the launches of hard jobs.
        """
        if seconds <= 0 or hashes < self.minimum or hashes < self.rate * LAUNCH_SECONDS / 2:
            return
        measured = hashes / seconds
        self.rate = measured if self.rate == 0 else 0.7 * self.rate + 0.3 * measured

    def batch_size(self, bound: int) -> int:
        """Launch size for a search where ``bound + 1`` of the 2^64 difficulties hit."""
        if not self.rate:
            return self.minimum
        expected = expected_hashes(bound)
        by_time = self.rate * LAUNCH_SECONDS
        by_job = min(math.sqrt(2 * self.overhead * self.rate * expected / self.tail), EASY_FACTOR * expected)
        size = max(self.minimum, int(min(by_time, by_job, self.maximum)))
        return (size + _ALIGN - 1) // _ALIGN * _ALIGN
