"""Bounds on what one client may ask of the service: a token bucket per client address."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_QUERY_CHARS = 2_000  # the engine's own cap (config.MAX_AFFILIATION_CHARS); longer is refused
MAX_BATCH = 100  # queries in one reconciliation request (OpenRefine sends 10 by default)
MAX_BODY_BYTES = 1024 * 1024  # a POSTed batch: 100 queries of 2,000 characters fit with room
MAX_LIMIT = 10  # candidates a query (the matcher's top-k)
MAX_CLIENTS = 10_000  # buckets kept; idle ones are dropped beyond this


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """``rate`` requests a second per client, bursts up to ``burst``; ``rate`` <= 0 turns it off."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = float(rate)
        self.burst = max(1, int(burst))
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, client: str) -> float:
        """0.0 when the request may go ahead, else the seconds until it may."""
        if not self.enabled:
            return 0.0
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(client)
            if bucket is None:
                if len(self._buckets) >= MAX_CLIENTS:
                    self._prune(now)
                bucket = self._buckets[client] = _Bucket(float(self.burst), now)
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate

    def _prune(self, now: float) -> None:
        """Drop the buckets that have refilled (their clients lose nothing)."""
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.stamp) * self.rate >= self.burst]
        for key in full:
            del self._buckets[key]
        while len(self._buckets) >= MAX_CLIENTS:  # all busy: drop the oldest
            del self._buckets[next(iter(self._buckets))]
