"""Building blocks of the API gateway lab: token bucket, load-balancing choices, percentiles.

Kept free of engine state so the property tests can drive them directly.
"""

from __future__ import annotations

import math
from typing import Any

from labs.engines import SeededRandom

STRATEGIES = ("round_robin", "least_conn", "p2c")
SAMPLES = 2000  # latency samples kept per strategy for the percentile comparison
STRATEGY_LABELS = {
    "round_robin": "round robin",
    "least_conn": "least connections",
    "p2c": "power of two choices",
}
# One token is this many units: with a rate given to 0.001 tokens/s the refill per ms is a
# whole number of units, so the bucket never accumulates float rounding error.
_UNITS = 1_000_000


class TokenBucket:
    """A token bucket: starts full with `burst` tokens, refills continuously at `rate_per_s`.

    allow(now_ms) takes one token if there is one. Exact integer arithmetic: rate 10/s, burst 5
    allows 5 requests at t=0 and then exactly one every 100 ms.
    """

    def __init__(self, rate_per_s: float, burst: int, now_ms: int = 0) -> None:
        if isinstance(rate_per_s, bool) or not isinstance(rate_per_s, int | float):
            raise ValueError("rate_per_s must be a number")
        if not 0 <= rate_per_s <= 1_000_000:
            raise ValueError("rate_per_s must be between 0 and 1000000")
        per_ms = round(rate_per_s * 1000)  # units per ms = tokens/s * 1e6 / 1e3
        if abs(per_ms - rate_per_s * 1000) > 1e-6:
            raise ValueError("rate_per_s is limited to three decimals")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError("burst must be a whole number >= 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._per_ms = per_ms
        self._level = burst * _UNITS
        self._last = now_ms

    def _refill(self, now_ms: int) -> None:
        if now_ms < self._last:
            raise ValueError(f"time went backwards: {now_ms} < {self._last}")
        self._level = min(self.burst * _UNITS, self._level + (now_ms - self._last) * self._per_ms)
        self._last = now_ms

    def allow(self, now_ms: int) -> bool:
        self._refill(now_ms)
        if self._level >= _UNITS:
            self._level -= _UNITS
            return True
        return False

    def tokens(self, now_ms: int) -> float:
        """Tokens available at now_ms (for display); changes nothing."""
        gained = max(0, now_ms - self._last) * self._per_ms
        return min(self.burst * _UNITS, self._level + gained) / _UNITS

    def dump(self) -> list[Any]:
        return [self.rate_per_s, self.burst, self._level, self._last]

    @classmethod
    def load(cls, data: list[Any]) -> TokenBucket:
        bucket = cls(data[0], data[1], data[3])
        bucket._level = data[2]
        return bucket


def pick_replica(
    strategy: str,
    pool: list[int],
    in_flight: list[int],
    cursor: int,
    rng: SeededRandom,
) -> tuple[int, int]:
    """Choose a replica index from `pool` (non-empty); returns (replica, new cursor).

    round_robin: the next one in turn. least_conn: fewest in-flight, ties in turn from the
    cursor (as NGINX's least_conn falls back to round robin). p2c: two distinct replicas at
    random, the one with fewer in-flight (ties to the first drawn).
    """
    n = len(pool)
    if strategy == "round_robin":
        return pool[cursor % n], (cursor + 1) % n
    if strategy == "least_conn":
        best, best_load = -1, math.inf
        for k in range(n):
            r = pool[(cursor + k) % n]
            if in_flight[r] < best_load:
                best, best_load = r, in_flight[r]
        return best, (cursor + 1) % n
    if n == 1:
        return pool[0], cursor
    i = rng.randrange(n)
    j = rng.randrange(n - 1)
    if j >= i:
        j += 1
    a, b = pool[i], pool[j]
    return (b if in_flight[b] < in_flight[a] else a), cursor


def percentile(sorted_values: list[int], p: float) -> int | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def percentiles(values: list[int]) -> dict[str, int | None]:
    ordered = sorted(values)
    return {
        "p50": percentile(ordered, 0.50),
        "p95": percentile(ordered, 0.95),
        "p99": percentile(ordered, 0.99),
    }
