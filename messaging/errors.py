"""Every error the queue seam raises or understands, and what becomes of the message.

    Exception
     ├── BrokerUnavailable   the broker cannot take or give messages (down, unreachable, a topic
     │                       or subscription missing, not configured).
     │                         publish at intake   -> HTTP 503 {"error": ...}; nothing accepted
     │                         publish in a handler -> the handler raises: nack (redeliver later)
     │                         subscribe           -> the service is not ready (``/ready`` 503)
     │    └── BrokerFull     the in-process broker holds its bound of messages for the topic
     │                       (``MESSAGING_MEMORY_MAX_BACKLOG``): as above, nothing is queued
     ├── Redeliver           raised by a handler for an expected failure it has already reported
     │    │                  (a callback receiver down, a worker server that failed):
     │    │                    nack (redeliver after ``messaging.retry.redelivery_delay``;
     │    │                    the shortest delay when ``prompt``: handed back, not failed),
     │    │                    logged as one short line
     │    └── (the services' own: ``worker_adapter.worker_client.WorkerFailed``,
     │         ``worker_adapter.adapter.InvalidWork``, the coordinator's callback failures)
     └── ValueError
          └── MessageError   a queue message that is not valid JSON of the expected shape:
                               the handler acks it (redelivering cannot help), logs and counts it;
                               at intake a request never becomes one (bad input is a 400 first)

Any other exception a handler raises is a surprise: nack (redeliver later), logged with its
traceback. A handler that returns acks its message.
"""

from __future__ import annotations


class BrokerUnavailable(Exception):
    """The broker could not take or give messages (down, unreachable, not configured)."""


class BrokerFull(BrokerUnavailable):
    """A topic of the in-process broker holds as many messages as it may; retry later."""


class Redeliver(Exception):
    """Raised by a handler for an expected failure it has already reported: the message is nacked
    as on any exception, and the broker logs one short line instead of a traceback."""

    #: True for a message handed back without having failed (an adapter with no free device): it
    #: comes back after the shortest redelivery delay, not one that grows with its age.
    prompt = False


class MessageError(ValueError):
    """A queue message that is not valid JSON of the expected shape."""
