"""Networks and the threshold a work must meet (docs/spec.md, Thresholds: the current Atto rules)."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from work.errors import WorkError

MAX_THRESHOLD = 2**64 - 1
_BASE_THRESHOLD = 8589934591  # 2^33 - 1, the LIVE threshold of 2024
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


class Network(enum.Enum):
    """An Atto network and its difficulty factor (higher factor, easier work)."""

    LIVE = 1
    BETA = 10
    DEV = 100
    LOCAL = 100_000

    @property
    def factor(self) -> int:
        return self.value


def parse_network(name: object) -> Network:
    """The network called ``name``; names are case-sensitive and ``UNKNOWN`` is refused."""
    if isinstance(name, Network):
        return name
    if isinstance(name, str) and name in Network.__members__:
        return Network[name]
    choices = ", ".join(Network.__members__)
    raise WorkError(f"unknown network {name!r}: expected one of {choices}")


def threshold(network: Network | str, timestamp: datetime) -> int:
    """The largest valid difficulty for a block of ``network`` made at ``timestamp``.

    The threshold halves every two years from 2024; the divisor is a float power truncated to an
    integer, exactly as the Atto nodes compute it (so 2029 divides by 5, not by 2^2.5).
    """
    network = parse_network(network)
    if timestamp.tzinfo is None:
        raise WorkError("timestamp must carry a time zone (for example a trailing Z)")
    if timestamp < _EPOCH:
        raise WorkError("timestamp is before 2024-01-01T00:00:00Z, when Atto work rules start")
    year = timestamp.astimezone(UTC).year
    divisor = int(2.0 ** ((year - 2024) / 2.0))
    return (_BASE_THRESHOLD * network.factor) // divisor


def expected_hashes(threshold_value: int) -> float:
    """Mean number of hashes needed to find a work at or below ``threshold_value``."""
    return 2**64 / (threshold_value + 1)
