"""The floor under the Pub/Sub pipeline: the bare google-cloud-pubsub client against the emulator, with
none of our code, so the pipeline's figures have a peer to be compared with.

    python -m bench.pubsub_floor --quick       # seconds; validates the script
    python -m bench.pubsub_floor -n 2000       # fuller figures
    python -m bench.pubsub_floor --consume     # CPU per message consumed: ours against the library's

For each client setting (``SETUPS``), on a fresh topic and subscription of one emulator:
- hop latency: one message at a time, ``publish()`` -> the subscriber's callback (p50, p99), sent
  back to back (each as soon as the previous arrived) and at random times (after a pause of 0-100 ms);
  and the publish round trip alone (``publish()`` -> its future resolved);
- throughput: N messages published at once; messages/s = N / (last callback - first publish).
The callback acks at once, on the library's thread. A pipeline request crosses two such hops
(coordinator -> adapter, adapter -> coordinator). Nothing leaves 127.0.0.1.

``--consume`` measures something else: the CPU per message of ``messaging``'s consumer against the
library's threaded subscriber it replaced, draining a backlog in interleaved rounds (``bench.rounds``),
at the adapter's outstanding bound (2) and the coordinator's (1,000).

Why two latencies: the emulator (0.8.x) pushes to each streaming pull from a loop that sleeps 50 ms
between looks at the backlog, so a message waits 0-50 ms for the next look. Back to back, every
message is published just after a look and waits the whole 50 ms; at random times it waits 25 ms on
average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import grpc
from google.auth.credentials import AnonymousCredentials
from google.cloud import pubsub_v1
from google.cloud.pubsub_v1.subscriber.scheduler import ThreadScheduler
from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

from bench.rounds import describe, interleave
from harness.emulator import PROJECT, PubSubEmulator
from messaging import Message, MessagingSettings
from messaging.pubsub import PubSubBroker


@dataclass
class Setup:
    name: str
    batch: pubsub_v1.types.BatchSettings = field(default_factory=pubsub_v1.types.BatchSettings)
    flow: pubsub_v1.types.FlowControl = field(default_factory=pubsub_v1.types.FlowControl)
    threads: int | None = None  # the subscriber's callback pool (library default: 10)
    hold: float = 0.0  # seconds the callback holds a message before acking it (a solve)


SETUPS = [
    Setup("library defaults (batch max_latency 10 ms)"),
    Setup("batch max_latency 5 ms (ours before)", pubsub_v1.types.BatchSettings(max_latency=0.005)),
    Setup("batch max_latency 1 ms", pubsub_v1.types.BatchSettings(max_latency=0.001)),
    Setup("batch max_latency 0", pubsub_v1.types.BatchSettings(max_latency=0.0, max_messages=1)),
    Setup("max_latency 1 ms, flow 1000, 2 threads", pubsub_v1.types.BatchSettings(max_latency=0.001),
          pubsub_v1.types.FlowControl(max_messages=1000), threads=2),
    # As the adapter consumes: a few messages outstanding, each held ~3 ms (a LOCAL solve) before its ack.
    *(Setup(f"max_latency 1 ms, flow {n}, 3 ms hold", pubsub_v1.types.BatchSettings(max_latency=0.001),
            pubsub_v1.types.FlowControl(max_messages=n), threads=max(10, n), hold=0.003)
      for n in (4, 8, 32)),
]


@dataclass
class Figures:
    hop: list[float] = field(default_factory=list)
    hop_random: list[float] = field(default_factory=list)
    publish_rtt: list[float] = field(default_factory=list)
    per_second: float = 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def clients(host: str, batch: pubsub_v1.types.BatchSettings
            ) -> tuple[pubsub_v1.PublisherClient, pubsub_v1.SubscriberClient]:
    credentials = AnonymousCredentials()
    publisher = pubsub_v1.PublisherClient(batch_settings=batch, transport=PublisherGrpcTransport(
        channel=grpc.insecure_channel(host), credentials=credentials))
    subscriber = pubsub_v1.SubscriberClient(transport=SubscriberGrpcTransport(
        channel=grpc.insecure_channel(host), credentials=credentials))
    return publisher, subscriber


class Receiver:
    """Counts callbacks and wakes whoever waits for a count."""

    def __init__(self, hold: float = 0.0) -> None:
        self.hold = hold
        self.count = 0
        self.last = 0.0
        self.cond = threading.Condition()

    def __call__(self, message: pubsub_v1.subscriber.message.Message) -> None:
        if self.hold:
            time.sleep(self.hold)
        message.ack()
        with self.cond:
            self.count += 1
            self.last = time.perf_counter()
            self.cond.notify_all()

    def wait(self, count: int, timeout: float = 120) -> float:
        with self.cond:
            if not self.cond.wait_for(lambda: self.count >= count, timeout):
                raise SystemExit(f"only {self.count} of {count} messages arrived")
            return self.last


def measure(host: str, setup: Setup, count: int, sequential: int) -> Figures:
    publisher, subscriber = clients(host, setup.batch)
    suffix = uuid.uuid4().hex[:8]
    topic = publisher.topic_path(PROJECT, f"floor-{suffix}")
    path = subscriber.subscription_path(PROJECT, f"floor-{suffix}")
    publisher.create_topic(name=topic)
    subscriber.create_subscription(request={"name": path, "topic": topic, "ack_deadline_seconds": 60})
    receiver = Receiver(setup.hold)
    scheduler = ThreadScheduler(ThreadPoolExecutor(setup.threads)) if setup.threads else None
    stream = subscriber.subscribe(path, receiver, flow_control=setup.flow, scheduler=scheduler)
    figures = Figures()
    try:
        publisher.publish(topic, b"warm-up").result()
        receiver.wait(1)
        for i in range(sequential):
            started = time.perf_counter()
            future = publisher.publish(topic, b"%d" % i)
            future.result()
            figures.publish_rtt.append(time.perf_counter() - started)
            figures.hop.append(receiver.wait(i + 2) - started)
        for _ in range(sequential):
            time.sleep(random.uniform(0, 0.1))
            seen = receiver.count
            started = time.perf_counter()
            publisher.publish(topic, b"r")
            figures.hop_random.append(receiver.wait(seen + 1) - started)
        seen = receiver.count
        started = time.perf_counter()
        futures = [publisher.publish(topic, b"x" * 200) for _ in range(count)]
        figures.per_second = count / (receiver.wait(seen + count) - started)
        for future in futures:
            future.result()
    finally:
        stream.cancel()
        try:
            stream.result(timeout=10)
        except Exception:  # noqa: BLE001 - cancelled is the expected end
            pass
        subscriber.delete_subscription(subscription=path)
        publisher.delete_topic(topic=topic)
        publisher.stop()
        subscriber.close()
    return figures


def table(rows: list[tuple[str, Figures]]) -> str:
    lines = ["| client setting | hop p50, back to back (ms) | hop p50 / p99, random times (ms) "
             "| publish RTT p50 (ms) | messages/s |",
             "|---|---|---|---|---|"]
    for name, f in rows:
        ms = {key: percentile(values, q) * 1000 for key, values, q in
              (("sync", f.hop, 0.5), ("p50", f.hop_random, 0.5), ("p99", f.hop_random, 0.99))}
        lines.append(f"| {name} | {ms['sync']:.1f} | {ms['p50']:.1f} / {ms['p99']:.1f}"
                     f" | {percentile(f.publish_rtt, 0.5) * 1000:.1f} | {f.per_second:,.0f} |")
    return "\n".join(lines)


def run(host: str, count: int, sequential: int, pick: Callable[[Setup], bool] = lambda s: True) -> str:
    return table([(s.name, measure(host, s, count, sequential)) for s in SETUPS if pick(s)])


# -- consuming: CPU per message, our event-loop consumer against the library's threaded one ----------

#: Outstanding bounds compared: the adapter's (2) and the coordinator's (the library default, 1000).
CONSUME_OUTSTANDING = (2, 1000)


async def _backlog(broker: PubSubBroker, count: int) -> str:
    """A fresh subscription holding ``count`` messages of 200 bytes; returns its name."""
    name = f"consume-{uuid.uuid4().hex[:8]}"
    await broker.ensure(name, name)
    for start in range(0, count, 500):
        batch = range(start, min(count, start + 500))
        await asyncio.gather(*(broker.publish(name, b"x" * 200) for _ in batch))
    return name


async def _drain_ours(broker: PubSubBroker, name: str, count: int, outstanding: int) -> None:
    """``messaging``'s consumer (``PubSubSubscription``), an empty handler."""
    done = asyncio.Event()
    seen = 0

    async def handler(message: Message) -> None:
        nonlocal seen
        seen += 1
        if seen == count:
            done.set()

    subscription = await broker.subscribe(name, handler, max_outstanding=outstanding)
    await asyncio.wait_for(done.wait(), 300)
    await subscription.stop()


async def _drain_library(broker: PubSubBroker, name: str, count: int, outstanding: int) -> None:
    """The library's threaded streaming pull, bridged into the loop as ``messaging`` consumed before
    this consumer (commit c9fa693): callback -> ``call_soon_threadsafe`` -> a task per message ->
    ``message.ack()`` once the (empty) handler returned."""
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    seen = 0

    async def handle(message: pubsub_v1.subscriber.message.Message) -> None:
        nonlocal seen
        Message(data=message.data, message_id=message.message_id, publish_time=message.publish_time,
                attributes=dict(message.attributes))
        message.ack()
        seen += 1
        if seen == count:
            done.set()

    def receive(message: pubsub_v1.subscriber.message.Message) -> None:
        loop.call_soon_threadsafe(lambda: loop.create_task(handle(message)))

    flow = pubsub_v1.types.FlowControl(max_duration_per_lease_extension=10, max_messages=outstanding)
    future = broker.subscriber.subscribe(broker.subscription_path(name), receive, flow_control=flow)
    await asyncio.wait_for(done.wait(), 300)
    future.cancel()
    await asyncio.to_thread(future.result)


def consume_round(host: str, count: int, outstanding: int, drain) -> tuple[float, float]:  # noqa: ANN001
    """One drain of a ``count``-message backlog: (µs of this process's CPU per message, messages/s).
    Publishing the backlog is not counted; the emulator's CPU is another process's."""
    import uvloop  # the services' loop (uvicorn[standard])

    async def run() -> tuple[float, float]:
        broker = PubSubBroker(MessagingSettings(messaging="pubsub", pubsub_project_id=PROJECT,
                                                pubsub_emulator_host=host))
        await broker.start()
        try:
            name = await _backlog(broker, count)
            cpu, wall = time.process_time(), time.perf_counter()
            await drain(broker, name, count, outstanding)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            await asyncio.to_thread(broker.subscriber.delete_subscription,
                                    subscription=broker.subscription_path(name))
            return cpu / count * 1e6, count / wall
        finally:
            await broker.close()

    return uvloop.run(run())


def _side(host: str, count: int, outstanding: int, drain, rates: list[float]) -> Callable[[], float]:  # noqa: ANN001
    """One side of an interleaved comparison: messages per CPU second (higher is better, as
    ``interleave`` wants); each round's messages/s goes to ``rates``."""
    def measure_once() -> float:
        micros, per_second = consume_round(host, count, outstanding, drain)
        rates.append(per_second)
        return 1e6 / micros
    return measure_once


def consume(host: str, count: int, rounds: int) -> dict:
    """Interleaved rounds (``bench.rounds``) of ours and the library's, at each outstanding bound."""
    results = {}
    for outstanding in CONSUME_OUTSTANDING:
        rates: dict[str, list[float]] = {"ours": [], "library": []}
        comparison = interleave(_side(host, count, outstanding, _drain_ours, rates["ours"]),
                                _side(host, count, outstanding, _drain_library, rates["library"]), rounds)
        summary = comparison.summary()
        results[outstanding] = {
            "cpu_us_per_message": {"ours": [1e6 / r for r in comparison.ours],
                                   "library": [1e6 / r for r in comparison.peer]},
            "messages_per_second": rates,
            "cpu_ratio": describe(summary),
        }
    return results


def consume_table(results: dict, count: int) -> str:
    import statistics

    lines = ["| outstanding | µs CPU per message, ours / library (median) | messages/s, ours / library "
             "(median) | library CPU ÷ ours |", "|---|---|---|---|"]
    for outstanding, r in results.items():
        cpu, rate = r["cpu_us_per_message"], r["messages_per_second"]
        lines.append(f"| {outstanding} | {statistics.median(cpu['ours']):.0f} / "
                     f"{statistics.median(cpu['library']):.0f} | {statistics.median(rate['ours']):,.0f} / "
                     f"{statistics.median(rate['library']):,.0f} | {r['cpu_ratio']} |")
    return "\n".join(lines) + f"\n\n(a backlog of {count} messages per round, empty handler)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small N (validation)")
    parser.add_argument("-n", type=int, default=2000, help="messages per throughput run")
    parser.add_argument("--sequential", type=int, default=100, help="messages per latency run")
    parser.add_argument("--emulator", help="host:port of a running emulator (default: start one)")
    parser.add_argument("--consume", action="store_true",
                        help="CPU per message consumed, ours against the library's threaded subscriber")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (--consume)")
    parser.add_argument("--json", help="write the --consume figures here")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.sequential, args.rounds = 300, 30, 2
    if args.consume:
        if args.emulator:
            results = consume(args.emulator, args.n, args.rounds)
        else:
            with PubSubEmulator() as emulator:
                results = consume(emulator.host, args.n, args.rounds)
        print(consume_table(results, args.n))
        if args.json:
            with open(args.json, "w") as file:
                json.dump(results, file, indent=2)
        return 0
    if args.emulator:
        print(run(args.emulator, args.n, args.sequential))
    else:
        with PubSubEmulator() as emulator:
            print(run(emulator.host, args.n, args.sequential))
    print(f"\n(n={args.n}, sequential={args.sequential})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
