"""Hash-rate measurement shared by ``atto-work bench``, ``bench/hashrate.py`` and ``bench/gpu-check``."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from solver.backends.base import SearchDevice

# A threshold no nonce can meet in practice (difficulty 0): every launch is a full, hit-free scan.
_NEVER = 0
# Launches sized as for a LIVE 2026 work, so the batch is the device's steady-state launch size.
_LIVE_2026 = 4294967295


@dataclass
class Rate:
    device: str
    kind: str
    hashes: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.hashes / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "rate": self.rate}


def measure(device: SearchDevice, seconds: float) -> Rate:
    """Scan hit-free batches on ``device`` for about ``seconds`` (after one warm-up launch)."""
    target = bytes(range(32))
    count = device.batch_size(_LIVE_2026)
    device.search(target, _NEVER, 0, count)
    hashes, start, nonce = 0, time.perf_counter(), count
    while True:
        count = device.batch_size(_LIVE_2026)
        device.search(target, _NEVER, nonce, count)
        nonce += count
        hashes += count
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return Rate(device.name, device.kind, hashes, elapsed)
