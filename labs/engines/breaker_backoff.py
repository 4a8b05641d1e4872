"""Interval functions for retries and the breaker's open wait.

- `backoff_interval`: Resilience4j's IntervalFunction.ofExponentialBackoff.
- `jittered_backoff`: the full, equal and decorrelated jitter of Marc Brooker's
  "Exponential Backoff and Jitter" (AWS Architecture Blog, 2015).
"""

from __future__ import annotations

import random

__all__ = ["JITTER_KINDS", "backoff_interval", "jittered_backoff"]


def backoff_interval(
    attempt: int, initial_ms: int, multiplier: float, max_ms: int | None = None
) -> int:
    """Resilience4j's IntervalFunction.ofExponentialBackoff(initial, multiplier[, max]).

    `attempt` counts from 1: attempt 1 waits `initial_ms`, attempt n waits the value of attempt
    n-1 times `multiplier`, truncated to whole ms at every step (so 500 ms x1.5 gives 500, 750,
    1125, 1687, 2530, ...). With `max_ms` the result is capped. Retry passes the number of
    attempts made so far (1 after the first failure); the breaker passes how many times it has
    opened in a row.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be at least 1, got {attempt}")
    if initial_ms < 1:
        raise ValueError(f"interval must be at least 1 ms, got {initial_ms}")
    if multiplier < 1.0:
        raise ValueError(f"multiplier must be at least 1.0, got {multiplier}")
    if max_ms is not None and max_ms < 1:
        raise ValueError(f"max interval must be at least 1 ms, got {max_ms}")
    interval = int(initial_ms)
    for _ in range(attempt - 1):
        interval = int(interval * multiplier)
        if max_ms is not None and interval >= max_ms:
            return max_ms  # the sequence never decreases, so it stays capped
    return interval if max_ms is None else min(interval, max_ms)


JITTER_KINDS = ("full", "equal", "decorrelated")


def jittered_backoff(
    kind: str,
    attempt: int,
    base_ms: int,
    cap_ms: int,
    rng: random.Random,
    previous_ms: int | None = None,
) -> int:
    """A sleep in whole ms from AWS's "Exponential Backoff and Jitter" (Marc Brooker, 2015).

    `attempt` is the exponent in the article's formulas and counts from 0: attempt 0 is the
    first retry, whose ceiling is `base_ms`; attempt n has ceiling min(cap, base * 2**n).

    - full:         random_between(0, min(cap, base * 2**attempt))
    - equal:        temp = min(cap, base * 2**attempt); temp/2 + random_between(0, temp/2)
    - decorrelated: min(cap, random_between(base, previous * 3)); `previous_ms` is the sleep
                    returned last time for this request, `base_ms` for the first retry
                    (decorrelated jitter ignores `attempt`).

    random_between draws a whole number of ms, both ends included, from `rng`.
    """
    if attempt < 0:
        raise ValueError(f"attempt must be at least 0, got {attempt}")
    if base_ms < 0 or cap_ms < 0:
        raise ValueError("base and cap must not be negative")
    if kind == "decorrelated":
        previous = base_ms if previous_ms is None else previous_ms
        high = max(base_ms, previous * 3)
        return min(cap_ms, rng.randint(base_ms, high))
    # 2**attempt grows fast; the cap is reached long before the float overflows.
    if base_ms == 0:
        ceiling = 0
    else:
        ceiling = cap_ms if attempt >= 62 else min(cap_ms, base_ms * (1 << attempt))
    if kind == "full":
        return rng.randint(0, ceiling)
    if kind == "equal":
        half = ceiling // 2
        return half + rng.randint(0, half)
    raise ValueError(f"unknown jitter kind {kind!r}; use one of {', '.join(JITTER_KINDS)}")
