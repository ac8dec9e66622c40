"""Why a search ends without a work: the solver's errors, and the HTTP answer each becomes.

    SolverError                       (never raised itself)
    ├── SearchTimeout    -> 504       no work before the job's deadline (queue wait included)
    ├── QueueFull        -> 503       every device busy and the line at SOLVER_MAX_QUEUE; Retry-After: 1
    ├── Cancelled        -> 409       ``DELETE /works/{hash}`` or the RPC's ``work_cancel`` stopped it
    └── DeviceFailure    -> 500       a device raised during a launch, or the pool closed under the job

A client that hangs up is not an error here: its request task is cancelled (``asyncio``'s own
``CancelledError``), the search stops within one launch, and the server logs it as 499 (no answer
reaches anyone). Bad input never reaches the pool: it is a 400 in ``solver.api``.
"""

from __future__ import annotations


class SolverError(Exception):
    """A search that ended without a work."""


class SearchTimeout(SolverError):
    """No work was found before the job's deadline (queue wait included)."""


class QueueFull(SolverError):
    """Every device is busy and the waiting line is at its limit."""


class Cancelled(SolverError):
    """The search was stopped by ``DevicePool.cancel`` (``DELETE /works/{hash}``, ``work_cancel``)."""


class DeviceFailure(SolverError):
    """A device raised during a launch (the device stays in the pool), or the pool closed."""
