"""Ratio benchmarks that survive a noisy machine: rounds of ours and a peer, interleaved.

On a shared machine the load drifts more within minutes than the margins measured (single runs of
one comparison gave 0.95x to 1.34x within an hour), so a ratio is never taken from one pair of
runs. ``interleave`` measures ours and the peer back to back, round after round, swapping which
goes first each round (A B, B A, A B, ...: a steady drift favours neither), takes each round's
ratio, and reports the median with its spread. Quote the median.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Comparison:
    """Per-round measurements of ours and the peer (rates: higher is better)."""

    ours: list[float]
    peer: list[float]

    @property
    def ratios(self) -> list[float]:
        return [a / b for a, b in zip(self.ours, self.peer, strict=True)]

    def summary(self) -> dict:
        """Median ratio, its min-max and interquartile range, and each side's median rate."""
        ratios = self.ratios
        q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive") if len(ratios) > 1 else ratios * 3
        return {
            "rounds": len(ratios),
            "ratio_median": statistics.median(ratios),
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
            "ratio_iqr": [q1, q3],
            "ours_median": statistics.median(self.ours),
            "peer_median": statistics.median(self.peer),
            "ours": self.ours,
            "peer": self.peer,
        }


def interleave(ours: Callable[[], float], peer: Callable[[], float], rounds: int) -> Comparison:
    """Run ``rounds`` rounds of both measurements, alternating which goes first."""
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    result = Comparison([], [])
    for i in range(rounds):
        if i % 2 == 0:
            result.ours.append(ours())
            result.peer.append(peer())
        else:
            result.peer.append(peer())
            result.ours.append(ours())
    return result


def describe(summary: dict) -> str:
    """``1.02x (min-max 0.97-1.06, IQR 1.00-1.04, 5 rounds)``."""
    q1, q3 = summary["ratio_iqr"]
    return (f"{summary['ratio_median']:.3f}x (min-max {summary['ratio_min']:.3f}-{summary['ratio_max']:.3f}, "
            f"IQR {q1:.3f}-{q3:.3f}, {summary['rounds']} rounds)")
