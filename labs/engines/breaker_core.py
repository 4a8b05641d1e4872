"""Resilience4j's circuit breaker state machine and interval functions, in pure Python.

Time is passed in (integer ms) instead of read from a clock, so the breaker is deterministic
and can be checkpointed as JSON. The rules follow Resilience4j 2.x:

- `CircuitBreakerStateMachine`: six states; CLOSED -> OPEN when a recorded call pushes the
  failure rate or the slow-call rate to or above its threshold (only once the window holds at
  least the minimum number of calls); OPEN -> HALF_OPEN on the first call strictly after the
  wait (or by a timer when `automatic_transition`); HALF_OPEN permits a fixed number of calls
  and then decides (its own count window, minimum calls = permitted calls); a positive
  `max_wait_in_half_open_ms` sends a still undecided HALF_OPEN back to OPEN.
- `CircuitBreakerMetrics`: a slow call lasts strictly longer than the threshold; the rates are
  -1.0 below the minimum number of calls; for a count window the minimum is capped by its size.
- `FixedSizeSlidingWindowMetrics` (a ring of the last N outcomes) and
  `SlidingTimeWindowMetrics` (N buckets, one per epoch second, evicted as time moves on).
- `CircuitBreaker.StateTransition`: every transition is legal except METRICS_ONLY -> OPEN and
  METRICS_ONLY -> HALF_OPEN and the ones into HALF_OPEN from CLOSED; transitions into the same
  state rebuild it (fresh metrics) without publishing an event.
- `IntervalFunction.ofExponentialBackoff`: attempt 1 waits the initial interval, each further
  attempt multiplies the previous one and truncates it to whole ms.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from labs.engines.breaker_backoff import backoff_interval, jittered_backoff

__all__ = [
    "BreakerConfig",
    "CircuitBreaker",
    "IllegalStateTransition",
    "LEGAL_TRANSITIONS",
    "STATES",
    "backoff_interval",
    "jittered_backoff",
]

CLOSED, OPEN, HALF_OPEN = "CLOSED", "OPEN", "HALF_OPEN"
DISABLED, FORCED_OPEN, METRICS_ONLY = "DISABLED", "FORCED_OPEN", "METRICS_ONLY"
STATES = (CLOSED, OPEN, HALF_OPEN, DISABLED, FORCED_OPEN, METRICS_ONLY)

# Resilience4j's StateTransition enum, as (from, to) pairs; anything else is illegal.
LEGAL_TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    [(CLOSED, s) for s in (CLOSED, OPEN, DISABLED, METRICS_ONLY, FORCED_OPEN)]
    + [(HALF_OPEN, s) for s in (HALF_OPEN, CLOSED, OPEN, DISABLED, METRICS_ONLY, FORCED_OPEN)]
    + [(OPEN, s) for s in (OPEN, CLOSED, HALF_OPEN, DISABLED, METRICS_ONLY, FORCED_OPEN)]
    + [(FORCED_OPEN, s) for s in STATES]
    + [(DISABLED, s) for s in STATES]
    + [(METRICS_ONLY, s) for s in (METRICS_ONLY, CLOSED, FORCED_OPEN, DISABLED)]
)

# Outcome of a metrics check (CircuitBreakerMetrics.Result).
BELOW_MINIMUM, BELOW, FAILURE_RATE, SLOW_CALL_RATE, BOTH = range(5)
_REASON = {FAILURE_RATE: "failure_rate", SLOW_CALL_RATE: "slow_call_rate", BOTH: "both_rates"}


class IllegalStateTransition(ValueError):
    """Resilience4j's IllegalStateTransitionException."""

    def __init__(self, from_state: str, to_state: str) -> None:
        super().__init__(f"illegal state transition from {from_state} to {to_state}")
        self.from_state = from_state
        self.to_state = to_state


# ---------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class BreakerConfig:
    """Resilience4j's CircuitBreakerConfig, durations in ms, with its defaults.

    `sliding_window_size` counts calls for a "count" window and seconds for a "time" window.
    `wait_duration_multiplier` > 1 makes the open wait grow each time the breaker re-opens
    without having closed in between (Resilience4j's waitIntervalFunctionInOpenState set to
    IntervalFunction.ofExponentialBackoff(wait_duration_in_open_ms, multiplier)); the count
    restarts once the breaker closes. `max_wait_duration_in_open_ms` caps that growth.
    """

    failure_rate_threshold: float = 50.0
    slow_call_rate_threshold: float = 100.0
    slow_call_duration_threshold_ms: int = 60000
    permitted_calls_in_half_open: int = 10
    max_wait_in_half_open_ms: int = 0
    sliding_window_type: str = "count"
    sliding_window_size: int = 100
    minimum_number_of_calls: int = 100
    wait_duration_in_open_ms: int = 60000
    automatic_transition: bool = False
    wait_duration_multiplier: float = 1.0
    max_wait_duration_in_open_ms: int | None = None

    def __post_init__(self) -> None:
        # The same checks as CircuitBreakerConfig.Builder, with its messages' meaning.
        for name in ("failure_rate_threshold", "slow_call_rate_threshold"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number")
            if not 0 < value <= 100:
                raise ValueError(f"{name} must be between 0 (exclusive) and 100 (inclusive)")
        ints = {
            "slow_call_duration_threshold_ms": 1,
            "permitted_calls_in_half_open": 1,
            "max_wait_in_half_open_ms": 0,
            "sliding_window_size": 1,
            "minimum_number_of_calls": 1,
            "wait_duration_in_open_ms": 1,
        }
        for name, low in ints.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be a whole number")
            if value < low:
                raise ValueError(f"{name} must be at least {low}")
        if self.sliding_window_type not in ("count", "time"):
            raise ValueError('sliding_window_type must be "count" or "time"')
        if not isinstance(self.automatic_transition, bool):
            raise ValueError("automatic_transition must be true or false")
        multiplier = self.wait_duration_multiplier
        if isinstance(multiplier, bool) or not isinstance(multiplier, int | float):
            raise ValueError("wait_duration_multiplier must be a number")
        if multiplier < 1.0:
            raise ValueError("wait_duration_multiplier must be at least 1.0")
        cap = self.max_wait_duration_in_open_ms
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise ValueError("max_wait_duration_in_open_ms must be a whole number of ms >= 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- sliding windows

_FAILED, _SLOW = 1, 2  # outcome bits


class _CountWindow:
    """FixedSizeSlidingWindowMetrics: the outcomes of the last `size` calls."""

    kind = "count"
    __slots__ = ("size", "ring", "head", "total", "failed", "slow", "slow_failed")

    def __init__(self, size: int) -> None:
        self.size = size
        self.ring: list[int] = []
        self.head = 0
        self.total = self.failed = self.slow = self.slow_failed = 0

    def record(self, outcome: int, now_ms: int) -> None:
        if self.total == self.size:
            old = self.ring[self.head]
            self.ring[self.head] = outcome
            self.head = (self.head + 1) % self.size
            self._add(old, -1)
        else:
            self.ring.append(outcome)
            self.total += 1
        self._add(outcome, 1)

    def _add(self, outcome: int, sign: int) -> None:
        if outcome & _FAILED:
            self.failed += sign
        if outcome & _SLOW:
            self.slow += sign
            if outcome & _FAILED:
                self.slow_failed += sign

    def counts(self, now_ms: int) -> tuple[int, int, int, int]:
        return self.total, self.failed, self.slow, self.slow_failed

    def dump(self) -> list[Any]:
        return ["count", self.size, self.ring, self.head]

    @classmethod
    def from_dump(cls, data: list[Any]) -> _CountWindow:
        window = cls(data[1])
        window.head = data[3]
        for outcome in data[2]:
            window.ring.append(outcome)
            window.total += 1
            window._add(outcome, 1)
        return window


class _TimeWindow:
    """SlidingTimeWindowMetrics: one bucket per epoch second for the last `size` seconds."""

    kind = "time"
    __slots__ = ("size", "buckets", "head", "total", "failed", "slow", "slow_failed")

    def __init__(self, size: int, now_ms: int) -> None:
        self.size = size
        second = now_ms // 1000
        # bucket = [epoch_second, calls, failed, slow, slow_failed]; like Resilience4j, the
        # buckets start labelled with this second and the next size-1 seconds.
        self.buckets = [[second + i, 0, 0, 0, 0] for i in range(size)]
        self.head = 0
        self.total = self.failed = self.slow = self.slow_failed = 0

    def _move_to(self, now_ms: int) -> list[int]:
        second = now_ms // 1000
        head = self.buckets[self.head]
        difference = second - head[0]
        if difference <= 0:
            return head
        steps = min(difference, self.size)
        while steps > 0:
            steps -= 1
            self.head = (self.head + 1) % self.size
            head = self.buckets[self.head]
            self.total -= head[1]
            self.failed -= head[2]
            self.slow -= head[3]
            self.slow_failed -= head[4]
            head[0] = second - steps
            head[1] = head[2] = head[3] = head[4] = 0
        return head

    def record(self, outcome: int, now_ms: int) -> None:
        bucket = self._move_to(now_ms)
        failed, slow = outcome & _FAILED, outcome & _SLOW
        bucket[1] += 1
        self.total += 1
        if failed:
            bucket[2] += 1
            self.failed += 1
        if slow:
            bucket[3] += 1
            self.slow += 1
            if failed:
                bucket[4] += 1
                self.slow_failed += 1

    def counts(self, now_ms: int) -> tuple[int, int, int, int]:
        self._move_to(now_ms)
        return self.total, self.failed, self.slow, self.slow_failed

    def dump(self) -> list[Any]:
        return ["time", self.size, self.buckets, self.head]

    @classmethod
    def from_dump(cls, data: list[Any]) -> _TimeWindow:
        window = cls.__new__(cls)
        window.size = data[1]
        window.buckets = [list(b) for b in data[2]]
        window.head = data[3]
        window.total = sum(b[1] for b in window.buckets)
        window.failed = sum(b[2] for b in window.buckets)
        window.slow = sum(b[3] for b in window.buckets)
        window.slow_failed = sum(b[4] for b in window.buckets)
        return window


class _Metrics:
    """CircuitBreakerMetrics: a window plus the thresholds; window None records nothing."""

    __slots__ = ("window", "minimum_calls", "not_permitted", "config")

    def __init__(
        self, config: BreakerConfig, window: _CountWindow | _TimeWindow | None, minimum: int
    ) -> None:
        self.config = config
        self.window = window
        self.minimum_calls = minimum
        self.not_permitted = 0

    @classmethod
    def for_closed(cls, config: BreakerConfig, now_ms: int) -> _Metrics:
        size = config.sliding_window_size
        if config.sliding_window_type == "count":
            return cls(config, _CountWindow(size), min(config.minimum_number_of_calls, size))
        return cls(config, _TimeWindow(size, now_ms), config.minimum_number_of_calls)

    @classmethod
    def for_half_open(cls, config: BreakerConfig) -> _Metrics:
        # Resilience4j 2.x decides HALF_OPEN on exactly the permitted calls (1.x used
        # min(minimumNumberOfCalls, permitted)).
        permitted = config.permitted_calls_in_half_open
        return cls(config, _CountWindow(permitted), permitted)

    def record(self, duration_ms: int, failed: bool, now_ms: int) -> int:
        if self.window is None:
            return BELOW_MINIMUM
        outcome = (_FAILED if failed else 0) | (
            _SLOW if duration_ms > self.config.slow_call_duration_threshold_ms else 0
        )
        self.window.record(outcome, now_ms)
        return self._check(now_ms)

    def _rates(self, now_ms: int) -> tuple[float, float]:
        if self.window is None:
            return -1.0, -1.0
        total, failed, slow, _ = self.window.counts(now_ms)
        if total == 0 or total < self.minimum_calls:
            return -1.0, -1.0
        return failed * 100.0 / total, slow * 100.0 / total

    def _check(self, now_ms: int) -> int:
        failure_rate, slow_rate = self._rates(now_ms)
        if failure_rate == -1.0 or slow_rate == -1.0:
            return BELOW_MINIMUM
        over_failure = failure_rate >= self.config.failure_rate_threshold
        over_slow = slow_rate >= self.config.slow_call_rate_threshold
        if over_failure and over_slow:
            return BOTH
        if over_failure:
            return FAILURE_RATE
        if over_slow:
            return SLOW_CALL_RATE
        return BELOW

    def dump(self) -> dict[str, Any]:
        return {
            "window": None if self.window is None else self.window.dump(),
            "minimum_calls": self.minimum_calls,
            "not_permitted": self.not_permitted,
        }

    @classmethod
    def from_dump(cls, config: BreakerConfig, data: dict[str, Any]) -> _Metrics:
        raw = data["window"]
        if raw is None:
            window = None
        elif raw[0] == "count":
            window = _CountWindow.from_dump(raw)
        else:
            window = _TimeWindow.from_dump(raw)
        metrics = cls(config, window, data["minimum_calls"])
        metrics.not_permitted = data["not_permitted"]
        return metrics


# ---------------------------------------------------------------------------- state machine


class CircuitBreaker:
    """Resilience4j's CircuitBreakerStateMachine with the clock passed in as `now_ms`.

    Transitions are appended to `transitions` as dicts {"t", "from", "to", "reason"} (internal
    transitions into the same state are not, as Resilience4j publishes no event for them);
    callers may read and clear that list. Timers (automatic OPEN -> HALF_OPEN, the maximum wait
    in HALF_OPEN) fire at their exact time whenever the breaker is next used, or by `poll()`;
    `next_timer_ms` says when the next one is due.
    """

    def __init__(self, config: BreakerConfig | None = None, now_ms: int = 0) -> None:
        self.config = config or BreakerConfig()
        self.transitions: list[dict[str, Any]] = []
        self._state = CLOSED
        self._attempts = 0
        self._metrics = _Metrics.for_closed(self.config, now_ms)
        self._open_until = 0
        self._permits = 0
        self._timer: int | None = None
        self._since_ms = now_ms

    # --- reading

    @property
    def state(self) -> str:
        return self._state

    @property
    def since_ms(self) -> int:
        """When the current state was entered."""
        return self._since_ms

    @property
    def next_timer_ms(self) -> int | None:
        return self._timer

    @property
    def attempts(self) -> int:
        """How many times in a row the breaker has opened (sets the open wait's backoff)."""
        return self._attempts

    @property
    def open_until_ms(self) -> int | None:
        """In OPEN: the end of the wait; a call strictly after it moves to HALF_OPEN."""
        return self._open_until if self._state == OPEN else None

    @property
    def half_open_permits(self) -> int:
        return self._permits if self._state == HALF_OPEN else 0

    def failure_rate(self, now_ms: int) -> float:
        return self._metrics._rates(now_ms)[0]

    def slow_call_rate(self, now_ms: int) -> float:
        return self._metrics._rates(now_ms)[1]

    def metrics(self, now_ms: int) -> dict[str, Any]:
        """Resilience4j's CircuitBreaker.Metrics, as a dict."""
        window = self._metrics.window
        total, failed, slow, slow_failed = (0, 0, 0, 0) if window is None else window.counts(now_ms)
        failure_rate, slow_rate = self._metrics._rates(now_ms)
        return {
            "failure_rate": failure_rate,
            "slow_call_rate": slow_rate,
            "buffered_calls": total,
            "failed_calls": failed,
            "successful_calls": total - failed,
            "slow_calls": slow,
            "slow_failed_calls": slow_failed,
            "not_permitted_calls": self._metrics.not_permitted,
            "minimum_calls": self._metrics.minimum_calls,
        }

    # --- using

    def poll(self, now_ms: int) -> None:
        """Fire the timers due at or before now_ms (each at its own time)."""
        while self._timer is not None and self._timer <= now_ms:
            at = self._timer
            self._timer = None
            if self._state == OPEN:
                self._enter(HALF_OPEN, at, "wait_elapsed")
            elif self._state == HALF_OPEN:
                self._enter(OPEN, at, "half_open_max_wait")

    def try_acquire(self, now_ms: int) -> bool:
        """tryAcquirePermission(): may this call go ahead?"""
        if self._timer is not None:
            self.poll(now_ms)
        state = self._state
        if state in (CLOSED, DISABLED, METRICS_ONLY):
            return True
        if state == OPEN:
            if now_ms > self._open_until:  # Instant.isAfter: strictly after the wait
                old_metrics = self._metrics
                self._enter(HALF_OPEN, now_ms, "wait_elapsed")
                if self._acquire_half_open():
                    return True
                old_metrics.not_permitted += 1
                return False
            self._metrics.not_permitted += 1
            return False
        if state == HALF_OPEN:
            return self._acquire_half_open()
        self._metrics.not_permitted += 1  # FORCED_OPEN
        return False

    def _acquire_half_open(self) -> bool:
        if self._permits > 0:
            self._permits -= 1
            return True
        self._metrics.not_permitted += 1
        return False

    def release_permission(self) -> None:
        if self._state == HALF_OPEN:
            self._permits += 1

    def on_success(self, duration_ms: int, now_ms: int) -> None:
        self._record(duration_ms, False, now_ms)

    def on_error(self, duration_ms: int, now_ms: int, ignored: bool = False) -> None:
        """A failed call; an ignored error only gives its permission back."""
        if ignored:
            if self._timer is not None:
                self.poll(now_ms)
            self.release_permission()
            return
        self._record(duration_ms, True, now_ms)

    def _record(self, duration_ms: int, failed: bool, now_ms: int) -> None:
        if self._timer is not None:
            self.poll(now_ms)
        state = self._state
        if state in (DISABLED, FORCED_OPEN):
            return
        result = self._metrics.record(duration_ms, failed, now_ms)
        if state == CLOSED:
            if result in _REASON:
                self._enter(OPEN, now_ms, _REASON[result])
        elif state == HALF_OPEN:
            if result in _REASON:
                self._enter(OPEN, now_ms, "half_open_" + _REASON[result])
            elif result == BELOW:
                self._enter(CLOSED, now_ms, "half_open_passed")
        # OPEN and METRICS_ONLY only record (an OPEN breaker still counts the calls that were
        # already running when it opened).

    # --- transitions

    def transition_to(self, state: str, now_ms: int, reason: str = "manual") -> None:
        """transitionTo<State>State(); raises IllegalStateTransition like Resilience4j."""
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        if self._timer is not None:
            self.poll(now_ms)
        if (self._state, state) not in LEGAL_TRANSITIONS:
            raise IllegalStateTransition(self._state, state)
        self._enter(state, now_ms, reason)

    def reset(self, now_ms: int) -> None:
        """reset(): back to a fresh CLOSED state from anywhere."""
        self._enter(CLOSED, now_ms, "reset")

    def _enter(self, state: str, now_ms: int, reason: str) -> None:
        previous = self._state
        config = self.config
        self._timer = None
        self._permits = 0
        if state in (CLOSED, METRICS_ONLY):
            self._attempts = 0
            self._metrics = _Metrics.for_closed(config, now_ms)
        elif state == DISABLED:
            self._attempts = 0
            self._metrics = _Metrics(config, None, 0)
        elif state == FORCED_OPEN:
            self._attempts += 1
            self._metrics = _Metrics(config, None, 0)
        elif state == OPEN:
            self._attempts += 1  # the OPEN state keeps the metrics it came from
            wait = backoff_interval(
                self._attempts,
                config.wait_duration_in_open_ms,
                config.wait_duration_multiplier,
                config.max_wait_duration_in_open_ms,
            )
            self._open_until = now_ms + wait
            if config.automatic_transition:
                self._timer = self._open_until
        elif state == HALF_OPEN:
            self._metrics = _Metrics.for_half_open(config)
            self._permits = config.permitted_calls_in_half_open
            if config.max_wait_in_half_open_ms >= 1:
                self._timer = now_ms + config.max_wait_in_half_open_ms
        self._state = state
        if previous != state:
            self._since_ms = now_ms
            self.transitions.append({"t": now_ms, "from": previous, "to": state, "reason": reason})

    # --- checkpoints

    def dump(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "state": self._state,
            "attempts": self._attempts,
            "metrics": self._metrics.dump(),
            "open_until": self._open_until,
            "permits": self._permits,
            "timer": self._timer,
            "since": self._since_ms,
            "transitions": list(self.transitions),
        }

    @classmethod
    def load(cls, data: dict[str, Any]) -> CircuitBreaker:
        breaker = cls.__new__(cls)
        breaker.config = BreakerConfig(**data["config"])
        breaker.transitions = list(data["transitions"])
        breaker._state = data["state"]
        breaker._attempts = data["attempts"]
        breaker._metrics = _Metrics.from_dump(breaker.config, data["metrics"])
        breaker._open_until = data["open_until"]
        breaker._permits = data["permits"]
        breaker._timer = data["timer"]
        breaker._since_ms = data["since"]
        return breaker
