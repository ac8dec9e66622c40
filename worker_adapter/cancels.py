"""What the adapter remembers of WorkCancelled: which hashes nobody waits for any more, since when.

A WorkRequested for such a hash published before the cancel is dropped when taken (a request
published after it is a new search and runs). Entries are kept ``KEEP_SECONDS`` (a queued request
older than that is past its deadline attribute anyway, or comes from a coordinator without one) and
at most ``MAX_HASHES``, the oldest forgotten first.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from datetime import datetime

KEEP_SECONDS = 3600.0
MAX_HASHES = 100_000


class CancelledHashes:
    def __init__(self, keep: float = KEEP_SECONDS, limit: int = MAX_HASHES) -> None:
        self._keep = keep
        self._limit = limit
        self._since: OrderedDict[str, float] = OrderedDict()  # hash -> cancel time, oldest first

    def add(self, hash: str, cancelled_at: datetime) -> None:
        self._since.pop(hash, None)
        self._since[hash] = cancelled_at.timestamp()
        self._prune()

    def covers(self, hash: str, published_at: datetime) -> bool:
        """Whether a request for ``hash`` published at ``published_at`` was cancelled since."""
        since = self._since.get(hash)
        return since is not None and published_at.timestamp() <= since

    def _prune(self) -> None:
        horizon = time.time() - self._keep
        while self._since and (len(self._since) > self._limit or next(iter(self._since.values())) < horizon):
            self._since.popitem(last=False)

    def __len__(self) -> int:
        return len(self._since)
