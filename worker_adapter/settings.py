"""The adapter's settings: the seed's mirrored ``PUBSUB_*`` names and the worker server to call."""

from __future__ import annotations

from pydantic import Field, NonNegativeFloat, PositiveFloat, SecretStr

from messaging import MessagingSettings


class AdapterSettings(MessagingSettings):
    pubsub_work_requested_subscription: str = Field("work-requested-adapter", description=(
        "subscription the adapter consumes WorkRequested from"))
    pubsub_work_requested_topic: str = Field("work-requested", description=(
        "topic of that subscription: only used to create it when missing (in-process queue, emulator)"))
    pubsub_work_generated_topic: str = Field("work-generated", description=(
        "topic the adapter publishes WorkGenerated to"))
    worker_url: str = Field("http://127.0.0.1:8090", description=(
        "the worker server (`atto-work solver`)"))
    solver_token: SecretStr | None = Field(None, description=(
        "sent as `Authorization: Bearer <token>` to the worker server (which requires it when its "
        "`SOLVER_TOKEN` is set); set the same value on both"))
    worker_timeout_seconds: PositiveFloat = Field(300.0, description=(
        "longest wait for one work; size it from the p99 solve time (4.6x the mean) of your hardware"))
    adapter_shutdown_grace_seconds: NonNegativeFloat = Field(25.0, description=(
        "on SIGTERM, the time running requests get to finish; the rest are nacked (they go to "
        "another adapter at once)"))
