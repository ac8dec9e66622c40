"""The adapter's settings: the seed's ``PUBSUB_*`` names (queue names from ``messaging.topics``)
and the worker server to call.

The Kotlin reference adapter's names (``ATTO_ADAPTER_*``) are read too, so its deployment runs
ours unchanged; each maps onto one of ours, which wins when both are set.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, NonNegativeFloat, PositiveFloat, SecretStr, field_validator, model_validator

from common.settings import Milliseconds
from messaging import MessagingSettings
from messaging.topics import CancelledTopic, GeneratedTopic, RequestedSubscription, RequestedTopic


class AdapterSettings(MessagingSettings):
    pubsub_work_requested_subscription: RequestedSubscription
    pubsub_work_requested_topic: RequestedTopic
    pubsub_work_generated_topic: GeneratedTopic
    pubsub_work_cancelled_topic: CancelledTopic
    worker_url: str = Field("http://127.0.0.1:8090", description=(
        "the worker server (`atto-work solver`)"))
    worker_protocol: Literal["works", "rpc"] = Field("works", description=(
        "`works`: `POST <WORKER_URL>/works/{hash}` (`DELETE` to cancel); `rpc`: the nano-work-server "
        "RPC, `{\"action\": \"work_generate\", \"hash\", \"threshold\"}` (`work_cancel` to cancel) "
        "POSTed to `WORKER_URL` as given, as the Kotlin reference adapter calls it"))
    solver_token: SecretStr | None = Field(None, description=(
        "sent as `Authorization: Bearer <token>` to the worker server (which requires it when its "
        "`SOLVER_TOKEN` is set); set the same value on both"))
    worker_connect_timeout_seconds: PositiveFloat = Field(5.0, description=(
        "longest wait for a connection to the worker server to open"))
    worker_timeout_seconds: PositiveFloat = Field(300.0, description=(
        "longest wait for one work; size it from the p99 solve time (4.6x the mean) of your hardware"))
    adapter_read_ahead: int = Field(8, ge=2, description=(
        "requests held per work the worker server runs at once: 2 of them at the worker server, the "
        "rest waiting in the adapter for a slot (fewer, larger pulls from the queue: less CPU per "
        "work); 2: no read-ahead. Not used when `PUBSUB_SUBSCRIBER_MAX_OUTSTANDING_ELEMENT_COUNT` is "
        "set. With works that take seconds, 2 keeps the backlog in the queue for other adapters"))
    adapter_read_ahead_max_wait_seconds: PositiveFloat = Field(0.5, description=(
        "longest wait of a read-ahead request for a worker-server slot; past it the request is "
        "released (nacked: it comes back after `MESSAGING_RETRY_MIN_SECONDS`, to any adapter)"))
    adapter_shutdown_grace_seconds: NonNegativeFloat = Field(25.0, description=(
        "on SIGTERM, the time running requests get to finish; the rest are nacked (they go to "
        "another adapter at once)"))
    # The Kotlin reference adapter's names (Spring's `atto.adapter.*`), read when ours are unset.
    atto_adapter_url: str | None = Field(None, description=(
        "the Kotlin reference adapter's worker URL: used as `WORKER_URL` when that is unset, with "
        "`WORKER_PROTOCOL=rpc` (called as given) unless its path ends in `/works` (then `works`, "
        "that segment cut off); `WORKER_PROTOCOL`, when set, wins"))
    atto_adapter_connecttimeout: Milliseconds | None = Field(None, description=(
        "milliseconds; the Kotlin reference's name for `WORKER_CONNECT_TIMEOUT_SECONDS`, which wins "
        "when both are set"))
    atto_adapter_readtimeout: Milliseconds | None = Field(None, description=(
        "milliseconds; the Kotlin reference's name for `WORKER_TIMEOUT_SECONDS`, which wins when "
        "both are set"))

    @field_validator("atto_adapter_url")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None  # blank, as compose and Helm pass an unset variable
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute http(s) URL")
        return value.strip()

    @model_validator(mode="after")
    def _reference_names(self) -> AdapterSettings:
        ours = set(self.model_fields_set)  # before the assignments below add to it
        if self.atto_adapter_url is not None and "worker_url" not in ours:
            self.worker_url, protocol = _split_reference_url(self.atto_adapter_url)
            if "worker_protocol" not in ours:
                self.worker_protocol = protocol
        if self.atto_adapter_connecttimeout is not None and "worker_connect_timeout_seconds" not in ours:
            self.worker_connect_timeout_seconds = self.atto_adapter_connecttimeout / 1000
        if self.atto_adapter_readtimeout is not None and "worker_timeout_seconds" not in ours:
            self.worker_timeout_seconds = self.atto_adapter_readtimeout / 1000
        return self


def _split_reference_url(url: str) -> tuple[str, Literal["works", "rpc"]]:
    """``ATTO_ADAPTER_URL`` as ``(WORKER_URL, WORKER_PROTOCOL)``: a URL whose path ends in
    ``/works`` is our API's base; any other is an RPC endpoint, called as given."""
    parts = urlsplit(url)
    head, _, last = parts.path.rstrip("/").rpartition("/")
    if last == "works":
        return urlunsplit((parts.scheme, parts.netloc, head, "", "")), "works"
    return url, "rpc"
