"""The adapter's settings: the seed's ``PUBSUB_*`` names (queue names from ``messaging.topics``)
and the worker server to call."""

from __future__ import annotations

from pydantic import Field, NonNegativeFloat, PositiveFloat, SecretStr

from messaging import MessagingSettings
from messaging.topics import CancelledTopic, GeneratedTopic, RequestedSubscription, RequestedTopic


class AdapterSettings(MessagingSettings):
    pubsub_work_requested_subscription: RequestedSubscription
    pubsub_work_requested_topic: RequestedTopic
    pubsub_work_generated_topic: GeneratedTopic
    pubsub_work_cancelled_topic: CancelledTopic
    worker_url: str = Field("http://127.0.0.1:8090", description=(
        "the worker server (`atto-work solver`)"))
    solver_token: SecretStr | None = Field(None, description=(
        "sent as `Authorization: Bearer <token>` to the worker server (which requires it when its "
        "`SOLVER_TOKEN` is set); set the same value on both"))
    worker_timeout_seconds: PositiveFloat = Field(300.0, description=(
        "longest wait for one work; size it from the p99 solve time (4.6x the mean) of your hardware"))
    adapter_read_ahead: int = Field(8, ge=2, description=(
        "requests held per work the worker server runs at once: 2 of them at the worker server, the "
        "rest waiting in the adapter for a slot (fewer, larger pulls from the queue: less CPU per "
        "work); 2: no read-ahead. Not used when `PUBSUB_SUBSCRIBER_MAX_OUTSTANDING_ELEMENT_COUNT` is "
        "set. With works that take seconds, 2 keeps the backlog in the queue for other adapters"))
    adapter_read_ahead_max_wait_seconds: PositiveFloat = Field(0.5, description=(
        "longest wait of a read-ahead request for a worker-server slot; past it the request is "
        "released (nacked: it comes back after the redelivery delay, to any adapter)"))
    adapter_shutdown_grace_seconds: NonNegativeFloat = Field(25.0, description=(
        "on SIGTERM, the time running requests get to finish; the rest are nacked (they go to "
        "another adapter at once)"))
