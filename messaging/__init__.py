"""The queue seam between the coordinator and the worker adapter.

``Broker`` is the protocol every backend implements; ``memory`` is the in-process default and
``pubsub`` talks to Google Cloud Pub/Sub (or its emulator). Message schemas live in ``messages``,
queue names in ``topics``, and what each error means for a message in ``errors``.
"""

from messaging.broker import Broker, Handler, Message, Subscription
from messaging.errors import BrokerUnavailable, MessageError, Redeliver
from messaging.factory import create_broker
from messaging.messages import WorkCancelled, WorkGenerated, WorkRequested
from messaging.settings import MessagingSettings

__all__ = [
    "Broker",
    "BrokerUnavailable",
    "Handler",
    "Message",
    "MessageError",
    "MessagingSettings",
    "Redeliver",
    "Subscription",
    "WorkCancelled",
    "WorkGenerated",
    "WorkRequested",
    "create_broker",
]
