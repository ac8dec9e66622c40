"""Book-keeping of a fault run: what was accepted, what came back, and what that adds up to.

A ``Ledger`` posts requests the way a patient client does (a refused connection or a 503 while the
coordinator restarts is retried; only a 202 counts as accepted), remembers each accepted hash with
the threshold the coordinator answered, and reads the callback receiver:

- lost: accepted, and no callback within the settle time;
- invalid delivered: a callback whose work does not meet the accepted threshold, or for a hash
  nobody asked for;
- duplicates: callbacks beyond the first for a hash (delivery is at-least-once: counted, reported).

``REPORT`` collects one line per scenario; the faults conftest prints it at the end of the session.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import httpx

from atto_work.receiver import CallbackReceiver
from work import difficulty, parse_target, parse_work

REPORT: list[dict[str, object]] = []


@dataclass
class Counts:
    scenario: str
    requests: int
    delivered: int
    lost: int
    invalid_delivered: int
    duplicates: int


class Ledger:
    def __init__(self, receiver: CallbackReceiver) -> None:
        self.receiver = receiver
        self.accepted: dict[str, int] = {}  # hash -> threshold
        self.accepted_at: dict[str, float] = {}  # hash -> time.perf_counter() of its 202

    def post(self, coordinator: str, count: int = 1, network: str = "LOCAL",
             within: float = 60.0, callback: str | None = None) -> list[str]:
        """Post ``count`` requests for fresh random hashes; each retried until accepted.
        ``callback``: another URL of the receiver's (default its own ``url``)."""
        hashes = [secrets.token_hex(32).upper() for _ in range(count)]
        for target in hashes:
            self.post_to(coordinator, target, network, within, callback)
        return hashes

    def post_to(self, coordinator: str, target: str, network: str = "LOCAL", within: float = 60.0,
                callback: str | None = None) -> None:
        """Post one request for ``target`` (another caller's, when it was posted before)."""
        with httpx.Client(base_url=coordinator, trust_env=False, timeout=10) as client:
            self.accepted[target] = self._post_one(client, target, network, within,
                                                   callback or self.receiver.url)
        self.accepted_at[target] = time.perf_counter()

    def _post_one(self, client: httpx.Client, target: str, network: str, within: float,
                  callback: str) -> int:
        deadline = time.monotonic() + within
        while True:
            body = {"network": network, "timestamp": datetime.now(UTC).isoformat(),
                    "callback": callback}
            try:
                answer = client.post(f"/works/{target}", json=body)
                if answer.status_code == 202:
                    return int(answer.json()["threshold"])
                assert answer.status_code == 503, f"intake answered {answer.status_code}: {answer.text}"
            except httpx.TransportError:
                pass  # the coordinator is down or restarting: a client tries again
            assert time.monotonic() < deadline, f"no coordinator accepted {target} within {within} s"
            time.sleep(0.2)

    def delays(self) -> list[float]:
        """Seconds from each accepted request's 202 to its first callback, sorted."""
        first: dict[str, float] = {}
        for callback in self.receiver.callbacks:
            first.setdefault(str(callback.body.get("hash")), callback.received_at)
        return sorted(first[h] - self.accepted_at[h] for h in self.accepted_at if h in first)

    def delivered(self) -> set[str]:
        return {str(c.body.get("hash")) for c in self.receiver.callbacks} & set(self.accepted)

    def settle(self, scenario: str, within: float, quiet: float = 2.0) -> Counts:
        """Wait for every callback, then ``quiet`` seconds more for late duplicates; count."""
        self.receiver.wait_for_hashes(self.accepted, within)  # what is missing then is lost
        time.sleep(quiet)
        callbacks = list(self.receiver.callbacks)
        seen = Counter(str(c.body.get("hash")) for c in callbacks)
        invalid = 0
        for callback in callbacks:
            target, work = str(callback.body.get("hash")), str(callback.body.get("work"))
            limit = self.accepted.get(target)
            try:
                ok = limit is not None and difficulty(parse_work(work), parse_target(target)) <= limit
            except ValueError:
                ok = False
            invalid += not ok
        counts = Counts(
            scenario=scenario,
            requests=len(self.accepted),
            delivered=len(set(seen) & set(self.accepted)),
            lost=len(set(self.accepted) - set(seen)),
            invalid_delivered=invalid,
            duplicates=sum(n - 1 for n in seen.values()),
        )
        REPORT.append(asdict(counts))
        return counts
