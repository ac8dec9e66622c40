"""Build the broker the settings name."""

from __future__ import annotations

from messaging.broker import Broker
from messaging.settings import MessagingSettings


def create_broker(settings: MessagingSettings) -> Broker:
    if settings.backend == "pubsub":
        from messaging.pubsub import PubSubBroker  # imported lazily: google-cloud is heavy

        return PubSubBroker(settings)
    from messaging.memory import MemoryBroker

    return MemoryBroker(
        retry_min_seconds=settings.messaging_retry_min_seconds,
        retry_max_seconds=settings.messaging_retry_max_seconds,
        max_backlog=settings.messaging_memory_max_backlog,
    )
