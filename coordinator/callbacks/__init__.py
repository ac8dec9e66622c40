"""The callback client: where a callback may go (``policy``), how it gets there (``transport``),
how it is signed (``signing``), the POST itself (``sending``), each receiver's share of it
(``origins``) and its errors (``errors``)."""

from coordinator.callbacks.errors import (
    CallbackBusy,
    CallbackError,
    CallbackFailed,
    CallbackRefused,
    CallbackUnresolved,
)
from coordinator.callbacks.policy import CallbackPolicy, parse_networks
from coordinator.callbacks.sending import MAX_RESPONSE_BYTES, CallbackSender

__all__ = [
    "MAX_RESPONSE_BYTES",
    "CallbackBusy",
    "CallbackError",
    "CallbackFailed",
    "CallbackPolicy",
    "CallbackRefused",
    "CallbackSender",
    "CallbackUnresolved",
    "parse_networks",
]
