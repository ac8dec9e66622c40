"""The coordinator's Prometheus metrics, in a registry of their own.

Each app gets its own ``CollectorRegistry`` (served by its ``/metrics``), so several apps in one
process (tests, ``atto-work up``) never share or collide on figures, and tests read the metrics of
the app they run rather than process-wide state.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class CoordinatorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "coordinator_requests_total",
            "POST /works/{hash} answers by outcome (accepted, rejected, unavailable)",
            ["outcome"], registry=r,
        )
        self.results = Counter(
            "coordinator_results_total",
            "Callbacks of WorkGenerated messages by outcome: delivered, retried (callback failed, nacked), "
            "deferred (its origin had its share of callbacks in progress: not attempted, nacked), "
            "dropped (callback failed past CALLBACK_MAX_AGE), refused (callback address not allowed), "
            "invalid_work (re-queued), malformed",
            ["outcome"], registry=r,
        )
        self.callback_seconds = Histogram(
            "coordinator_callback_seconds",
            "Duration of one callback POST, successful or not",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=r,
        )
        self.result_age_seconds = Histogram(
            "coordinator_result_age_seconds",
            "Age of a result (since its WorkGenerated was published) when its callback succeeded",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120, 600, 3600), registry=r,
        )
        self.work_requests = Counter(
            "coordinator_work_requests_total",
            "Work requests by what became of them: queued (a search started), joined (a pending search), "
            "cached (answered from the cache), requeued (a search published again for waiting requests), "
            "cancelled, expired",
            ["outcome"], registry=r,
        )

