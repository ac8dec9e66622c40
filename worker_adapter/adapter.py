"""The worker adapter's whole life, in the order it runs.

1. start: open the worker-server client, learn how many works the worker server runs at once (we
   hold twice that: the seed's precise load control, plus one read-ahead per device), create what
   is missing, subscribe;
2. handle one WorkRequested: POST it to the worker server, check the answer with ``work``, publish
   WorkGenerated, and only then return so the broker acks it. Any failure raises and the broker
   nacks, so the request comes back later (at-least-once). A malformed message is acked, logged and
   counted: redelivering it cannot help;
3. stop (SIGTERM, via the app's lifespan): take no new requests, let the running ones finish within
   the grace period, nack the rest (the subscription does that), close the client.
"""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
from prometheus_client import Counter, Gauge, Histogram

from messaging import Broker, Message, Retry, Subscription, WorkGenerated, WorkRequested
from messaging.messages import decode
from work import WorkError, difficulty, format_work, parse_work
from worker_adapter.settings import AdapterSettings

log = logging.getLogger(__name__)

MESSAGES = Counter(
    "adapter_messages_total",
    "WorkRequested messages by outcome: solved, malformed (acked), worker_failed, invalid_work, "
    "publish_failed (the last three nacked)",
    ["outcome"],
)
IN_FLIGHT = Gauge("adapter_in_flight", "Requests being solved now")
CAPACITY = Gauge("adapter_max_outstanding", "Requests the adapter holds at once")
SOLVE_SECONDS = Histogram(
    "adapter_worker_seconds", "Duration of one worker-server call that returned a work",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)

#: How long start-up waits for the worker server to say how much it can run at once.
CAPACITY_DISCOVERY_SECONDS = 30.0
#: Requests held per work the worker server runs at once: one running and one waiting in the worker
#: server's queue, so a device never idles while we publish a result and fetch the next request.
#: The device load stays exactly its capacity; only one extra message per device is leased, and
#: the rest of the backlog stays in the queue for other adapters.
READ_AHEAD = 2


class WorkerFailed(Retry):
    """The worker server did not return a usable work (unreachable, timeout, error, bad body)."""


class InvalidWork(Retry):
    """The worker server returned a work that does not meet the threshold."""


class Adapter:
    def __init__(
        self,
        settings: AdapterSettings,
        broker: Broker,
        worker_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.broker = broker
        self.worker = httpx.AsyncClient(
            base_url=settings.worker_url,
            transport=worker_transport,
            timeout=httpx.Timeout(settings.worker_timeout_seconds, connect=5.0),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
            trust_env=False,
        )
        self.subscription: Subscription | None = None
        self.max_outstanding = 0
        self.running = 0

    # 1. start ---------------------------------------------------------------------------------

    async def start(self) -> None:
        s = self.settings
        self.max_outstanding = (
            s.pubsub_subscriber_max_outstanding_element_count
            or READ_AHEAD * await self._worker_capacity()
        )
        CAPACITY.set(self.max_outstanding)
        await self.broker.declare(s.pubsub_work_requested_topic, s.pubsub_work_requested_subscription)
        await self.broker.declare(s.pubsub_work_generated_topic)
        self.subscription = await self.broker.subscribe(
            s.pubsub_work_requested_subscription, self.handle, max_outstanding=self.max_outstanding
        )
        log.info("adapter started: holding at most %d requests", self.max_outstanding,
                 extra={"worker_url": s.worker_url})

    async def _worker_capacity(self) -> int:
        """What the worker server runs at once, from its ``/ready`` answer (1 if it will not say)."""
        deadline = time.monotonic() + CAPACITY_DISCOVERY_SECONDS
        while True:
            try:
                response = await self.worker.get("/ready", timeout=5.0)
                found = capacity_from_ready(response.json())
                if found:
                    return found
            except (httpx.HTTPError, ValueError):
                pass
            if time.monotonic() > deadline:
                log.warning("worker server did not say its capacity; holding 1 request at a time")
                return 1
            await asyncio.sleep(0.5)

    # 2. handle one request --------------------------------------------------------------------

    async def handle(self, message: Message) -> None:
        request = decode(WorkRequested, message)
        if request is None:
            MESSAGES.labels("malformed").inc()
            return
        context = {"hash": request.hash, "message_id": message.message_id}
        IN_FLIGHT.inc()
        self.running += 1
        try:
            work = await self._solve(request, context)
        finally:
            IN_FLIGHT.dec()
            self.running -= 1
        try:
            await self.broker.publish(
                self.settings.pubsub_work_generated_topic, WorkGenerated.answering(request, work).to_json()
            )
        except Exception:
            MESSAGES.labels("publish_failed").inc()
            raise
        MESSAGES.labels("solved").inc()
        log.info("work generated", extra={**context, "work": format_work(work)})

    async def _solve(self, request: WorkRequested, context: dict[str, str]) -> bytes:
        started = time.perf_counter()
        try:
            work = await self._call_worker(request)
        except WorkerFailed as exc:
            MESSAGES.labels("worker_failed").inc()
            log.warning("worker server failed, request will come back: %s", exc, extra=context)
            raise
        SOLVE_SECONDS.observe(time.perf_counter() - started)
        value = difficulty(work, request.target)
        if value > request.threshold:
            MESSAGES.labels("invalid_work").inc()
            log.error("worker server returned invalid work %s (difficulty %d > threshold %d)",
                      format_work(work), value, request.threshold, extra=context)
            raise InvalidWork(format_work(work))
        return work

    async def _call_worker(self, request: WorkRequested) -> bytes:
        try:
            response = await self.worker.post(
                f"/works/{request.hash}", json={"threshold": str(request.threshold)},
                headers=self.worker_headers(),
            )
        except httpx.HTTPError as exc:
            raise WorkerFailed(f"{type(exc).__name__}: {exc}") from None
        if response.status_code != 200:
            raise WorkerFailed(f"answered {response.status_code} {response.text[:200]!r}")
        try:
            return parse_work(response.json()["work"])
        except (ValueError, KeyError, TypeError, WorkError) as exc:
            raise WorkerFailed(f"unusable answer {response.text[:200]!r}: {exc}") from None

    def worker_headers(self) -> dict[str, str]:
        """Extra headers of every worker-server call: the SOLVER_TOKEN, when set."""
        token = self.settings.solver_token
        return {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}

    # 3. stop ----------------------------------------------------------------------------------

    async def stop(self) -> None:
        """Take no new requests; running ones get the grace period, the rest are nacked."""
        if self.subscription is not None:
            log.info("adapter stopping: %d requests running, %.0f s grace",
                     self.running, self.settings.adapter_shutdown_grace_seconds)
            await self.subscription.stop(grace=self.settings.adapter_shutdown_grace_seconds)
            self.subscription = None
        await self.worker.aclose()

    async def worker_ready(self) -> bool:
        try:
            response = await self.worker.get("/health", timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200


def capacity_from_ready(body: object) -> int | None:
    """The number of works a worker server runs at once, read from its ``/ready`` body.

    Looks for an integer ``capacity`` (or ``concurrency``), at the top or under ``checks``, else
    takes ``devices`` (a count, as ``atto-work solver`` answers, or a list).
    """
    if not isinstance(body, dict):
        return None
    for where in (body, body.get("checks")):
        if not isinstance(where, dict):
            continue
        for key in ("capacity", "concurrency"):
            value = where.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
        devices = where.get("devices")  # the worker server runs one work per device
        if isinstance(devices, int) and not isinstance(devices, bool) and devices > 0:
            return devices
        if isinstance(devices, list) and devices:
            return len(devices)
    return None
