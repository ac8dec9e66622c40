"""Google Cloud Pub/Sub backend (or its emulator, when ``PUBSUB_EMULATOR_HOST`` is set).

Publishing awaits the Publish RPC on the event loop, batched per loop turn
(``messaging.pubsub_publisher``); it returns once the server has stored the message. Consuming is a
streaming pull on the event loop too (``messaging.pubsub_subscription``): flow control, leases,
acks and reconnecting are done there, with the library's asyncio GAPIC client. Blocking admin RPCs
(topics and subscriptions) run in worker threads so the loop never waits on the network.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import grpc
from google.api_core import exceptions as gexc
from google.api_core.retry import Retry
from google.api_core.retry_async import AsyncRetry
from google.auth.credentials import AnonymousCredentials
from google.cloud import pubsub_v1
from google.pubsub_v1.services.publisher import PublisherAsyncClient
from google.pubsub_v1.services.publisher.transports import (
    PublisherGrpcAsyncIOTransport,
    PublisherGrpcTransport,
)
from google.pubsub_v1.services.subscriber import SubscriberAsyncClient
from google.pubsub_v1.services.subscriber.transports import (
    SubscriberGrpcAsyncIOTransport,
    SubscriberGrpcTransport,
)

from messaging.broker import Handler, OwnSubscription
from messaging.errors import BrokerUnavailable
from messaging.pubsub_publisher import LoopPublisher
from messaging.pubsub_subscription import PubSubSubscription
from messaging.settings import MessagingSettings

log = logging.getLogger(__name__)

#: Ack deadline of the subscriptions we create; a consumer's stream asks for shorter leases, extended
#: while a handler runs (``messaging.pubsub_subscription.LEASE_SECONDS``).
ACK_DEADLINE_SECONDS = 60
#: Messages a consumer holds at once when neither the caller nor the settings say (the library's
#: default).
DEFAULT_OUTSTANDING = 1000
#: A fan-out subscription nobody consumes is deleted by Pub/Sub after this (its minimum, one day).
FANOUT_EXPIRY_SECONDS = 86400
#: A cancel older than this is of no use to an adapter that comes back (the minimum, 10 minutes).
FANOUT_RETENTION_SECONDS = 600
#: Errors that mean "the server answered": reachable, even if this call was not allowed.
_ANSWERED = (gexc.NotFound, gexc.PermissionDenied, gexc.Forbidden, gexc.Unauthenticated)
_TRANSIENT = (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.InternalServerError, gexc.Aborted,
              gexc.Unknown, gexc.ResourceExhausted, gexc.Cancelled)


def _transient(exc: Exception) -> bool:
    return isinstance(exc, _TRANSIENT)


class PubSubBroker:
    """The ``Broker`` protocol on Pub/Sub; see the module docstring."""

    def __init__(self, settings: MessagingSettings, *, create_missing: bool | None = None) -> None:
        if not settings.pubsub_project_id:
            raise BrokerUnavailable(
                "PUBSUB_PROJECT_ID is not set: the pubsub backend needs a Google Cloud project id "
                "(with the emulator any name works, e.g. PUBSUB_PROJECT_ID=atto-local)"
            )
        self.project = settings.pubsub_project_id
        self.emulator_host = settings.pubsub_emulator_host
        #: Services create missing topics and subscriptions only on the emulator (whose state
        #: lives as long as it does); on real GCP that is ``atto-work pubsub-init``'s job.
        self.create_missing = bool(self.emulator_host) if create_missing is None else create_missing
        self.timeout = settings.pubsub_publish_timeout_seconds
        self.default_outstanding = settings.pubsub_subscriber_max_outstanding_element_count
        self.retry_seconds = (settings.messaging_retry_min_seconds, settings.messaging_retry_max_seconds)
        self.batch_interval = settings.pubsub_batch_interval_seconds
        self._publisher: pubsub_v1.PublisherClient | None = None  # admin calls (topics, ping)
        self._loop_publisher: LoopPublisher | None = None  # publish
        self._subscriber: pubsub_v1.SubscriberClient | None = None  # admin calls (subscriptions)
        self._loop_subscriber: SubscriberAsyncClient | None = None  # consume
        self._subscriptions: set[PubSubSubscription] = set()

    # -- names and clients ---------------------------------------------------------------------

    def topic_path(self, topic: str) -> str:
        return f"projects/{self.project}/topics/{topic}"

    def subscription_path(self, subscription: str) -> str:
        return f"projects/{self.project}/subscriptions/{subscription}"

    def _client_kwargs(self, transport_class: Any, channel: Any = grpc.insecure_channel) -> dict[str, Any]:
        if not self.emulator_host:
            return {}
        # An insecure channel to the emulator, without relying on the process environment.
        return {"transport": transport_class(channel=channel(self.emulator_host),
                                             credentials=AnonymousCredentials())}

    @property
    def publisher(self) -> pubsub_v1.PublisherClient:
        if self._publisher is None:
            self._publisher = pubsub_v1.PublisherClient(**self._client_kwargs(PublisherGrpcTransport))
        return self._publisher

    @property
    def loop_publisher(self) -> LoopPublisher:
        """Made on the event loop that publishes (an asyncio gRPC channel belongs to one loop)."""
        if self._loop_publisher is None:
            client = PublisherAsyncClient(
                **self._client_kwargs(PublisherGrpcAsyncIOTransport, grpc.aio.insecure_channel))
            self._loop_publisher = LoopPublisher(client, self._async_retry, self.timeout,
                                                 interval=self.batch_interval)
        return self._loop_publisher

    @property
    def subscriber(self) -> pubsub_v1.SubscriberClient:
        if self._subscriber is None:
            self._subscriber = pubsub_v1.SubscriberClient(**self._client_kwargs(SubscriberGrpcTransport))
        return self._subscriber

    @property
    def loop_subscriber(self) -> SubscriberAsyncClient:
        """Made on the event loop that consumes, like ``loop_publisher``."""
        if self._loop_subscriber is None:
            self._loop_subscriber = SubscriberAsyncClient(
                **self._client_kwargs(SubscriberGrpcAsyncIOTransport, grpc.aio.insecure_channel))
        return self._loop_subscriber

    def _retry(self) -> Retry:
        return Retry(predicate=_transient, initial=0.1, maximum=1.0, timeout=self.timeout)

    def _async_retry(self) -> AsyncRetry:
        return AsyncRetry(predicate=_transient, initial=0.1, maximum=1.0, timeout=self.timeout)

    # -- the Broker protocol -------------------------------------------------------------------

    async def start(self) -> None:
        _ = self.publisher, self.subscriber, self.loop_publisher, self.loop_subscriber

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            await subscription.stop()
        publisher, self._publisher = self._publisher, None
        subscriber, self._subscriber = self._subscriber, None
        loop_publisher, self._loop_publisher = self._loop_publisher, None
        loop_subscriber, self._loop_subscriber = self._loop_subscriber, None
        if loop_publisher is not None:
            await loop_publisher.close()  # sends what is pending, waits for requests in flight
        if loop_subscriber is not None:
            await loop_subscriber.transport.close()
        if publisher is not None:
            await asyncio.to_thread(publisher.stop)
        if subscriber is not None:
            subscriber.close()

    async def declare(self, topic: str, subscription: str | None = None) -> None:
        if not self.create_missing:
            log.debug("not creating %s/%s: expected to exist (atto-work pubsub-init)", topic, subscription)
            return
        await self.ensure(topic, subscription)

    async def ensure(self, topic: str, subscription: str | None = None,
                     fields: dict[str, Any] | None = None) -> list[str]:
        """Create ``topic`` (and ``subscription``, with ``fields`` of a Subscription besides its
        topic and ack deadline) when missing; say for each whether it was created."""
        return await asyncio.to_thread(self._ensure, topic, subscription, fields or {})

    def _ensure(self, topic: str, subscription: str | None, fields: dict[str, Any]) -> list[str]:
        done = []
        topic_path = self.topic_path(topic)
        try:
            self.publisher.create_topic(name=topic_path, retry=self._retry(), timeout=self.timeout)
            done.append(f"created topic {topic_path}")
        except gexc.AlreadyExists:
            done.append(f"found topic {topic_path}")
        except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
            raise BrokerUnavailable(f"cannot create topic {topic_path}: {exc}") from exc
        if subscription is not None:
            done.append(self._create_subscription(topic_path, subscription, fields))
        return done

    def _create_subscription(self, topic_path: str, subscription: str, fields: dict[str, Any]) -> str:
        path = self.subscription_path(subscription)
        try:
            self.subscriber.create_subscription(
                request={"name": path, "topic": topic_path, "ack_deadline_seconds": ACK_DEADLINE_SECONDS,
                         **fields},
                retry=self._retry(), timeout=self.timeout,
            )
            return f"created subscription {path} on {topic_path}"
        except gexc.AlreadyExists:
            return f"found subscription {path}"
        except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
            raise BrokerUnavailable(f"cannot create subscription {path}: {exc}") from exc

    async def publish(self, topic: str, data: bytes, attributes: dict[str, str] | None = None) -> str:
        path = self.topic_path(topic)
        try:
            # Give up a little after the retry deadline, should the RPC itself hang.
            return await asyncio.wait_for(self.loop_publisher.publish(path, bytes(data), attributes),
                                          self.timeout + 1.0)
        except TimeoutError:
            raise BrokerUnavailable(f"publishing to {path}: no answer within {self.timeout:g} s") from None
        except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
            raise BrokerUnavailable(f"publishing to {path}: {exc}") from exc

    async def subscribe(
        self, subscription: str, handler: Handler, *, max_outstanding: int | None = None
    ) -> PubSubSubscription:
        return await self._consume(subscription, handler, max_outstanding)

    async def _consume(self, subscription: str, handler: Handler, max_outstanding: int | None,
                       fields: dict[str, Any] | None = None) -> PubSubSubscription:
        """Consume ``subscription``; where the broker creates what is missing, a consumer that finds
        it gone (a restarted emulator) makes it again on its topic, with ``fields``."""
        path = self.subscription_path(subscription)
        topic = await self._check_subscription(path)
        recreate = None
        if self.create_missing and topic:
            topic_name = topic.rsplit("/", 1)[-1]

            async def recreate() -> list[str]:
                return await self.ensure(topic_name, subscription, fields)

        consumer = PubSubSubscription(
            self.loop_subscriber, path, handler,
            max_outstanding=max_outstanding or self.default_outstanding or DEFAULT_OUTSTANDING,
            retry_seconds=self.retry_seconds, timeout=self.timeout, batch_interval=self.batch_interval,
            on_stopped=self._subscriptions.discard, recreate=recreate)
        self._subscriptions.add(consumer)
        return consumer

    async def fanout(self, topic: str, handler: Handler) -> OwnSubscription:
        """A subscription of this consumer's own on ``topic``: a unique name, made now whatever
        ``create_missing`` says, deleted when the consumer stops; should the process die first,
        Pub/Sub deletes it after ``FANOUT_EXPIRY_SECONDS`` without a consumer."""
        if self.create_missing:
            await self.ensure(topic)
        name = f"{topic}-{uuid.uuid4().hex[:16]}"
        fields = {"expiration_policy": {"ttl": {"seconds": FANOUT_EXPIRY_SECONDS}},
                  "message_retention_duration": {"seconds": FANOUT_RETENTION_SECONDS}}
        await asyncio.to_thread(self._create_subscription, self.topic_path(topic), name, fields)
        path = self.subscription_path(name)

        async def remove() -> None:
            try:
                await asyncio.to_thread(self.subscriber.delete_subscription, subscription=path,
                                        timeout=self.timeout)
            except Exception as exc:  # it expires by itself
                log.warning("could not delete subscription %s: %s", path, exc)

        return OwnSubscription(await self._consume(name, handler, None, fields), remove)

    async def _check_subscription(self, path: str) -> str | None:
        """Fail now, not in the consumer's stream, when the subscription does not exist; return
        its topic's path (None when not allowed to look)."""
        try:
            found = await asyncio.to_thread(self.subscriber.get_subscription, subscription=path,
                                            retry=self._retry(), timeout=self.timeout)
        except (gexc.PermissionDenied, gexc.Forbidden):
            return None  # a subscriber role may consume without being allowed to look: let the stream tell
        except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
            raise BrokerUnavailable(f"subscription {path}: {exc}") from exc
        return found.topic

    async def ping(self) -> bool:
        """The server answers a cheap call within 2 s, and no subscription's stream is down."""
        if any(s.failed for s in self._subscriptions):
            return False

        def call() -> None:
            request = {"project": f"projects/{self.project}", "page_size": 1}
            pages = self.publisher.list_topics(request=request, retry=None, timeout=2.0)
            next(iter(pages.pages), None)

        try:
            await asyncio.wait_for(asyncio.to_thread(call), 3.0)
        except _ANSWERED:
            return True
        except (TimeoutError, gexc.GoogleAPICallError, gexc.RetryError):
            return False
        return True
