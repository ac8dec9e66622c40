"""Which broker to use and how, read from the environment (the seed's ``PUBSUB_*`` names)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt
from pydantic_settings import BaseSettings, SettingsConfigDict


class MessagingSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    messaging: Literal["memory", "pubsub"] | None = Field(None, description=(
        "`memory` (in-process queues: only inside `atto-work up`) or `pubsub`; unset: `pubsub` "
        "when `PUBSUB_PROJECT_ID` is set, else `memory`"))
    pubsub_project_id: str | None = Field(None, description=(
        "Google Cloud project of the topics and subscriptions; with the emulator any name"))
    pubsub_emulator_host: str | None = Field(None, description=(
        "`host:port` of the Pub/Sub emulator; the services then create missing topics and "
        "subscriptions themselves"))
    pubsub_subscriber_max_outstanding_element_count: PositiveInt | None = Field(None, description=(
        "flow control: messages a subscriber holds at once; unset: the coordinator holds up to 1,000, "
        "the adapter twice what its worker server runs at once (one running, one waiting per device, "
        "read from its `/ready`) at the worker server and up to `ADAPTER_READ_AHEAD` per device in all; set: "
        "the adapter holds exactly this many, all of them at the worker server (no read-ahead)"))
    pubsub_publish_timeout_seconds: PositiveFloat = Field(10.0, description=(
        "how long a publish (or admin call) may take before it fails (the coordinator then answers "
        "503)"))
    pubsub_batch_interval_seconds: float = Field(0.025, ge=0, le=1, description=(
        "shortest time between two Publish requests to one topic, and between two writes of acks "
        "and deadline changes on one subscription's stream: what comes in between leaves together "
        "in the next one (fewer, fuller requests under load, and less CPU in every process, the "
        "emulator's included); a message with nothing sent in the last interval leaves at once. "
        "0: send as soon as the previous request is written"))
    messaging_retry_min_seconds: PositiveFloat = Field(1.0, description=(
        "first redelivery delay of a failed (nacked) message; the delay is the message's age within "
        "these bounds, so it doubles each time"))
    messaging_retry_max_seconds: PositiveFloat = Field(300.0, description=(
        "longest redelivery delay of a failed message"))
    messaging_memory_max_backlog: PositiveInt = Field(10000, description=(
        "in-process broker (`memory`): messages one subscription may hold (waiting, waiting for a "
        "redelivery, being handled); past it a publish to its topic fails (the coordinator answers "
        "503 with `Retry-After`) and queues nothing"))

    @property
    def backend(self) -> Literal["memory", "pubsub"]:
        if self.messaging is not None:
            return self.messaging
        return "pubsub" if self.pubsub_project_id else "memory"
