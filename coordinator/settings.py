"""The coordinator's settings: the seed's ``PUBSUB_*`` names plus intake and callback tuning.

It extends ``MessagingSettings`` so that one object read once at start-up says both which broker to
use and what the coordinator does with it.
"""

from __future__ import annotations

from pydantic import NonNegativeFloat, PositiveFloat, SecretStr, field_validator

from coordinator.auth import parse_api_keys
from coordinator.callback_policy import IPNetwork, parse_networks
from messaging import MessagingSettings


class CoordinatorSettings(MessagingSettings):
    #: Topic the intake publishes WorkRequested to.
    pubsub_work_requested_topic: str = "work-requested"
    #: Subscription the coordinator consumes WorkGenerated from.
    pubsub_work_generated_subscription: str = "work-generated-coordinator"
    #: Topic of that subscription: only used to create it when missing (in-process broker, emulator).
    pubsub_work_generated_topic: str = "work-generated"
    #: How far ahead of our clock a request's timestamp may be (the Atto work-server allows 60 s).
    coordinator_max_clock_skew_seconds: NonNegativeFloat = 60.0
    #: Connect + read timeout of one callback POST.
    callback_timeout_seconds: PositiveFloat = 10.0
    #: A result whose callback still fails this many seconds after it was generated is dropped.
    callback_max_age: PositiveFloat = 3600.0
    #: Redelivery delay of a result whose callback failed grows from this (unset: MESSAGING_RETRY_MIN)...
    callback_retry_min_seconds: PositiveFloat | None = None
    #: ...up to this (unset: MESSAGING_RETRY_MAX_SECONDS).
    callback_retry_max_seconds: PositiveFloat | None = None

    #: CIDRs callbacks may reach although they are not public (``10.0.0.0/8, ::1/128``); see
    #: ``coordinator.callback_policy``. ``atto-work up`` opens loopback when this is unset.
    callback_allowed_networks: str = ""
    #: With a secret, callbacks carry ``X-Atto-Work-Signature`` (``coordinator.signing``).
    callback_signing_secret: SecretStr | None = None
    #: API keys for ``POST /works/{hash}``: comma-separated, or ``@/path/to/file`` (``coordinator.auth``).
    coordinator_api_keys: SecretStr | None = None
    #: Requests per second per API key (per client address without keys); unset: no limit.
    coordinator_rate_limit: PositiveFloat | None = None

    @field_validator("callback_allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)  # a bad CIDR stops the start with a line naming the variable
        return value

    @field_validator("coordinator_api_keys")
    @classmethod
    def _keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_api_keys(value.get_secret_value())
        return value

    @property
    def allowed_networks(self) -> tuple[IPNetwork, ...]:
        return parse_networks(self.callback_allowed_networks)

    @property
    def api_keys(self) -> tuple[str, ...]:
        keys = self.coordinator_api_keys
        return parse_api_keys(keys.get_secret_value() if keys else "")

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
