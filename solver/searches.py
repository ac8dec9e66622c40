"""Requests for the same search share it: a retried request joins the running search.

A caller that retries while its first request still waits (the Atto wallet-server retries every
10 s) would otherwise start a second search for the same hash on another device, or queue behind
its own first one. Requests join when they ask for the same target, rule and threshold; the search
keeps the deadline of the request that started it. It stops (within one launch) when its last
waiting request goes away, and then the next request for it starts afresh.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from solver.jobs import Rule, Solution
from solver.metrics import SolverMetrics
from solver.pool import DevicePool

SearchKey = tuple[bytes, Rule, int]


@dataclass(eq=False)
class _Shared:
    task: asyncio.Task[Solution]
    waiters: int = 0


class SharedSearches:
    def __init__(self, pool: DevicePool, metrics: SolverMetrics) -> None:
        self.pool = pool
        self._running: dict[SearchKey, _Shared] = {}
        self._joined = metrics.joined

    async def solve(self, target: bytes, threshold: int, time_limit: float, rule: Rule) -> Solution:
        """``DevicePool.solve``, joining a running search for the same target, rule and threshold.
        Raises what ``DevicePool.solve`` raises, to every request that waits for the search."""
        key = (target, rule, threshold)
        shared = self._running.get(key)
        if shared is None:
            task = asyncio.ensure_future(self.pool.solve(target, threshold, time_limit, rule=rule))
            shared = self._running[key] = _Shared(task)
            task.add_done_callback(lambda _: self._forget(key, shared))
        else:
            self._joined.inc()
        shared.waiters += 1
        try:
            # A request that goes away must not stop the search for the others.
            return await asyncio.shield(shared.task)
        finally:
            shared.waiters -= 1
            if not shared.waiters and not shared.task.done():
                self._forget(key, shared)
                shared.task.cancel()

    def _forget(self, key: SearchKey, shared: _Shared) -> None:
        if self._running.get(key) is shared:
            del self._running[key]
