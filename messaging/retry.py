"""How long a nacked message waits before it is delivered again.

Pub/Sub does not tell a subscriber how often a message was delivered (without a dead-letter policy),
so the delay follows the message's age instead: waiting as long as the message has existed doubles
the delay on each failure, from ``minimum`` up to ``maximum`` seconds, on every backend alike.
"""

from __future__ import annotations

from datetime import UTC, datetime


def redelivery_delay(
    publish_time: datetime, minimum: float, maximum: float, now: datetime | None = None
) -> float:
    now = now or datetime.now(UTC)
    age = (now - publish_time).total_seconds()
    return min(max(age, minimum), maximum)
