"""The work-state seam: pending searches, joined requests, cached works, cancels and deadlines.

``WorkStore`` is the protocol (``store.protocol``); ``memory`` is the in-process default and
``redis_store`` the state shared by coordinator replicas. Errors and what they become: ``store.errors``.
"""

from store.errors import RequestLimit, StoreError, StoreUnavailable
from store.factory import create_store
from store.protocol import (
    Cancelled,
    Completion,
    Decision,
    Expired,
    Request,
    State,
    Status,
    Submitted,
    WorkStore,
)
from store.settings import StoreSettings

__all__ = [
    "Cancelled",
    "Completion",
    "Decision",
    "Expired",
    "Request",
    "RequestLimit",
    "State",
    "Status",
    "StoreError",
    "StoreSettings",
    "StoreUnavailable",
    "Submitted",
    "WorkStore",
    "create_store",
]
