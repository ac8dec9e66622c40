"""The callback client: where a callback may go (``policy``), how it gets there (``transport``),
how it is signed (``signing``), the POST itself (``sending``) and its errors (``errors``)."""

from coordinator.callbacks.errors import CallbackError, CallbackFailed, CallbackRefused, CallbackUnresolved
from coordinator.callbacks.policy import CallbackPolicy, parse_networks
from coordinator.callbacks.sending import MAX_RESPONSE_BYTES, CallbackSender

__all__ = [
    "MAX_RESPONSE_BYTES",
    "CallbackError",
    "CallbackFailed",
    "CallbackPolicy",
    "CallbackRefused",
    "CallbackSender",
    "CallbackUnresolved",
    "parse_networks",
]
