"""The event-sourcing lab: store API, aggregate rules, projections, scenarios (each winnable),
commands, properties and speed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.engines import CommandError, ScenarioError, get_engine, json_roundtrip
from labs.engines.event_sourcing import (
    ConcurrencyError,
    EventSourcingEngine,
    EventStore,
    fold,
    upcast,
)
from labs.engines.event_sourcing_scenario import new_read_model, project
from tests.labs.engine_contract import assert_contract, assert_scenario_winnable, run

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "site/microservices/labs/event-sourcing"
SLUGS = ["event-store-basics", "projections-and-replay", "time-travel"]


def load_scenario(slug: str) -> dict:
    return yaml.safe_load((SCENARIO_DIR / f"{slug}.yaml").read_text())


WINNING = {
    "event-store-basics": (
        20_000,
        [
            (2_000, {"type": "open_account", "account": "carol", "owner": "Carol"}),
            (3_000, {"type": "deposit", "account": "alice", "amount": 50}),
            (4_000, {"type": "withdraw", "account": "alice", "amount": 10}),
            (5_000, {"type": "withdraw", "account": "bob", "amount": 5000}),
            (
                6_000,
                {"type": "race_withdrawals", "account": "alice", "amount_a": 20, "amount_b": 30},
            ),
        ],
    ),  # fmt: skip
    "projections-and-replay": (
        40_000,
        [
            (5_000, {"type": "withdraw", "account": "alice", "amount": 30}),
            (5_100, {"type": "query_balance", "account": "alice"}),
            (10_000, {"type": "deploy_projection_fix"}),
        ],
    ),
    "time-travel": (
        20_000,
        [
            (1_000, {"type": "inspect_stream", "account": "alice"}),
            (3_000, {"type": "time_travel", "position": 2}),
            (4_000, {"type": "take_snapshot", "account": "alice"}),
            (5_000, {"type": "deposit", "account": "alice", "amount": 10}),
            (6_000, {"type": "live_view"}),
        ],
    ),
}


def test_registered_under_its_slug():
    assert get_engine("event-sourcing") is EventSourcingEngine


# ---------------------------------------------------------------- the store


def test_store_versions_and_reads():
    store = EventStore()
    assert store.version("s") == 0 and store.read("s") == []
    assert store.append("s", [{"type": "A", "data": {}}, {"type": "B", "data": {}}], 0) == 2
    assert store.append("s", [{"type": "C", "data": {}}], 2) == 3
    assert [e["type"] for e in store.read("s")] == ["A", "B", "C"]
    assert [e["type"] for e in store.read("s", 1)] == ["B", "C"]
    with pytest.raises(ConcurrencyError) as err:
        store.append("s", [{"type": "D", "data": {}}], 2)
    assert (err.value.expected, err.value.actual) == (2, 3)
    assert store.version("s") == 3, "a refused append writes nothing"
    assert [e["position"] for e in store.read_all()] == [1, 2, 3]


def test_upcast_turns_euros_into_cents_without_rewriting_the_store():
    store = EventStore()
    store.append("a", [{"type": "MoneyDeposited", "data": {"amount": 12}, "schema": 1}], 0)
    [event] = store.read("a")
    assert event["data"] == {"amount_cents": 1200} and event["schema"] == 2
    assert store.read("a", raw=True)[0]["data"] == {"amount": 12}
    assert upcast(event) is event


def test_legacy_scenario_balances_use_upcast_events():
    engine = EventSourcingEngine.create(load_scenario("time-travel")["scenario"], 0)
    assert engine.accounts["alice"]["balance_cents"] == 12_000
    assert engine.store.read("account-alice", raw=True)[1]["schema"] == 1


# ---------------------------------------------------------------- the aggregate and commands


def quiet(**extra) -> dict:
    return {
        "accounts": [{"id": "alice", "balance": 100}],
        "traffic_rps": 0,
        "projection_lag_ms": 1000,
        "objectives": ["overdraft_refused", "conflict_refused", "stale_read"],
        **extra,
    }


def test_overdraft_is_refused_and_nothing_is_written():
    engine = EventSourcingEngine.create(quiet(), 0)
    engine.advance(100)
    engine.apply({"type": "withdraw", "account": "alice", "amount": 101})
    events = engine.advance(1000)
    assert [e["type"] for e in events if e["type"] == "command_rejected"] == ["command_rejected"]
    assert engine.store.version("account-alice") == 2
    assert engine.objectives()[0]["met"]


def test_race_refuses_exactly_one_and_retry_rechecks_the_rule():
    engine = EventSourcingEngine.create(quiet(), 0)
    engine.advance(100)
    engine.apply({"type": "race_withdrawals", "account": "alice", "amount_a": 60, "amount_b": 70})
    events = engine.advance(1000)
    assert sum(e["type"] == "concurrency_conflict" for e in events) == 1
    assert engine.accounts["alice"]["balance_cents"] == 4000
    engine.apply({"type": "deposit", "account": "alice", "amount": 100})
    engine.advance(2000)
    engine.apply(
        {"type": "race_withdrawals", "account": "alice", "amount_a": 60, "amount_b": 90,
         "retry": True}
    )  # fmt: skip
    events = engine.advance(3000)
    kinds = [e["type"] for e in events]
    assert kinds.count("concurrency_conflict") == 1
    assert "command_rejected" in kinds, "after reloading, 90 € is more than the 80 € left"
    assert engine.accounts["alice"]["balance_cents"] == 8000


def test_stale_read_then_fresh_read():
    engine = EventSourcingEngine.create(quiet(), 0)
    engine.advance(3000)
    engine.apply({"type": "deposit", "account": "alice", "amount": 5})
    engine.advance(3100)
    engine.apply({"type": "query_balance", "account": "alice"})
    engine.advance(3200)
    assert engine.queries[-1]["stale"] and engine.queries[-1]["read_model_cents"] == 10_000
    engine.advance(5000)
    engine.apply({"type": "query_balance", "account": "alice"})
    engine.advance(5100)
    assert not engine.queries[-1]["stale"] and engine.queries[-1]["read_model_cents"] == 10_500


def test_snapshot_load_replays_only_the_tail():
    engine = EventSourcingEngine.create(quiet(), 0)
    engine.advance(100)
    engine.apply({"type": "take_snapshot", "account": "alice"})
    engine.apply({"type": "deposit", "account": "alice", "amount": 1})
    events = engine.advance(500)
    [loaded] = [e for e in events if e["type"] == "aggregate_loaded"]
    assert (loaded["snapshot_version"], loaded["replayed"]) == (2, 0)


def test_time_travel_shows_the_past():
    engine = EventSourcingEngine.create(quiet(), 0)
    engine.advance(100)
    engine.apply({"type": "withdraw", "account": "alice", "amount": 30})
    engine.advance(500)
    engine.apply({"type": "time_travel", "position": 2})
    snap = engine.snapshot()
    assert snap["time_travel"]["accounts"]["alice"]["balance_cents"] == 10_000
    assert snap["accounts"]["alice"]["balance_cents"] == 7_000
    with pytest.raises(CommandError):
        engine.apply({"type": "time_travel", "position": 99})


@pytest.mark.parametrize(
    "command",
    [
        {"type": "nope"},
        {"type": "deposit", "account": "alice", "amount": 0},
        {"type": "deposit", "account": "alice", "amount": 1.5},
        {"type": "deposit", "account": "Alice!", "amount": 1},
        {"type": "deposit", "account": "alice", "amount": 1, "extra": 1},
        {"type": "set_projection", "lag_ms": -1},
        {"type": "set_projection", "paused": "yes"},
        {"type": "take_snapshot", "account": "zed"},
        {"type": "inspect_stream", "account": "zed"},
        {"type": "open_account", "account": "carol", "owner": ""},
        "deposit",
    ],
)
def test_bad_commands_are_refused_and_change_nothing(command):
    engine = EventSourcingEngine.create(quiet(), 0)
    engine.advance(1000)
    before = engine.dump()
    with pytest.raises(CommandError):
        engine.apply(command)
    assert engine.dump() == before


def test_every_schema_command_applies_with_its_defaults():
    engine = EventSourcingEngine.create(None, 0)
    engine.advance(1000)
    for spec in EventSourcingEngine.command_schema():
        command = {"type": spec["type"]} | {f["name"]: f["default"] for f in spec["fields"]}
        if spec["type"] == "time_travel":
            command["position"] = 1
        ack = engine.apply(command)
        assert ack["type"] == "command_applied"
        engine.advance(engine.now_ms + 500)


@pytest.mark.parametrize(
    "scenario, path",
    [
        ({"bogus": 1}, "bogus"),
        ({"traffic_rps": -1}, "traffic_rps"),
        ({"projection_version": 3}, "projection_version"),
        ({"accounts": [{"id": "A B"}]}, "accounts[0]"),
        ({"accounts": [{"id": "a"}, {"id": "a"}]}, "accounts[1]"),
        ({"objectives": ["win"]}, "objectives"),
        ({"legacy_events": "yes"}, "legacy_events"),
    ],
)
def test_bad_scenarios_are_refused(scenario, path):
    with pytest.raises(ScenarioError) as err:
        EventSourcingEngine.create(scenario, 0)
    assert err.value.path == path


# ---------------------------------------------------------------- scenarios


@pytest.mark.parametrize("slug", SLUGS)
def test_scenario_keeps_the_contract_and_is_winnable(slug):
    to_ms, commands = WINNING[slug]
    assert_scenario_winnable(EventSourcingEngine, load_scenario(slug), 3, to_ms, commands)


@pytest.mark.parametrize("slug", SLUGS)
def test_scenario_objectives_not_met_by_idling(slug):
    engine = EventSourcingEngine.create(load_scenario(slug)["scenario"], 3)
    engine.advance(30_000)
    assert not any(o["met"] for o in engine.objectives())


def test_default_scenario_contract():
    assert_contract(EventSourcingEngine, None, 1, 20_000, WINNING["event-store-basics"][1])


def test_snapshot_is_small_and_json_ready():
    engine = EventSourcingEngine.create(None, 0)
    engine.apply({"type": "set_traffic", "rps": 10})
    engine.advance(300_000)
    engine.apply({"type": "time_travel", "position": 100})
    snap = engine.snapshot()
    assert json_roundtrip(snap) == snap
    assert len(yaml.safe_dump(snap)) < 60_000


def test_cpu_per_simulated_second():
    engine = EventSourcingEngine.create(None, 0)
    engine.apply({"type": "set_traffic", "rps": 5})
    start = time.perf_counter()
    engine.advance(300_000)
    per_s = (time.perf_counter() - start) * 1000 / 300
    assert per_s < 5, f"{per_s:.2f} ms per simulated second"


# ---------------------------------------------------------------- properties

ACCOUNTS = ["alice", "bob", "carol"]
command_st = st.one_of(
    st.builds(lambda a, n: {"type": "deposit", "account": a, "amount": n},
              st.sampled_from(ACCOUNTS), st.integers(1, 200)),
    st.builds(lambda a, n: {"type": "withdraw", "account": a, "amount": n},
              st.sampled_from(ACCOUNTS), st.integers(1, 200)),
    st.builds(lambda a, x, y, r: {"type": "race_withdrawals", "account": a, "amount_a": x,
                                  "amount_b": y, "retry": r},
              st.sampled_from(ACCOUNTS), st.integers(1, 200), st.integers(1, 200), st.booleans()),
    st.builds(lambda a: {"type": "open_account", "account": a, "owner": "X"},
              st.sampled_from(ACCOUNTS)),
    st.builds(lambda a: {"type": "take_snapshot", "account": a}, st.sampled_from(ACCOUNTS[:1])),
)  # fmt: skip
schedule_st = st.lists(st.tuples(st.integers(1, 20_000), command_st), max_size=25)


def scenario_for(version: int, snapshot_every: int) -> dict:
    return {
        "accounts": [{"id": "alice", "balance": 100}, {"id": "bob", "balance": 0}],
        "traffic_rps": 2,
        "projection_lag_ms": 700,
        "projection_version": version,
        "snapshot_every": snapshot_every,
    }


@settings(max_examples=30, deadline=None)
@given(schedule_st, st.integers(0, 3), st.sampled_from([0, 3]))
def test_rebuilt_state_equals_live_state(schedule, seed, snapshot_every):
    engine = EventSourcingEngine.create(scenario_for(2, snapshot_every), seed)
    run(engine, 25_000, 1000, schedule)
    for account, live in engine.accounts.items():
        stream = f"account-{account}"
        assert fold(engine.store.read(stream)) == live
        assert engine._load(stream)[0] == live, "snapshot + tail must equal the full replay"
        assert live["balance_cents"] >= 0, "the aggregate never lets an account go negative"


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 5), st.lists(st.integers(1, 4), min_size=2, max_size=6))
def test_concurrent_appends_exactly_one_wins(prior, sizes):
    store = EventStore()
    if prior:
        store.append("s", [{"type": "X", "data": {}}] * prior, 0)
    expected = store.version("s")
    wins = 0
    for n in sizes:
        try:
            store.append("s", [{"type": "Y", "data": {}}] * n, expected)
            wins += 1
        except ConcurrencyError:
            pass
    assert wins == 1
    assert store.version("s") == prior + sizes[0]


@settings(max_examples=25, deadline=None)
@given(schedule_st, st.integers(0, 3), st.sampled_from([1, 2]), st.booleans())
def test_caught_up_projection_equals_rebuild_from_scratch(schedule, seed, version, rebuild):
    engine = EventSourcingEngine.create(scenario_for(version, 0), seed)
    if rebuild:
        schedule = schedule + [(12_000, {"type": "rebuild_projection"})]
    run(engine, 25_000, 1000, schedule)
    engine.apply({"type": "set_traffic", "rps": 0})
    engine.advance(40_000)
    scratch = new_read_model()
    for event in engine.store.read_all():
        project(scratch, event, version)
    assert engine.proj["checkpoint"] == len(engine.store.log)
    assert engine.proj["model"] == scratch
    if version == 2:
        assert engine._projection_correct()


def test_snapshot_tells_a_lagging_projection_from_a_buggy_one():
    engine = EventSourcingEngine.create(quiet(projection_version=1), 0)
    engine.advance(3000)
    engine.apply({"type": "withdraw", "account": "alice", "amount": 10})
    engine.advance(3100)
    proj = engine.snapshot()["projection"]
    assert proj["consistent_with_seen"] and not proj["correct"], "lagging, not yet wrong"
    engine.advance(6000)
    proj = engine.snapshot()["projection"]
    assert not proj["consistent_with_seen"] and proj["behind"] == 0, "caught up and wrong: bug"
    engine.apply({"type": "deploy_projection_fix"})
    engine.advance(9000)
    proj = engine.snapshot()["projection"]
    assert proj["consistent_with_seen"] and proj["correct"] and proj["version"] == 2
