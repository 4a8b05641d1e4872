"""The circuit-breaker lab engine: contract, scenarios (each winnable), commands, speed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.engines import CommandError, ScenarioError, get_engine, json_roundtrip
from labs.engines.breaker import BreakerEngine
from tests.labs.engine_contract import assert_contract, run

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "site/microservices/labs/circuit-breaker"
SLUGS = ["outage-and-recovery", "slow-downstream", "retry-storm", "tuning-challenge"]


def load_scenario(slug: str) -> dict:
    return yaml.safe_load((SCENARIO_DIR / f"{slug}.yaml").read_text())


# The command sequences that win each scenario: (simulated ms, command).
WINNING = {
    "outage-and-recovery": (
        60_000,
        [(10_000, {"type": "start_outage", "mode": "error"}), (30_000, {"type": "stop_outage"})],
    ),
    "slow-downstream": (
        90_000,
        [
            (
                5_000,
                {
                    "type": "configure_breaker",
                    "slow_call_duration_threshold_ms": 500,
                    "slow_call_rate_threshold": 50,
                },
            )
        ],
    ),
    "retry-storm": (
        120_000,
        [
            (
                45_000,
                {
                    "type": "configure_retries",
                    "max_attempts": 3,
                    "backoff": "full",
                    "initial_ms": 100,
                    "max_ms": 2000,
                },
            ),
            (45_000, {"type": "reset_breaker"}),
        ],
    ),
    "tuning-challenge": (
        150_000,
        [
            (
                1_000,
                {
                    "type": "configure_breaker",
                    "sliding_window_size": 20,
                    "minimum_number_of_calls": 10,
                    "wait_duration_in_open_ms": 2000,
                    "wait_duration_multiplier": 1.5,
                    "permitted_calls_in_half_open": 3,
                },
            ),
            (1_000, {"type": "set_timeout", "value": 300}),
        ],
    ),
}


def test_registered_under_its_slug():
    assert get_engine("circuit-breaker") is BreakerEngine
    assert BreakerEngine.slug == "circuit-breaker"


def test_default_scenario_keeps_the_contract():
    events = assert_contract(BreakerEngine, None, 7, 70_000)
    kinds = {e["type"] for e in events}
    assert {"stats", "breaker_transition", "outage_started", "outage_ended"} <= kinds


@pytest.mark.parametrize("slug", SLUGS)
def test_scenario_files_are_complete(slug):
    data = load_scenario(slug)
    assert {"title", "summary", "brief", "duration_s", "scenario"} <= set(data)
    BreakerEngine.validate_scenario(data["scenario"])


@pytest.mark.parametrize("slug", SLUGS)
def test_scenario_keeps_the_contract_with_its_winning_commands(slug):
    to_ms, commands = WINNING[slug]
    to_ms = min(to_ms, 60_000)
    assert_contract(BreakerEngine, load_scenario(slug)["scenario"], 3, to_ms, commands)


@pytest.mark.parametrize("slug", SLUGS)
def test_scenario_is_winnable(slug):
    to_ms, commands = WINNING[slug]
    engine = BreakerEngine.create(load_scenario(slug)["scenario"], 0)
    events = run(engine, to_ms, 1000, commands)
    objectives = engine.objectives()
    assert objectives and all(o["met"] for o in objectives), objectives
    met_events = {e["id"] for e in events if e["type"] == "objective_met"}
    assert met_events == {o["id"] for o in objectives}


def test_retry_storm_is_not_won_by_waiting():
    engine = BreakerEngine.create(load_scenario("retry-storm")["scenario"], 0)
    run(engine, 150_000, 1000)
    met = {o["id"]: o["met"] for o in engine.objectives()}
    assert met == {"retry_storm": True, "storm_tamed": False}


@pytest.mark.parametrize(
    ("commands", "expected"),
    [
        ([], {"tuning_user_errors": False, "tuning_failing_calls": True}),
        ([(1_000, {"type": "disable_breaker"})], {"tuning_user_errors": True,
                                                   "tuning_failing_calls": False}),
    ],
)  # fmt: skip
def test_tuning_challenge_needs_real_tuning(commands, expected):
    engine = BreakerEngine.create(load_scenario("tuning-challenge")["scenario"], 0)
    run(engine, 150_000, 1000, commands)
    assert {o["id"]: o["met"] for o in engine.objectives()} == expected
    assert engine.finished


def test_slow_downstream_does_not_trip_with_default_slow_settings():
    engine = BreakerEngine.create(load_scenario("slow-downstream")["scenario"], 0)
    events = run(engine, 60_000, 1000)
    assert not [e for e in events if e["type"] == "breaker_transition"]
    stats = [e for e in events if e["type"] == "stats" and 25 <= e["second"] <= 55]
    assert min(s["p50"] for s in stats) > 500  # slow, yet every call succeeds


def test_outage_opens_the_breaker_and_nothing_reaches_the_downstream_while_open():
    engine = BreakerEngine.create(None, 0)
    events = run(engine, 60_000, 1000)
    opened = next(e for e in events if e["type"] == "breaker_transition" and e["to"] == "OPEN")
    assert 30_000 <= opened["t"] <= 31_000
    # While the breaker is OPEN (whole seconds), calls are short-circuited, none sent.
    seconds = [e for e in events if e["type"] == "stats" and e["state"] == "OPEN"]
    assert seconds
    for s in seconds:
        assert s["short_circuited"] > 0


def test_retries_count_against_downstream_load():
    scenario = {"downstream": {"error_rate": 0.5}, "client": {"retry": {"max_attempts": 3}},
                "breaker": {"enabled": False}}  # fmt: skip
    engine = BreakerEngine.create(scenario, 0)
    events = run(engine, 20_000, 1000)
    requests = sum(e["requests"] for e in events if e["type"] == "stats")
    calls = sum(e["downstream_calls"] for e in events if e["type"] == "stats")
    # 1 + 0.5 + 0.25 calls per request on average
    assert 1.6 * requests < calls < 1.9 * requests


def test_fallback_turns_failures_into_degraded_answers():
    engine = BreakerEngine.create({"downstream": {"error_rate": 1.0}}, 0)
    engine.apply({"type": "toggle_fallback"})
    events = run(engine, 10_000, 1000)
    stats = [e for e in events if e["type"] == "stats"]
    assert sum(s["user_errors"] for s in stats) == 0
    assert sum(s["fallback"] for s in stats) > 100


def test_bulkhead_rejects_over_its_limit():
    scenario = {"downstream": {"latency_ms": 500}, "client": {"bulkhead": 5, "timeout_ms": 9000}}
    engine = BreakerEngine.create(scenario, 0)
    events = run(engine, 10_000, 1000)
    stats = [e for e in events if e["type"] == "stats"]
    assert sum(s["bulkhead_rejected"] for s in stats) > 0
    assert max(s["downstream_peak"] for s in stats) <= 5


@pytest.mark.parametrize(
    ("scenario", "path"),
    [
        ({"load": {"rps": -1}}, "load.rps"),
        ({"load": {"rsp": 5}}, "load.rsp"),
        ({"nonsense": 1}, "nonsense"),
        ({"downstream": {"error_rate": "high"}}, "downstream.error_rate"),
        ({"downstream": {"outages": [{"start_s": 1}]}}, "downstream.outages.0.duration_s"),
        ({"downstream": {"outages": [{"start_s": 1, "duration_s": 2, "mode": "x"}]}},
         "downstream.outages.0.mode"),
        ({"breaker": {"failure_rate_threshold": 0}}, "breaker.failure_rate_threshold"),
        ({"breaker": {"sliding_window_type": "ring"}}, "breaker.sliding_window_type"),
        ({"breaker": {"colour": "red"}}, "breaker.colour"),
        ({"client": {"retry": {"backoff": "random"}}}, "client.retry.backoff"),
        ({"objectives": ["win"]}, "objectives.0"),
        ({"locked": ["fly"]}, "locked.0"),
    ],
)  # fmt: skip
def test_invalid_scenarios_are_refused_with_a_path(scenario, path):
    with pytest.raises(ScenarioError) as caught:
        BreakerEngine.create(scenario, 0)
    assert caught.value.path == path


@pytest.mark.parametrize(
    "command",
    [
        {"type": "set_rps", "value": 501},
        {"type": "set_rps"},
        {"type": "set_rps", "value": 5, "extra": 1},
        {"type": "launch"},
        {"type": "set_error_rate", "value": 1.5},
        {"type": "configure_breaker", "minimum_number_of_calls": 0},
        {"type": "configure_retries", "backoff": "sometimes"},
        {"type": "stop_outage"},
        {"type": "start_outage", "mode": "meteor"},
        {"type": "transition_breaker", "state": "HALF_OPEN"},  # CLOSED -> HALF_OPEN is illegal
        "set_rps",
    ],
)
def test_invalid_commands_change_nothing(command):
    engine = BreakerEngine.create(None, 0)
    engine.advance(5_000)
    before = json_roundtrip(engine.dump())
    with pytest.raises(CommandError):
        engine.apply(command)
    assert json_roundtrip(engine.dump()) == before


def test_locked_commands_are_refused():
    engine = BreakerEngine.create(load_scenario("tuning-challenge")["scenario"], 0)
    with pytest.raises(CommandError, match="fixed"):
        engine.apply({"type": "toggle_fallback"})


def test_breaker_commands_report_their_transitions():
    engine = BreakerEngine.create(None, 0)
    engine.advance(2_000)
    ack = engine.apply({"type": "force_open_breaker"})
    assert ack["type"] == "command_applied" and ack["t"] == 2_000
    assert ack["effects"][0]["to"] == "FORCED_OPEN"
    assert engine.snapshot()["breaker"]["state"] == "FORCED_OPEN"
    events = engine.advance(4_000)
    assert all(e["downstream_calls"] == 0 for e in events if e["type"] == "stats")
    ack = engine.apply({"type": "configure_breaker", "wait_duration_in_open_ms": 1000})
    assert ack["effects"][0]["to"] == "CLOSED"
    assert engine.snapshot()["breaker"]["config"]["wait_duration_in_open_ms"] == 1000


def test_every_schema_command_applies_with_its_defaults():
    for spec in BreakerEngine.command_schema():
        engine = BreakerEngine.create(None, 0)
        engine.advance(1_000)
        if spec["type"] == "stop_outage":
            engine.apply({"type": "start_outage"})
        command = {"type": spec["type"]} | {f["name"]: f["default"] for f in spec["fields"]}
        if spec["type"] == "transition_breaker":
            command["state"] = "FORCED_OPEN"
        ack = engine.apply(command)
        assert json_roundtrip(ack) == ack
        engine.advance(3_000)


def test_snapshot_is_small_and_json_ready():
    engine = BreakerEngine.create(load_scenario("retry-storm")["scenario"], 0)
    run(engine, 150_000, 1000)
    snapshot = engine.snapshot()
    assert json_roundtrip(snapshot) == snapshot
    assert len(str(snapshot)) < 50_000
    assert len(snapshot["history"]) == 120
    assert json_roundtrip(engine.summary()) == engine.summary()


def test_event_volume_stays_low():
    engine = BreakerEngine.create(load_scenario("retry-storm")["scenario"], 0)
    events = run(engine, 60_000, 1000)
    assert len(events) < 60 * 20


def test_a_simulated_second_at_100_rps_is_cheap():
    scenario = {"load": {"rps": 100}, "client": {"retry": {"max_attempts": 3}},
                "downstream": {"error_rate": 0.1}}  # fmt: skip
    engine = BreakerEngine.create(scenario, 0)
    engine.advance(5_000)
    started = time.process_time()
    engine.advance(65_000)
    per_second_ms = (time.process_time() - started) / 60 * 1000
    # 200 runs per worker need well under 10 ms of CPU per simulated second.
    assert per_second_ms < 5, per_second_ms


_COMMANDS = st.sampled_from(
    [
        {"type": "start_outage", "mode": "error"},
        {"type": "start_outage", "mode": "hang"},
        {"type": "start_outage", "mode": "slow"},
        {"type": "stop_outage"},
        {"type": "force_open_breaker"},
        {"type": "reset_breaker"},
        {"type": "disable_breaker"},
        {"type": "set_rps", "value": 120},
        {"type": "set_error_rate", "value": 0.6},
        {"type": "configure_retries", "max_attempts": 3, "backoff": "decorrelated"},
        {"type": "configure_retries", "max_attempts": 4, "backoff": "none"},
        {"type": "set_bulkhead", "value": 3},
        {"type": "toggle_fallback"},
        {"type": "configure_breaker", "sliding_window_type": "time", "sliding_window_size": 2,
         "minimum_number_of_calls": 3, "wait_duration_in_open_ms": 1500,
         "max_wait_in_half_open_ms": 500, "automatic_transition": True},
    ]
)  # fmt: skip


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 1000),
    commands=st.lists(st.tuples(st.integers(0, 20), _COMMANDS), max_size=8),
)
def test_engine_properties_under_random_commands(seed, commands):
    engine = BreakerEngine.create(None, seed)
    timed = sorted(((second * 1000, command) for second, command in commands), key=lambda c: c[0])
    events = []

    def advance(to_ms):
        start = engine.now_ms
        produced = engine.advance(to_ms)
        assert all(start < e["t"] <= to_ms for e in produced)
        return produced

    for at, command in timed:
        events += advance(at)
        try:
            ack = engine.apply(command)
            events += [e | {"t": at} for e in ack["effects"]]
        except CommandError:
            pass
    events += advance(25_000)
    # Track the state through the transitions; a second spent wholly OPEN or FORCED_OPEN
    # sends nothing to the downstream.
    state, state_at_second_start, changed = "CLOSED", "CLOSED", False
    for event in events:
        if event["type"] == "breaker_transition":
            assert event["from"] == state
            state, changed = event["to"], True
        elif event["type"] == "stats":
            if not changed and state in ("OPEN", "FORCED_OPEN"):
                assert state_at_second_start == state
                assert event["downstream_calls"] == 0, event
            for rate in (event["failure_rate"], event["slow_call_rate"]):
                assert rate == -1.0 or 0.0 <= rate <= 100.0
            assert event["state"] == state
            state_at_second_start, changed = state, False
