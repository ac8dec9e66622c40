"""Memory per pending result: N requests whose callback receiver is down, in one coordinator.

    python -m bench.callback_memory --quick      # 200 requests: validates the script
    python -m bench.callback_memory -n 2000      # the figure in docs/operations.md

``atto-work up``'s stack runs in this process (coordinator, adapter and worker server on the
in-process broker and work-state store; the worker server on its default device, PoCL on a CPU),
each request a LOCAL work of its own. The callback URL names a loopback port nothing listens on, so
every callback fails and its result waits for a retry (the first retry is set past the end of
the run, so each result is held exactly as a down receiver leaves it). ``tracemalloc`` compares
the traced memory after every callback has failed once with the memory before the first request;
the difference over N is the cost of one pending request: its store record and cached work, its
WorkGenerated waiting in the queue, its backlog entry. Then the bound: one more request to that
origin, past ``CALLBACK_MAX_PENDING_PER_ORIGIN``, answers 503.
Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import time
import tracemalloc

import httpx
from prometheus_client import CollectorRegistry

from atto_work.embedded import create_stack_app
from coordinator import CoordinatorSettings
from harness.emulator import free_port
from harness.polling import until
from messaging import create_broker
from solver.api import create_app as create_worker_app
from solver.settings import SolverSettings
from worker_adapter import AdapterSettings


async def failed(results: CollectorRegistry, count: int) -> None:
    """Wait until ``count`` callbacks have failed (a metric: no event to wait on)."""
    await until(lambda: (results.get_sample_value("coordinator_results_total",
                                                  {"outcome": "retried"}) or 0) >= count,
                within=600, what=f"{count} failed callbacks")


async def run(count: int, top: int) -> dict[str, object]:
    down = f"http://127.0.0.1:{free_port()}/cb"  # nothing listens: every callback fails
    settings = CoordinatorSettings(
        messaging="memory", callback_allowed_networks="127.0.0.0/8",
        callback_max_pending_per_origin=count + 1,  # the warm-up and the N measured
        messaging_retry_min_seconds=3600,
        messaging_retry_max_seconds=3600)
    worker = create_worker_app(SolverSettings())
    app = create_stack_app(settings, AdapterSettings(messaging="memory"), worker,
                           create_broker(settings.broker_settings()))
    results = app.router.default.state.metrics.registry  # the coordinator's
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://up", timeout=60) as client:
            body = {"network": "LOCAL", "timestamp": "2026-01-01T00:00:00Z", "callback": down}
            await client.post(f"/works/{'00' * 32}", json=body)  # warm every path once
            await failed(results, 1)
            gc.collect()
            first = tracemalloc.take_snapshot() if top else None
            before = tracemalloc.get_traced_memory()[0]
            started = time.monotonic()
            for n in range(1, count + 1):
                answer = await client.post(f"/works/{n:064X}", json=body)
                assert answer.status_code == 202, answer.text
            await failed(results, count + 1)
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
            if first is not None:
                for line in tracemalloc.take_snapshot().compare_to(first, "lineno")[:top]:
                    print(line)
            refused = await client.post(f"/works/{count + 1:064X}", json=body)  # past the bound
            return {
                "requests": count,
                "pending_bytes": after - before,
                "bytes_per_pending_request": round((after - before) / count),
                "past_the_bound": refused.status_code,
                "retry_after": refused.headers.get("Retry-After"),
                "seconds": round(time.monotonic() - started, 1),
            }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--requests", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="200 requests")
    parser.add_argument("--top", type=int, default=0, help="print the K sites that grew most")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # a warning per failed callback is not the point here
    tracemalloc.start()
    print(json.dumps(asyncio.run(run(200 if args.quick else args.requests, args.top)), indent=2))


if __name__ == "__main__":
    main()
