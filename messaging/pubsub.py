"""Google Cloud Pub/Sub backend. Placeholder until the Pub/Sub backend lands (issue 3)."""

from __future__ import annotations

from messaging.settings import MessagingSettings


class PubSubBroker:
    def __init__(self, settings: MessagingSettings) -> None:
        raise NotImplementedError("the Pub/Sub backend is not built yet")
