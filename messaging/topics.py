"""The queue names, defined once: two topics, each with the one subscription its consumer reads.

    coordinator --WorkRequested--> work-requested --> work-requested-adapter --> worker adapter
    coordinator <-- work-generated-coordinator <-- work-generated <--WorkGenerated-- worker adapter
    coordinator --WorkCancelled--> work-cancelled --> one subscription per adapter (fan-out)

Each settings model that reads a name (the seed's ``PUBSUB_*`` variables: the services', and
``atto-work pubsub-init``'s, which creates all four) declares its field with the type below, which
carries the default and the description.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

WORK_REQUESTED = "work-requested"
WORK_REQUESTED_SUBSCRIPTION = "work-requested-adapter"
WORK_GENERATED = "work-generated"
WORK_GENERATED_SUBSCRIPTION = "work-generated-coordinator"
#: Every adapter reads it through a subscription of its own (``messaging.fanout``).
WORK_CANCELLED = "work-cancelled"

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

CancelledTopic = Annotated[str, Field(default=WORK_CANCELLED, description=(
    "topic the coordinator publishes WorkCancelled to when nobody waits for a hash any more; every "
    "adapter reads it through a subscription of its own, made at its start"))]
