"""Launch sizing shared by the backends: follow the measured rate, and stay small for easy jobs."""

from __future__ import annotations

from work import expected_hashes

# A launch should last about this long: long enough to hide launch overhead, short enough that
# cancellation and timeouts are noticed quickly between launches.
LAUNCH_SECONDS = 0.05
# An easy job scans this many times its expected hashes in one launch (P(miss) = e^-4, about 2 %).
EASY_FACTOR = 4
_ALIGN = 256


def target_words(target: bytes) -> tuple[int, int, int, int]:
    """The 32-byte target as BLAKE2b message words m1..m4 (little-endian u64)."""
    if len(target) != 32:
        raise ValueError("target must be 32 bytes")
    w = [int.from_bytes(target[i : i + 8], "little") for i in range(0, 32, 8)]
    return w[0], w[1], w[2], w[3]


class RateBatcher:
    """Tracks a device's hash rate and turns it into launch sizes."""

    def __init__(self, minimum: int, maximum: int, rate: float = 0.0) -> None:
        self.minimum = minimum
        self.maximum = maximum
        self.rate = rate

    def reset(self, rate: float) -> None:
        self.rate = rate

    def record(self, hashes: int, seconds: float) -> None:
        """Fold one launch into the rate (exponential moving average).

        Launches much shorter than ``LAUNCH_SECONDS`` (easy jobs) are left out: their fixed
        overhead would understate the rate and shrink the launches of hard jobs.
        """
        if seconds <= 0 or hashes < self.minimum or hashes < self.rate * LAUNCH_SECONDS / 2:
            return
        measured = hashes / seconds
        self.rate = measured if self.rate == 0 else 0.7 * self.rate + 0.3 * measured

    def batch_size(self, threshold: int) -> int:
        by_time = int(self.rate * LAUNCH_SECONDS) if self.rate else self.minimum
        by_job = int(expected_hashes(threshold) * EASY_FACTOR)
        size = max(self.minimum, min(by_time, by_job, self.maximum))
        return (size + _ALIGN - 1) // _ALIGN * _ALIGN
