"""The coordinator's Prometheus metrics (process-wide, so ``atto-work up`` shows them beside the others)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "coordinator_requests_total",
    "POST /works/{hash} answers by outcome (accepted, rejected, unavailable)",
    ["outcome"],
)
RESULTS = Counter(
    "coordinator_results_total",
    "WorkGenerated messages by outcome: delivered, retried (callback failed, nacked), "
    "dropped (callback failed past CALLBACK_MAX_AGE), refused (callback address not allowed), "
    "invalid_work (re-queued), malformed",
    ["outcome"],
)
CALLBACK_SECONDS = Histogram(
    "coordinator_callback_seconds",
    "Duration of one callback POST, successful or not",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RESULT_AGE_SECONDS = Histogram(
    "coordinator_result_age_seconds",
    "Age of a result (since its WorkGenerated was published) when its callback succeeded",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120, 600, 3600),
)
WORK_REQUESTS = Counter(
    "coordinator_work_requests_total",
    "Work requests by what became of them: queued (a search started), joined (a pending search), "
    "cached (answered from the cache), requeued (a search published again for waiting requests), "
    "cancelled, expired",
    ["outcome"],
)
