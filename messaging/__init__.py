"""The queue seam between the coordinator and the worker adapter.

``Broker`` is the protocol every backend implements; ``memory`` is the in-process default and
``pubsub`` talks to Google Cloud Pub/Sub (or its emulator). Message schemas live in ``messages``.
"""

from messaging.broker import Broker, BrokerUnavailable, Handler, Message, Retry, Subscription
from messaging.factory import create_broker
from messaging.messages import MessageError, WorkGenerated, WorkRequested
from messaging.settings import MessagingSettings

__all__ = [
    "Broker",
    "BrokerUnavailable",
    "Handler",
    "Message",
    "MessageError",
    "MessagingSettings",
    "Retry",
    "Subscription",
    "WorkGenerated",
    "WorkRequested",
    "create_broker",
]
