"""Every error of the callback client, and what becomes of the work when it is raised.

    CallbackError                    base of the tree: what intake and delivery catch
    ├── CallbackRefused              the policy refuses the URL or an address of its host
    │                                intake: 400, nothing published; delivery: acked, the result is
    │                                dropped (counted as ``refused``): retrying cannot change the
    │                                answer
    └── CallbackFailed               the callback could not be delivered (now); also ``messaging.Redeliver``
        │                            delivery: nacked, redelivered later with the broker's growing
        │                            delay, until the result is older than CALLBACK_MAX_AGE; then
        │                            acked and dropped (``dropped``). Causes: connection error, TLS
        │                            failure, timeout, a non-2xx (a 3xx included: redirects are never
        │                            followed). Raised at intake only as its subclass:
        ├── CallbackUnresolved       the host has no address now (DNS failure or empty answer)
        │                            intake: 400; delivery: nacked (DNS may come back)
        └── CallbackBusy             the receiver's origin already has its share of callbacks in
                                     progress: not attempted; delivery: nacked (``deferred``), the
                                     result waits in the queue, not in the connection pool

A refused callback is deliberately not a ``CallbackFailed``: a retryable error must never be caught
where a refusal is meant, nor a refusal retried for an hour.
"""

from __future__ import annotations

from messaging import Redeliver


class CallbackError(Exception):
    """A callback URL was refused or its POST failed."""


class CallbackRefused(CallbackError):
    """The callback URL or one of its addresses is not allowed; retrying will not help."""


class CallbackFailed(CallbackError, Redeliver):
    """The callback could not be delivered: connection error, timeout, TLS, non-2xx answer."""


class CallbackUnresolved(CallbackFailed):
    """The callback host did not resolve (now): a 400 at intake, a retry at delivery."""


class CallbackBusy(CallbackFailed):
    """The callback's origin has its share of callbacks in progress: not attempted, retried later."""
