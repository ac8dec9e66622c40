"""The broker protocol: what the services need from a queue, and nothing more.

Delivery is at-least-once. A subscriber's handler is awaited for each message: when it returns the
message is acked; when it raises, the message is nacked and redelivered later, after a delay that
grows with the message's age (``messaging.retry``). A subscription holds at most ``max_outstanding``
messages at once, which is how a worker adapter takes only what its worker server can run.
What each error means for a message: ``messaging.errors``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Message:
    """One delivery of a published message."""

    data: bytes
    message_id: str
    publish_time: datetime
    attributes: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Message], Awaitable[None]]


class Subscription(Protocol):
    """A running consumer of one subscription."""

    async def stop(self, grace: float = 0.0) -> None:
        """Stop taking messages, let running handlers finish within ``grace`` seconds, nack the rest."""


class Broker(Protocol):
    """Publish to topics; consume subscriptions with ack-on-return and nack-on-raise."""

    async def start(self) -> None:
        """Connect (and, where the backend allows, create missing topics and subscriptions)."""

    async def close(self) -> None:
        """Stop every subscription (nacking what is held) and release connections."""

    async def declare(self, topic: str, subscription: str | None = None) -> None:
        """Create ``topic`` and, if given, ``subscription`` on it, when they do not exist yet."""

    async def publish(self, topic: str, data: bytes, attributes: dict[str, str] | None = None) -> str:
        """Publish ``data`` (with string ``attributes``, Pub/Sub's message attributes) and return its
        message id once the broker has it.

        Raises ``BrokerUnavailable`` when the broker cannot take the message.
        """

    async def subscribe(
        self, subscription: str, handler: Handler, *, max_outstanding: int | None = None
    ) -> Subscription:
        """Start consuming ``subscription`` with at most ``max_outstanding`` messages in flight."""

    async def ping(self) -> bool:
        """Whether the broker is reachable now (for readiness probes)."""

    async def fanout(self, topic: str, handler: Handler) -> Subscription:
        """Consume every message published to ``topic`` from now on, through a subscription of this
        consumer's own (each caller gets every message); stopping it deletes that subscription."""


class OwnSubscription:
    """What ``fanout`` returns: a consumer of a subscription made for it alone, removed once the
    consumer has stopped."""

    def __init__(self, consumer: Subscription, remove: Callable[[], Awaitable[None]]) -> None:
        self._consumer = consumer
        self._remove = remove

    async def stop(self, grace: float = 0.0) -> None:
        await self._consumer.stop(grace)
        await self._remove()
