"""CircuitBreaker against the scenarios of Resilience4j's own test suite, plus properties.

Names in comments are the test methods of resilience4j-circuitbreaker's
CircuitBreakerStateMachineTest (setUp: failure threshold 50 %, 4 calls in HALF_OPEN, slow above
4 s at 50 %, max 1 s in HALF_OPEN, TIME_BASED window of 20 s with minimum 5 calls, 5 s in
OPEN), CircuitBreakerAutoTransitionStateMachineTest and the core module's
FixedSizeSlidingWindowMetricsTest / SlidingTimeWindowMetricsTest.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.engines import json_roundtrip
from labs.engines.breaker import (
    BreakerConfig,
    CircuitBreaker,
    IllegalStateTransition,
    backoff_interval,
    jittered_backoff,
)
from labs.engines.breaker_core import LEGAL_TRANSITIONS, STATES

T0 = 1_546_344_000_000  # 2019-01-01T12:00:00Z, the MockClock start of those tests


def setup_config(**changes) -> BreakerConfig:
    values = dict(
        failure_rate_threshold=50,
        permitted_calls_in_half_open=4,
        slow_call_duration_threshold_ms=4000,
        slow_call_rate_threshold=50,
        max_wait_in_half_open_ms=1000,
        sliding_window_type="time",
        sliding_window_size=20,
        minimum_number_of_calls=5,
        wait_duration_in_open_ms=5000,
    )
    values.update(changes)
    return BreakerConfig(**values)


def metrics(breaker: CircuitBreaker, now: int) -> tuple:
    m = breaker.metrics(now)
    return (
        m["failure_rate"],
        m["successful_calls"],
        m["buffered_calls"],
        m["failed_calls"],
        m["not_permitted_calls"],
    )


@pytest.fixture
def breaker() -> CircuitBreaker:
    return CircuitBreaker(setup_config(), T0)


def half_open(breaker: CircuitBreaker, now: int = T0) -> None:
    breaker.transition_to("OPEN", now)
    breaker.transition_to("HALF_OPEN", now)
    assert breaker.state == "HALF_OPEN"


def test_defaults_are_resilience4js():
    config = BreakerConfig()
    assert config.failure_rate_threshold == 50.0
    assert config.slow_call_rate_threshold == 100.0
    assert config.slow_call_duration_threshold_ms == 60000
    assert config.permitted_calls_in_half_open == 10
    assert config.max_wait_in_half_open_ms == 0
    assert config.sliding_window_type == "count"
    assert config.sliding_window_size == 100
    assert config.minimum_number_of_calls == 100
    assert config.wait_duration_in_open_ms == 60000
    assert config.automatic_transition is False
    assert config.wait_duration_multiplier == 1.0


def test_should_throw_call_not_permitted_when_state_is_open(breaker):
    # shouldThrowCallNotPermittedExceptionWhenStateIsOpen
    breaker.transition_to("OPEN", T0)
    assert breaker.try_acquire(T0) is False
    assert breaker.metrics(T0)["not_permitted_calls"] == 1


def test_should_throw_call_not_permitted_when_state_is_forced_open(breaker):
    # shouldThrowCallNotPermittedExceptionWhenStateIsForcedOpen
    breaker.transition_to("FORCED_OPEN", T0)
    assert breaker.try_acquire(T0) is False
    assert breaker.metrics(T0)["not_permitted_calls"] == 1


def test_should_increase_counter_on_release_permission(breaker):
    # shouldIncreaseCounterOnReleasePermission
    half_open(breaker)
    assert [breaker.try_acquire(T0) for _ in range(6)] == [True] * 4 + [False] * 2
    breaker.release_permission()
    assert breaker.try_acquire(T0) is True


def test_should_only_permit_four_calls_in_half_open_state(breaker):
    # shouldOnlyPermitFourCallsInHalfOpenState and
    # shouldThrowCallNotPermittedExceptionWhenNotFurtherTestCallsArePermitted
    assert metrics(breaker, T0) == (-1.0, 0, 0, 0, 0)
    for _ in range(2):
        half_open(breaker)
        assert [breaker.try_acquire(T0) for _ in range(6)] == [True] * 4 + [False] * 2
    assert breaker.metrics(T0)["not_permitted_calls"] == 2


def test_should_open_after_failure_rate_threshold_exceeded_2(breaker):
    # shouldOpenAfterFailureRateThresholdExceeded2: one call a second in a 20 s time window.
    now = T0
    for ok in (True, True, True, False, False):
        (breaker.on_success if ok else breaker.on_error)(0, now)
        now += 1000
    assert breaker.state == "CLOSED"  # 2 of 5 failed: 40 %
    breaker.on_error(0, now)
    assert breaker.state == "OPEN"  # 3 of 6: 50 % trips at >=


def test_should_open_after_failure_rate_threshold_exceeded(breaker):
    # shouldOpenAfterFailureRateThresholdExceeded
    assert breaker.try_acquire(T0)
    for expected in [(-1.0, 0, 1, 1, 0), (-1.0, 0, 2, 2, 0), (-1.0, 0, 3, 3, 0)]:
        assert breaker.try_acquire(T0)
        breaker.on_error(0, T0)
        assert breaker.state == "CLOSED"
        assert metrics(breaker, T0) == expected
    assert breaker.try_acquire(T0)
    breaker.on_success(0, T0)
    assert metrics(breaker, T0) == (-1.0, 1, 4, 3, 0)
    breaker.on_success(0, T0)
    assert breaker.state == "OPEN"
    assert breaker.transitions[-1]["reason"] == "failure_rate"
    assert metrics(breaker, T0) == (60.0, 2, 5, 3, 0)
    assert breaker.try_acquire(T0) is False
    assert metrics(breaker, T0) == (60.0, 2, 5, 3, 1)


def test_should_open_after_slow_call_rate_threshold_exceeded(breaker):
    # shouldOpenAfterSlowCallRateThresholdExceeded
    breaker.on_error(5000, T0)
    breaker.on_success(5000, T0)
    breaker.on_error(100, T0)
    breaker.on_success(100, T0)
    assert breaker.state == "CLOSED"
    breaker.on_success(5000, T0)
    assert breaker.state == "OPEN"
    assert breaker.metrics(T0)["buffered_calls"] == 5
    assert breaker.metrics(T0)["slow_calls"] == 3
    assert breaker.slow_call_rate(T0) == 60.0


def test_a_call_exactly_at_the_slow_threshold_is_not_slow():
    breaker = CircuitBreaker(setup_config(), T0)
    for _ in range(5):
        breaker.on_success(4000, T0)
    assert breaker.slow_call_rate(T0) == 0.0 and breaker.state == "CLOSED"


def test_should_transition_to_half_open_after_wait_duration(breaker):
    # shouldTransitionToHalfOpenAfterWaitDuration
    breaker.transition_to("OPEN", T0)
    assert breaker.try_acquire(T0) is False
    assert breaker.try_acquire(T0 + 3000) is False
    assert breaker.state == "OPEN"
    assert metrics(breaker, T0 + 3000) == (-1.0, 0, 0, 0, 2)
    # exactly at the end of the wait it is still OPEN (Instant.isAfter is strict)
    assert breaker.try_acquire(T0 + 5000) is False
    assert breaker.try_acquire(T0 + 6000) is True
    assert breaker.state == "HALF_OPEN"
    assert metrics(breaker, T0 + 6000) == (-1.0, 0, 0, 0, 0)


def test_should_transition_to_half_open_after_wait_interval():
    # shouldTransitionToHalfOpenAfterWaitInterval: IntervalFunction.ofExponentialBackoff(5000)
    # (default multiplier 1.5) as the wait in OPEN.
    config = BreakerConfig(
        failure_rate_threshold=50,
        sliding_window_size=5,
        permitted_calls_in_half_open=4,
        wait_duration_in_open_ms=5000,
        wait_duration_multiplier=1.5,
    )
    breaker = CircuitBreaker(config, T0)
    breaker.transition_to("OPEN", T0)
    assert breaker.try_acquire(T0) is False
    assert breaker.try_acquire(T0 + 3000) is False
    assert breaker.try_acquire(T0 + 6000) is True
    assert breaker.state == "HALF_OPEN"
    breaker.transition_to("OPEN", T0 + 6000)
    assert breaker.try_acquire(T0 + 12000) is False  # now 7.5 s
    assert breaker.try_acquire(T0 + 17000) is True
    assert breaker.state == "HALF_OPEN"


def test_the_open_wait_backoff_restarts_after_closing():
    config = BreakerConfig(wait_duration_in_open_ms=1000, wait_duration_multiplier=2.0)
    breaker = CircuitBreaker(config, 0)
    for attempt, wait in enumerate((1000, 2000, 4000), start=1):
        breaker.transition_to("OPEN", 0)
        assert breaker.attempts == attempt and breaker.open_until_ms == wait
        breaker.transition_to("HALF_OPEN", 0)
    breaker.transition_to("CLOSED", 0)
    breaker.transition_to("OPEN", 0)
    assert breaker.open_until_ms == 1000


def test_should_transition_back_to_open_when_failure_rate_is_above_threshold(breaker):
    # shouldTransitionBackToOpenStateWhenFailureRateIsAboveThreshold
    half_open(breaker)
    for ok in (False, False, True, False):
        assert breaker.try_acquire(T0)
        (breaker.on_success if ok else breaker.on_error)(0, T0)
    assert breaker.state == "OPEN"
    assert metrics(breaker, T0) == (75.0, 1, 4, 3, 0)


def test_should_transition_back_to_open_when_slow_call_rate_is_above_threshold(breaker):
    # shouldTransitionBackToOpenStateWhenSlowCallRateIsAboveThreshold
    half_open(breaker)
    for duration in (5000, 5000, 5000, 1000):
        assert breaker.try_acquire(T0)
        breaker.on_success(duration, T0)
    assert breaker.state == "OPEN"
    assert breaker.metrics(T0)["slow_calls"] == 3
    assert breaker.slow_call_rate(T0) == 75.0
    assert breaker.failure_rate(T0) == 0.0


def test_should_transition_back_to_closed_when_failure_is_below_threshold(breaker):
    # shouldTransitionBackToClosedStateWhenFailureIsBelowThreshold
    half_open(breaker)
    assert metrics(breaker, T0) == (-1.0, 0, 0, 0, 0)
    for ok in (False, True, True, True):
        assert breaker.try_acquire(T0)
        (breaker.on_success if ok else breaker.on_error)(0, T0)
    assert breaker.try_acquire(T0)
    assert breaker.state == "CLOSED"
    assert metrics(breaker, T0) == (-1.0, 0, 0, 0, 0)
    breaker.on_success(0, T0)
    assert metrics(breaker, T0) == (-1.0, 1, 1, 0, 0)


def test_should_reset_metrics(breaker):
    # shouldResetMetrics, shouldResetClosedState
    breaker.on_success(0, T0)
    breaker.on_error(0, T0)
    assert metrics(breaker, T0) == (-1.0, 1, 2, 1, 0)
    breaker.reset(T0)
    assert metrics(breaker, T0) == (-1.0, 0, 0, 0, 0)
    assert breaker.transitions == []  # CLOSED -> CLOSED publishes no transition


def test_should_disable_circuit_breaker(breaker):
    # shouldDisableCircuitBreaker
    breaker.transition_to("DISABLED", T0)
    assert breaker.state == "DISABLED"
    for _ in range(4):
        assert breaker.try_acquire(T0)
        breaker.on_error(0, T0)
    assert metrics(breaker, T0) == (-1.0, 0, 0, 0, 0)
    assert breaker.state == "DISABLED"


def test_should_force_open_circuit_breaker(breaker):
    # shouldForceOpenCircuitBreaker
    breaker.transition_to("FORCED_OPEN", T0)
    assert breaker.try_acquire(T0) is False
    assert breaker.try_acquire(T0 + 6000) is False  # no HALF_OPEN after the wait
    assert breaker.state == "FORCED_OPEN"
    assert metrics(breaker, T0 + 6000) == (-1.0, 0, 0, 0, 2)


def test_should_release_permission_when_exception_ignored(breaker):
    # shouldReleasePermissionWhenExceptionIgnored
    half_open(breaker)
    for n in (1, 2, 3):
        assert breaker.try_acquire(T0)
        breaker.on_success(0, T0)
        assert breaker.state == "HALF_OPEN"
        assert metrics(breaker, T0) == (-1.0, n, n, 0, 0)
    assert breaker.try_acquire(T0)
    breaker.on_error(0, T0, ignored=True)
    assert breaker.state == "HALF_OPEN"
    assert metrics(breaker, T0) == (-1.0, 3, 3, 0, 0)
    assert breaker.try_acquire(T0)
    breaker.on_error(0, T0)
    assert breaker.state == "CLOSED"  # 1 failure in 4 calls: 25 %
    assert metrics(breaker, T0) == (-1.0, 0, 0, 0, 0)


def test_should_ignore_exceptions_and_then_transition_to_closed(breaker):
    # shouldIgnoreExceptionsAndThenTransitionToClosed
    half_open(breaker)
    for _ in range(4):
        assert breaker.try_acquire(T0)
        breaker.on_error(0, T0, ignored=True)
        assert breaker.state == "HALF_OPEN"
    assert metrics(breaker, T0) == (-1.0, 0, 0, 0, 0)
    for _ in range(3):
        assert breaker.try_acquire(T0)
        breaker.on_success(0, T0)
        assert breaker.state == "HALF_OPEN"
    assert breaker.try_acquire(T0)
    breaker.on_success(0, T0)
    assert breaker.state == "CLOSED"


def test_should_not_allow_transition_from_closed_to_half_open(breaker):
    # shouldNotAllowTransitionFromClosedToHalfOpen
    with pytest.raises(IllegalStateTransition, match="from CLOSED to HALF_OPEN"):
        breaker.transition_to("HALF_OPEN", T0)
    assert breaker.state == "CLOSED"


def test_should_reset_to_closed_state(breaker):
    # shouldResetToClosedState
    breaker.transition_to("OPEN", T0)
    breaker.reset(T0)
    assert breaker.state == "CLOSED"


def test_should_reset_metrics_after_metrics_only_state_transition(breaker):
    # shouldResetMetricsAfterMetricsOnlyStateTransition
    breaker.on_success(0, T0)
    breaker.on_success(0, T0)
    breaker.transition_to("METRICS_ONLY", T0)
    assert breaker.metrics(T0)["successful_calls"] == 0


def test_should_record_metrics_in_metrics_only_state(breaker):
    # shouldRecordMetricsInMetricsOnlyState
    breaker.transition_to("METRICS_ONLY", T0)
    for ok in (False, False, False, True, True, False):
        assert breaker.try_acquire(T0)
        (breaker.on_success if ok else breaker.on_error)(0, T0)
        assert breaker.state == "METRICS_ONLY"
    assert breaker.metrics(T0)["buffered_calls"] == 6
    assert breaker.transitions[-1]["to"] == "METRICS_ONLY"


def test_all_states_allow_transition_to_metrics_only_and_to_themselves():
    # allCircuitBreakerStatesAllowTransitionToMetricsOnlyMode,
    # allCircuitBreakerStatesAllowTransitionToItsOwnState
    for state in STATES:
        assert (state, "METRICS_ONLY") in LEGAL_TRANSITIONS
        assert (state, state) in LEGAL_TRANSITIONS


@pytest.mark.parametrize(
    ("start", "target"),
    [("CLOSED", "HALF_OPEN"), ("METRICS_ONLY", "OPEN"), ("METRICS_ONLY", "HALF_OPEN")],
)
def test_illegal_transitions_raise_and_change_nothing(start, target):
    breaker = CircuitBreaker(BreakerConfig(), 0)
    if start != "CLOSED":
        breaker.transition_to(start, 0)
    with pytest.raises(IllegalStateTransition):
        breaker.transition_to(target, 0)
    assert breaker.state == start


def test_no_transition_events_for_internal_transitions(breaker):
    # circuitBreakerDoesNotPublishStateTransitionEventsForInternalTransitions
    for state in ("OPEN", "HALF_OPEN", "DISABLED", "METRICS_ONLY", "CLOSED"):
        before = len(breaker.transitions)
        breaker.transition_to(state, T0)
        assert len(breaker.transitions) == before + 1
        breaker.transition_to(state, T0)
        assert len(breaker.transitions) == before + 1


def test_transitions_to_open_after_max_wait_in_half_open(breaker):
    # circuitBreakerTransitionsToOpenAfterWaitDurationInHalfOpenState (max wait 1 s)
    half_open(breaker)
    assert breaker.next_timer_ms == T0 + 1000
    breaker.poll(T0 + 999)
    assert breaker.state == "HALF_OPEN"
    breaker.poll(T0 + 2000)
    assert breaker.state == "OPEN"
    assert breaker.transitions[-1] == {
        "t": T0 + 1000, "from": "HALF_OPEN", "to": "OPEN", "reason": "half_open_max_wait",
    }  # fmt: skip


def test_automatic_transition_from_open_to_half_open():
    # CircuitBreakerAutoTransitionStateMachineTest: the timer moves OPEN -> HALF_OPEN with no
    # call at all, exactly when the wait ends.
    breaker = CircuitBreaker(
        BreakerConfig(wait_duration_in_open_ms=2000, automatic_transition=True)
    )
    breaker.transition_to("OPEN", 100)
    breaker.poll(2099)
    assert breaker.state == "OPEN"
    breaker.poll(5000)
    assert breaker.state == "HALF_OPEN"
    assert breaker.transitions[-1]["t"] == 2100


def test_count_window_caps_the_minimum_and_forgets_old_calls():
    # FixedSizeSlidingWindowMetrics: a ring of the last N calls; minimum capped at N.
    breaker = CircuitBreaker(BreakerConfig(sliding_window_size=4, minimum_number_of_calls=10))
    for _ in range(3):
        breaker.on_error(0, 0)
    assert breaker.failure_rate(0) == -1.0
    breaker.on_success(0, 0)
    assert breaker.state == "OPEN"  # 3 of 4 failed, and 4 calls are enough
    ring = CircuitBreaker(BreakerConfig(sliding_window_size=3, minimum_number_of_calls=3,
                                        failure_rate_threshold=100))  # fmt: skip
    for ok in (False, True, True, True):
        (ring.on_success if ok else ring.on_error)(0, 0)
    assert ring.failure_rate(0) == 0.0  # the failure fell out of the ring


def test_time_window_uses_epoch_second_buckets():
    # SlidingTimeWindowMetrics: buckets per epoch second; calls older than N s are evicted.
    config = BreakerConfig(sliding_window_type="time", sliding_window_size=2,
                           minimum_number_of_calls=1, failure_rate_threshold=100)  # fmt: skip
    breaker = CircuitBreaker(config, 500)
    breaker.on_error(0, 900)  # second 0
    breaker.on_success(0, 1100)  # second 1
    assert breaker.failure_rate(1999) == 50.0
    assert breaker.failure_rate(2000) == 0.0  # second 0 left the 2-second window
    assert breaker.failure_rate(4000) == -1.0


def test_dump_and_load_continue_identically():
    config = BreakerConfig(sliding_window_type="time", sliding_window_size=3,
                           minimum_number_of_calls=2, wait_duration_in_open_ms=700)  # fmt: skip
    a = CircuitBreaker(config)
    rng = random.Random(1)
    for t in range(0, 5000, 37):
        b = CircuitBreaker.load(json_roundtrip(a.dump()))
        outcome = rng.random()
        for breaker in (a, b):
            if breaker.try_acquire(t):
                (breaker.on_success if outcome < 0.4 else breaker.on_error)(50, t)
        assert a.dump() == b.dump()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"failure_rate_threshold": 0}, "failure_rate_threshold"),
        ({"slow_call_rate_threshold": 101}, "slow_call_rate_threshold"),
        ({"sliding_window_size": 0}, "sliding_window_size"),
        ({"minimum_number_of_calls": 0}, "minimum_number_of_calls"),
        ({"permitted_calls_in_half_open": 0}, "permitted_calls_in_half_open"),
        ({"wait_duration_in_open_ms": 0}, "wait_duration_in_open_ms"),
        ({"max_wait_in_half_open_ms": -1}, "max_wait_in_half_open_ms"),
        ({"sliding_window_type": "ring"}, "sliding_window_type"),
        ({"wait_duration_multiplier": 0.5}, "wait_duration_multiplier"),
    ],
)
def test_config_is_validated_like_the_builder(changes, field):
    with pytest.raises(ValueError, match=field):
        BreakerConfig(**changes)


# ------------------------------------------------------------------------------ interval


def test_backoff_interval_truncates_at_every_step():
    # IntervalFunction.ofExponentialBackoff(500, 1.5): 1687 (not 1687.5), 2530, 3795
    assert [backoff_interval(n, 500, 1.5) for n in range(1, 7)] == [
        500, 750, 1125, 1687, 2530, 3795,
    ]  # fmt: skip
    assert [backoff_interval(n, 100, 2.0, max_ms=500) for n in range(1, 6)] == [
        100, 200, 400, 500, 500,
    ]  # fmt: skip
    with pytest.raises(ValueError):
        backoff_interval(0, 100, 2.0)
    with pytest.raises(ValueError):
        backoff_interval(1, 100, 0.5)


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(["full", "equal"]),
    attempt=st.integers(0, 80),
    base=st.integers(0, 5000),
    cap=st.integers(0, 100_000),
    seed=st.integers(0, 2**32),
)
def test_full_and_equal_jitter_stay_in_their_range(kind, attempt, base, cap, seed):
    ceiling = min(cap, base * 2**attempt)
    sleep = jittered_backoff(kind, attempt, base, cap, random.Random(seed))
    low = 0 if kind == "full" else ceiling // 2
    assert low <= sleep <= ceiling


@settings(max_examples=200, deadline=None)
@given(
    base=st.integers(1, 5000),
    cap=st.integers(1, 100_000),
    previous=st.one_of(st.none(), st.integers(1, 100_000)),
    seed=st.integers(0, 2**32),
)
def test_decorrelated_jitter_stays_in_its_range(base, cap, previous, seed):
    sleep = jittered_backoff("decorrelated", 3, base, cap, random.Random(seed), previous)
    prev = base if previous is None else previous
    assert sleep <= cap
    assert sleep >= min(cap, base)
    assert sleep <= max(base, prev * 3)


def test_jitter_spreads_retries_out():
    rng = random.Random(5)
    sleeps = {jittered_backoff("full", 3, 100, 10_000, rng) for _ in range(200)}
    assert len(sleeps) > 100 and max(sleeps) <= 800
    with pytest.raises(ValueError):
        jittered_backoff("some", 1, 100, 1000, rng)


# ---------------------------------------------------------------------------- properties

configs = st.builds(
    BreakerConfig,
    failure_rate_threshold=st.floats(1, 100),
    slow_call_rate_threshold=st.floats(1, 100),
    slow_call_duration_threshold_ms=st.integers(1, 500),
    permitted_calls_in_half_open=st.integers(1, 6),
    max_wait_in_half_open_ms=st.sampled_from([0, 300, 2000]),
    sliding_window_type=st.sampled_from(["count", "time"]),
    sliding_window_size=st.integers(1, 8),
    minimum_number_of_calls=st.integers(1, 8),
    wait_duration_in_open_ms=st.integers(1, 2000),
    automatic_transition=st.booleans(),
    wait_duration_multiplier=st.sampled_from([1.0, 1.5, 2.0]),
)
# One step: (ms to move on, action, duration); actions on the breaker as a client uses it.
steps = st.lists(
    st.tuples(
        st.integers(0, 700),
        st.sampled_from(
            [
                "call",
                "call",
                "call",
                "finish_ok",
                "finish_err",
                "ignored",
                "force_open",
                "disable",
                "reset",
                "metrics_only",
            ]
        ),
        st.integers(0, 800),
    ),  # fmt: skip
    max_size=150,
)


@settings(max_examples=150, deadline=None)
@given(config=configs, script=steps)
def test_properties_hold_for_any_use(config, script):
    breaker = CircuitBreaker(config, 0)
    now = 0
    in_flight: list[str] = []  # the state in which each running call was permitted
    half_open_started = 0
    permitted_in_this_half_open = 0
    last_half_open_since = None
    for wait, action, duration in script:
        now += wait
        if action == "call":
            state_before = breaker.state
            permitted = breaker.try_acquire(now)
            if state_before in ("FORCED_OPEN",) or (
                state_before == "OPEN" and breaker.state == "OPEN"
            ):
                # In OPEN (before the wait is over) and FORCED_OPEN nothing gets through.
                assert not permitted
            if permitted:
                in_flight.append(breaker.state)
                if breaker.state == "HALF_OPEN":
                    if last_half_open_since != breaker.since_ms:
                        last_half_open_since = breaker.since_ms
                        permitted_in_this_half_open = 0
                    permitted_in_this_half_open += 1
        elif action in ("finish_ok", "finish_err", "ignored") and in_flight:
            in_flight.pop(0)
            if action == "finish_ok":
                breaker.on_success(duration, now)
            elif action == "finish_err":
                breaker.on_error(duration, now)
            else:
                breaker.on_error(duration, now, ignored=True)
                if breaker.state == "HALF_OPEN" and last_half_open_since == breaker.since_ms:
                    permitted_in_this_half_open -= 1
        elif action == "force_open":
            breaker.transition_to("FORCED_OPEN", now)
        elif action == "disable":
            breaker.transition_to("DISABLED", now)
        elif action == "reset":
            breaker.reset(now)
        elif action == "metrics_only":
            breaker.transition_to("METRICS_ONLY", now)
        # Never more calls in one HALF_OPEN spell than its quota (less given-back permits).
        assert permitted_in_this_half_open <= config.permitted_calls_in_half_open
        assert breaker.state in STATES
        for rate in (breaker.failure_rate(now), breaker.slow_call_rate(now)):
            assert rate == -1.0 or 0.0 <= rate <= 100.0
        assert half_open_started >= 0
    restored = CircuitBreaker.load(json_roundtrip(breaker.dump()))
    assert restored.dump() == breaker.dump()
