"""Hash-rate measurement shared by ``atto-work bench``, ``bench/hashrate.py`` and ``bench/gpu-check``."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from solver.backends.base import SearchDevice

# A bound no nonce can meet in practice (difficulty 0, or 2^64 - 1 under Nano's mask): every
# launch is a full, hit-free scan.
_NEVER = 0
# Launches sized as for a LIVE 2026 work, so the batch is the device's steady-state launch size.
_LIVE_2026 = 4294967295


@dataclass
class Rate:
    device: str
    kind: str
    hashes: int
    seconds: float
    #: CPU time of this whole process meanwhile (all its threads: PoCL's included).
    cpu_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.hashes / self.seconds if self.seconds else 0.0

    @property
    def cpu_rate(self) -> float:
        """Hashes per CPU-second of the process: for a CPU device on a shared machine, a rate
        that other processes' load hardly moves (wall-clock rates there swing 2x within minutes)."""
        return self.hashes / self.cpu_seconds if self.cpu_seconds else 0.0

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "rate": self.rate}


def measure(device: SearchDevice, seconds: float, mask: int = 0) -> Rate:
    """Scan hit-free batches on ``device`` for about ``seconds`` (after one warm-up launch).

    ``mask``: the comparison's mask (``solver.jobs.Rule.search_bound``): 0 measures Atto's rule,
    2^64 - 1 Nano's, with the same batches.
    """
    target = bytes(range(32))
    count = device.batch_size(_LIVE_2026)
    device.search(target, _NEVER, 0, count, mask)
    hashes, start, cpu_start, nonce = 0, time.perf_counter(), time.process_time(), count
    while True:
        count = device.batch_size(_LIVE_2026)
        device.search(target, _NEVER, nonce, count, mask)
        nonce += count
        hashes += count
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return Rate(device.name, device.kind, hashes, elapsed, time.process_time() - cpu_start)
