"""Which broker to use and how, read from the environment (the seed's ``PUBSUB_*`` names)."""

from __future__ import annotations

from typing import Literal

from pydantic import PositiveFloat, PositiveInt
from pydantic_settings import BaseSettings, SettingsConfigDict


class MessagingSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    #: ``memory`` (in-process) or ``pubsub``; unset means ``pubsub`` when a project id is set.
    messaging: Literal["memory", "pubsub"] | None = None
    pubsub_project_id: str | None = None
    pubsub_emulator_host: str | None = None
    #: Flow control: messages a subscriber holds at once. Unset means the service's own default.
    pubsub_subscriber_max_outstanding_element_count: PositiveInt | None = None
    #: How long a publish (or admin call) may try before it fails with BrokerUnavailable.
    pubsub_publish_timeout_seconds: PositiveFloat = 10.0
    #: Redelivery delay of a nacked message grows from this...
    messaging_retry_min_seconds: PositiveFloat = 1.0
    #: ...up to this.
    messaging_retry_max_seconds: PositiveFloat = 300.0

    @property
    def backend(self) -> Literal["memory", "pubsub"]:
        if self.messaging is not None:
            return self.messaging
        return "pubsub" if self.pubsub_project_id else "memory"
