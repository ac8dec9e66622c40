"""The worker server's Prometheus metrics, in a registry of their own.

Each app gets its own ``CollectorRegistry`` so that several apps in one process (tests, ``atto-work up``)
never collide on metric names, and ``/metrics`` shows only this server's figures.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Solve times span milliseconds (LOCAL on a GPU) to minutes (LIVE on a CPU).
_SOLVE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class SolverMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.hashes = Counter(
            "solver_hashes", "Nonces tried (every nonce of a launch, up to the hit in the last one)",
            ["device"], registry=r,
        )
        self.hash_rate = Gauge(
            "solver_hash_rate", "Hashes per second of the device's recent full launches", ["device"],
            registry=r,
        )
        self.busy = Gauge("solver_device_busy", "1 while the device runs a job", ["device"], registry=r)
        self.solve_seconds = Histogram(
            "solver_solve_seconds", "Time from request to work found (queue wait included)",
            buckets=_SOLVE_BUCKETS, registry=r,
        )
        self.queue_depth = Gauge("solver_queue_depth", "Jobs waiting for a free device", registry=r)
        self.searches = Counter(
            "solver_searches", "Finished searches by outcome (solved, cancelled, timeout, refused, failed)",
            ["outcome"], registry=r,
        )
        self.joined = Counter(
            "solver_joined", "Requests that joined a running search for the same hash, rule and threshold",
            registry=r,
        )
        self.errors = Counter(
            "solver_errors", "Errors by kind (device, queue_full, timeout)", ["kind"],
            registry=r,
        )
        self.invalid_hits = Counter(
            "solver_invalid_hits", "Hits a device reported that failed re-validation", ["device"],
            registry=r,
        )

    def value(self, name: str, **labels: str) -> float:
        """A sample's current value (0 when absent): for tests and the bench."""
        found = self.registry.get_sample_value(name, labels)
        return found if found is not None else 0.0
