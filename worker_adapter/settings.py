"""The adapter's settings: the seed's mirrored ``PUBSUB_*`` names and the worker server to call."""

from __future__ import annotations

from pydantic import NonNegativeFloat, PositiveFloat, SecretStr

from messaging import MessagingSettings


class AdapterSettings(MessagingSettings):
    #: Subscription the adapter consumes WorkRequested from.
    pubsub_work_requested_subscription: str = "work-requested-adapter"
    #: Topic of that subscription: only used to create it when missing (in-process broker, emulator).
    pubsub_work_requested_topic: str = "work-requested"
    #: Topic the adapter publishes WorkGenerated to.
    pubsub_work_generated_topic: str = "work-generated"
    #: The worker server (``atto-work solver``).
    worker_url: str = "http://127.0.0.1:8090"
    #: Sent as ``Authorization: Bearer <token>`` to the worker server (which requires it when set).
    solver_token: SecretStr | None = None
    #: Longest wait for one work; size it from the p99 solve time (4.6x the mean) of your hardware.
    worker_timeout_seconds: PositiveFloat = 300.0
    #: On SIGTERM, how long running requests may take to finish before they are nacked.
    adapter_shutdown_grace_seconds: NonNegativeFloat = 25.0
