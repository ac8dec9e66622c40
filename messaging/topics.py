"""The queue names, defined once: two topics, each with the one subscription its consumer reads.

    coordinator --WorkRequested--> work-requested --> work-requested-adapter --> worker adapter
    coordinator <-- work-generated-coordinator <-- work-generated <--WorkGenerated-- worker adapter

``QueueNames`` reads them from the seed's ``PUBSUB_*`` variables; every service's settings and
``atto-work pubsub-init`` extend it, so they agree by construction.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

WORK_REQUESTED = "work-requested"
WORK_REQUESTED_SUBSCRIPTION = "work-requested-adapter"
WORK_GENERATED = "work-generated"
WORK_GENERATED_SUBSCRIPTION = "work-generated-coordinator"


class QueueNames(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    pubsub_work_requested_topic: str = Field(
        WORK_REQUESTED, description="Topic the coordinator publishes WorkRequested to.")
    pubsub_work_requested_subscription: str = Field(
        WORK_REQUESTED_SUBSCRIPTION,
        description="Subscription on that topic the worker adapters consume WorkRequested from.")
    pubsub_work_generated_topic: str = Field(
        WORK_GENERATED, description="Topic the worker adapters publish WorkGenerated to.")
    pubsub_work_generated_subscription: str = Field(
        WORK_GENERATED_SUBSCRIPTION,
        description="Subscription on that topic the coordinators consume WorkGenerated from.")
