"""The coordinator's settings: the seed's ``PUBSUB_*`` names plus intake and callback tuning.

It extends ``MessagingSettings`` and ``StoreSettings`` so that one object read once at start-up says
which broker and which work-state store to use and what the coordinator does with them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from common.settings import Milliseconds
from coordinator.auth import parse_api_keys
from coordinator.callbacks.policy import IPNetwork, parse_networks
from coordinator.callbacks.signing import parse_signing_keys
from messaging import MessagingSettings
from messaging.topics import CancelledTopic, GeneratedSubscription, GeneratedTopic, RequestedTopic
from store import StoreSettings

#: The Kotlin reference coordinator's default connect and read timeouts of a callback (ms).
REFERENCE_CALLBACK_TIMEOUT_MS = 1000


class CoordinatorSettings(MessagingSettings, StoreSettings):
    pubsub_work_requested_topic: RequestedTopic
    pubsub_work_generated_subscription: GeneratedSubscription
    pubsub_work_generated_topic: GeneratedTopic
    pubsub_work_cancelled_topic: CancelledTopic
    coordinator_max_clock_skew_seconds: NonNegativeFloat = Field(60.0, description=(
        "how far ahead of our clock a request's timestamp may be (the Atto work-server allows 60 s)"))
    callback_timeout_seconds: PositiveFloat = Field(10.0, description=(
        "timeout of one whole callback POST: waiting for a connection, connect (TLS included), send, "
        "the whole answer"))
    callback_connections_per_origin: PositiveInt = Field(8, description=(
        "connections at most to one callback origin (scheme, host, port); four times as many "
        "callbacks may be in progress for it, more wait in the queue (`deferred`), so a slow "
        "receiver holds only its own share"))
    callback_max_pending_per_origin: PositiveInt = Field(1000, description=(
        "failed callbacks of one origin waiting for their retry (per replica); at this bound "
        "`POST /works/{hash}` with a callback to that origin answers 503 with `Retry-After`"))
    callback_max_age: PositiveFloat = Field(3600.0, description=(
        "seconds after which a result whose callback still fails is dropped (error log, "
        "`coordinator_results_total{outcome=\"dropped\"}`)"))
    callback_retry_min_seconds: PositiveFloat | None = Field(None, description=(
        "first retry delay of a failed callback; unset: `MESSAGING_RETRY_MIN_SECONDS`"))
    callback_retry_max_seconds: PositiveFloat | None = Field(None, description=(
        "longest retry delay of a failed callback; unset: `MESSAGING_RETRY_MAX_SECONDS`"))
    callback_allowed_networks: str = Field("", description=(
        "CIDRs (comma- or space-separated, e.g. `10.0.0.0/8, ::1/128`) callbacks may reach although "
        "they are not public; `atto-work up` listening on loopback opens `127.0.0.0/8,::1/128` when this is "
        "unset (the images set it empty)"))
    callback_dns_cache_seconds: NonNegativeFloat = Field(10.0, description=(
        "seconds intake reuses the DNS answer for a callback host name, or its failure to resolve "
        "(0: a lookup per request); "
        "delivery always looks the name up afresh and checks every address again"))
    callback_dns_servers: str = Field("", description=(
        "DNS servers for callback host names, `address[:port]` comma- or space-separated (e.g. "
        "`10.0.0.2, 10.0.0.3:5353`); unset: the system's (`/etc/resolv.conf`)"))
    callback_signing_secret: SecretStr | None = Field(None, description=(
        "when set, every callback carries `X-Atto-Work-Signature` (see docs/api.md)"))
    callback_format: Literal["json", "work"] = Field("json", description=(
        "the callback body: `json`, `{\"hash\", \"work\"}` as `application/json`; `work`, the bare "
        "16-hex work as `text/plain` (what the Kotlin reference coordinator sends); signed either way"))
    # The Kotlin reference coordinator's names (Spring's `atto.callback.*`), read when ours is unset.
    atto_callback_connecttimeout: Milliseconds | None = Field(None, description=(
        "milliseconds; with `ATTO_CALLBACK_READTIMEOUT`, the Kotlin reference's names for "
        "`CALLBACK_TIMEOUT_SECONDS`, which wins when set: it becomes their sum (either one unset "
        "counts as the reference's 1000)"))
    atto_callback_readtimeout: Milliseconds | None = Field(None, description=(
        "milliseconds; see `ATTO_CALLBACK_CONNECTTIMEOUT`"))
    callback_signing_keys: SecretStr | None = Field(None, description=(
        "per-client signing secrets: `<api key> <secret>` entries separated by commas or newlines, "
        "or `@/path/to/file`; a request made with one of these API keys has its callbacks signed "
        "with that key's secret, the others with `CALLBACK_SIGNING_SECRET` (see docs/api.md)"))
    coordinator_api_keys: SecretStr | None = Field(None, description=(
        "API keys for `POST /works/{hash}`: `key1,key2` or `@/path/to/file`; when set, requests need "
        "`Authorization: Bearer <key>`; unset: open"))
    coordinator_rate_limit: PositiveFloat | None = Field(None, description=(
        "requests per second per API key (per client address without keys, an IPv6 client per /64; "
        "per replica), `429` with `Retry-After` beyond; unset: no limit"))

    @model_validator(mode="after")
    def _reference_names(self) -> CoordinatorSettings:
        connect, read = self.atto_callback_connecttimeout, self.atto_callback_readtimeout
        if (connect or read) and "callback_timeout_seconds" not in self.model_fields_set:
            # Ours bounds the whole exchange; the reference's connect-then-read fits in their sum.
            default = REFERENCE_CALLBACK_TIMEOUT_MS
            self.callback_timeout_seconds = ((connect or default) + (read or default)) / 1000
        return self

    @field_validator("callback_allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)  # a bad CIDR stops the start with a line naming the variable
        return value

    @field_validator("coordinator_api_keys", "callback_signing_keys")
    @classmethod
    def _keys(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        parse = parse_api_keys if info.field_name == "coordinator_api_keys" else parse_signing_keys
        if value is not None:
            parse(value.get_secret_value())  # a bad entry stops the start naming the variable
        return value

    @model_validator(mode="after")
    def _signing_keys_are_api_keys(self) -> CoordinatorSettings:
        if set(self.signing_keys) - set(self.api_keys):
            # A typo would otherwise sign that client's callbacks with the global secret unnoticed.
            raise ValueError("callback_signing_keys: names an API key that COORDINATOR_API_KEYS "
                             "does not hold")
        return self

    @property
    def allowed_networks(self) -> tuple[IPNetwork, ...]:
        return parse_networks(self.callback_allowed_networks)

    @property
    def dns_servers(self) -> list[str]:
        return self.callback_dns_servers.replace(",", " ").split()

    @property
    def api_keys(self) -> tuple[str, ...]:
        keys = self.coordinator_api_keys
        return parse_api_keys(keys.get_secret_value() if keys else "")

    @property
    def signing_keys(self) -> dict[str, str]:
        keys = self.callback_signing_keys
        return parse_signing_keys(keys.get_secret_value() if keys else "")

    @property
    def signing_secret(self) -> str | None:
        return self.callback_signing_secret.get_secret_value() if self.callback_signing_secret else None

    def broker_settings(self) -> MessagingSettings:
        """The messaging settings of the coordinator's broker.

        A failed callback is retried by nacking its WorkGenerated (see ``coordinator.delivery``), so
        the callback retry bounds are the redelivery bounds of the broker the coordinator consumes.
        """
        update: dict[str, float] = {}
        if self.callback_retry_min_seconds is not None:
            update["messaging_retry_min_seconds"] = self.callback_retry_min_seconds
        if self.callback_retry_max_seconds is not None:
            update["messaging_retry_max_seconds"] = self.callback_retry_max_seconds
        fields = {name: getattr(self, name) for name in MessagingSettings.model_fields}
        return MessagingSettings.model_construct(**{**fields, **update})
