"""The Atto proof-of-work rules: the single reference every other part is checked against.

Standard library only. ``docs/spec.md`` states the rules these functions implement.
"""

from work.difficulty import difficulty, is_valid
from work.errors import WorkError
from work.hexcodec import format_target, format_work, parse_target, parse_threshold, parse_work
from work.networks import MAX_THRESHOLD, Network, expected_hashes, parse_network, threshold
from work.timestamps import check_not_future, parse_timestamp

__all__ = [
    "MAX_THRESHOLD",
    "Network",
    "WorkError",
    "check_not_future",
    "difficulty",
    "expected_hashes",
    "format_target",
    "format_work",
    "is_valid",
    "parse_network",
    "parse_target",
    "parse_threshold",
    "parse_timestamp",
    "parse_work",
    "threshold",
]
