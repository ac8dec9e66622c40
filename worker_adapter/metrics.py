"""The adapter's Prometheus metrics, in a registry of its own (served by its ``/metrics``), so that
several apps in one process (tests, ``atto-work up``) never share or collide on series."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class AdapterMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.messages = Counter(
            "adapter_messages_total",
            "WorkRequested messages by outcome: solved, malformed (acked), cancelled (a WorkCancelled "
            "came for it: dropped or its search stopped, acked), expired (taken past its deadline, "
            "acked), worker_failed, invalid_work, publish_failed, released (waited too long for a "
            "worker-server slot; the last four nacked)",
            ["outcome"], registry=r,
        )
        self.in_flight = Gauge("adapter_in_flight", "Requests being solved now", registry=r)
        self.capacity = Gauge("adapter_max_outstanding", "Requests the adapter holds at once (read-ahead "
                              "included)", registry=r)
        self.solve_seconds = Histogram(
            "adapter_worker_seconds", "Duration of one worker-server call that returned a work",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=r,
        )

    def count(self, outcome: str) -> float:
        """How many messages had ``outcome`` so far."""
        return self.registry.get_sample_value("adapter_messages_total", {"outcome": outcome}) or 0.0
