"""How long a nacked message waits before it is delivered again.

Pub/Sub does not tell a subscriber how often a message was delivered (without a dead-letter policy),
so the delay follows the message's age instead: waiting as long as the message has existed doubles
the delay on each failure, from ``minimum`` up to ``maximum`` seconds, on every backend alike.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from messaging.errors import Redeliver


def redelivery_delay(
    publish_time: datetime, minimum: float, maximum: float, now: datetime | None = None,
    exc: Exception | None = None,
) -> float:
    """The wait before ``exc``'s message comes back: ``minimum`` for a ``Redeliver`` that is not a
    failure (``prompt``), else the message's age within the bounds."""
    if isinstance(exc, Redeliver) and exc.prompt:
        return minimum
    now = now or datetime.now(UTC)
    age = (now - publish_time).total_seconds()
    return min(max(age, minimum), maximum)


def log_handler_failure(log: logging.Logger, message_id: str, exc: Exception, delay: float) -> None:
    """One line for a nacked message: short for a ``Redeliver``, with the traceback for a surprise."""
    if isinstance(exc, Redeliver):
        log.info("message %s will be redelivered in %.0f s: %s", message_id, delay, exc)
    else:
        log.warning("handler failed; message %s will be redelivered in %.0f s", message_id, delay,
                    exc_info=exc)
