"""The queue names, defined once: two topics, each with the one subscription its consumer reads.

    coordinator --WorkRequested--> work-requested --> work-requested-adapter --> worker adapter
    coordinator <-- work-generated-coordinator <-- work-generated <--WorkGenerated-- worker adapter

Each service's settings declare the names it reads (the seed's ``PUBSUB_*`` variables) with the
types below, which carry the default and the description; ``QueueNames`` holds all four, for
``atto-work pubsub-init``, which creates them.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

WORK_REQUESTED = "work-requested"
WORK_REQUESTED_SUBSCRIPTION = "work-requested-adapter"
WORK_GENERATED = "work-generated"
WORK_GENERATED_SUBSCRIPTION = "work-generated-coordinator"

RequestedTopic = Annotated[str, Field(default=WORK_REQUESTED, description=(
    "topic the coordinator publishes WorkRequested to (the adapter reads it only to create its "
    "subscription when missing: in-process queue, emulator)"))]
RequestedSubscription = Annotated[str, Field(default=WORK_REQUESTED_SUBSCRIPTION, description=(
    "subscription on the WorkRequested topic that the adapters consume"))]
GeneratedTopic = Annotated[str, Field(default=WORK_GENERATED, description=(
    "topic the adapters publish WorkGenerated to (the coordinator reads it only to create its "
    "subscription when missing: in-process queue, emulator)"))]
GeneratedSubscription = Annotated[str, Field(default=WORK_GENERATED_SUBSCRIPTION, description=(
    "subscription on the WorkGenerated topic that the coordinators consume"))]


class QueueNames(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    pubsub_work_requested_topic: RequestedTopic
    pubsub_work_requested_subscription: RequestedSubscription
    pubsub_work_generated_topic: GeneratedTopic
    pubsub_work_generated_subscription: GeneratedSubscription
