"""The store's errors, and what each becomes at the coordinator's edges.

    StoreError
    ├── StoreUnavailable   the backend cannot be reached or did not answer in time (Redis down,
    │                      a socket timeout, a refused connection). Never a hang: every Redis call
    │                      has a socket timeout.
    │                        - intake (POST /works/{hash}): 503 with Retry-After; nothing queued.
    │                        - result delivery (a WorkGenerated): the message is nacked and comes
    │                          back later, when the store may be back; nothing is lost.
    │                        - status and cancel (GET / DELETE /works/{hash}): 503 with Retry-After.
    │                        - the deadline sweep: logged, tried again at its next tick.
    └── RequestLimit       this hash already has STORE_MAX_REQUESTS_PER_HASH requests waiting:
                           intake answers 429 with Retry-After; nothing queued.
"""


class StoreError(Exception):
    """Base of the store's errors."""


class StoreUnavailable(StoreError):
    """The store could not be read or written now.

    Callers treat the operation as not done. After a timeout it may in fact have taken effect; the
    worst that leaves is a request nobody was told about, which expires at its deadline.
    """


class RequestLimit(StoreError):
    """Too many requests already wait for this hash; the request was not recorded."""
