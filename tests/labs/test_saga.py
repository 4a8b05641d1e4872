"""The saga engine: contract, validation, commands, and the behaviours the lab teaches."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from labs.engines import CommandError, ScenarioError, get_engine, json_roundtrip
from labs.engines.saga import SagaEngine
from tests.labs.engine_contract import assert_contract

CALM = {"payment_decline_rate": 0, "duplicate_rate": 0}


def engine_for(seed: int = 0, **scenario: Any) -> SagaEngine:
    return SagaEngine.create({"faults": CALM, **scenario}, seed)


def run_until(engine: SagaEngine, to_ms: int, step: int = 250) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while engine.now_ms < to_ms:
        events += engine.advance(min(to_ms, engine.now_ms + step))
    return events


def test_registered_under_its_slug() -> None:
    assert get_engine("saga") is SagaEngine


@pytest.mark.parametrize("mode", ["orchestration", "choreography", "two_phase_commit"])
def test_contract_with_commands(mode: str) -> None:
    scenario = {
        "mode": mode,
        "orders": 15,
        "faults": {"payment_decline_rate": 0.3, "duplicate_rate": 0.2, "timeout_rate": 0.1,
                   "reorder_rate": 0.2, "compensation_failure_rate": 0.2},
    }  # fmt: skip
    commands = [
        (1_500, {"type": "set_service_down", "service": "inventory", "down": True}),
        (2_000, {"type": "decline_next_payment"}),
        (3_500, {"type": "set_service_down", "service": "inventory", "down": False}),
        (4_000, {"type": "set_idempotent_consumers", "enabled": False}),
        (4_200, {"type": "set_fault", "fault": "duplicate_rate", "value": 0.5}),
        (6_000, {"type": "place_orders", "count": 3}),
        (9_000, {"type": "stop_faults"}),
    ]
    if mode != "choreography":
        commands += [
            (5_000, {"type": "crash_orchestrator", "when": "now"}),
            (7_000, {"type": "restart_orchestrator"}),
        ]
    events = assert_contract(SagaEngine, scenario, seed=3, to_ms=16_000, commands=commands)
    assert any(e["type"] == "retry" for e in events)


def test_default_scenario_contract() -> None:
    assert_contract(SagaEngine, None, seed=11, to_ms=15_000)


@pytest.mark.parametrize(
    ("scenario", "path"),
    [
        ({"colour": "red"}, "colour"),
        ({"mode": "telepathy"}, "mode"),
        ({"orders": -1}, "orders"),
        ({"orders": 2.5}, "orders"),
        ({"idempotent_consumers": "yes"}, "idempotent_consumers"),
        ({"faults": {"payment_decline_rate": 1.5}}, "faults.payment_decline_rate"),
        ({"faults": {"duplicate_rate": True}}, "faults.duplicate_rate"),
        ({"faults": {"gremlins": 0.1}}, "faults.gremlins"),
        ({"faults": {"services_down": ["billing"]}}, "faults.services_down"),
        ({"stock": {"spanner": 3}}, "stock.spanner"),
        ({"objectives": ["win"]}, "objectives[0]"),
    ],
)
def test_invalid_scenarios_name_the_key(scenario: dict[str, Any], path: str) -> None:
    with pytest.raises(ScenarioError) as error:
        SagaEngine.create(scenario)
    assert error.value.path == path


def test_command_schema_matches_the_commands() -> None:
    engine = engine_for()
    for command in SagaEngine.command_schema():
        assert {"type", "label", "group", "fields"} <= set(command)
        assert hasattr(engine, f"_cmd_{command['type']}")
        for field in command["fields"]:
            assert field["kind"] in ("number", "select", "bool", "text")


@pytest.mark.parametrize(
    "command",
    [
        {"type": "launch_rockets"},
        {"type": "set_fault", "fault": "duplicate_rate"},
        {"type": "set_fault", "fault": "duplicate_rate", "value": 2},
        {"type": "set_fault", "fault": "gremlins", "value": 0.1},
        {"type": "set_service_down", "service": "billing", "down": True},
        {"type": "set_service_down", "service": "payment", "down": "yes"},
        {"type": "place_orders", "count": 0},
        {"type": "place_orders", "count": 3, "colour": "red"},
        {"type": "set_mode", "mode": "orchestration"},
        {"type": "restart_orchestrator"},
        {"type": "retry_stuck_sagas"},
        {"type": "refund_overcharge", "order_id": "o-999"},
        {"type": "crash_orchestrator", "when": "later"},
    ],
)
def test_invalid_commands_are_refused_and_change_nothing(command: dict[str, Any]) -> None:
    engine = engine_for(orders=5)
    engine.advance(1_000)
    before = engine.dump()
    with pytest.raises(CommandError):
        engine.apply(command)
    assert engine.dump() == before


def test_semantic_lock_refuses_commands_on_a_pending_order() -> None:
    engine = engine_for(orders=3, order_interval_ms=2_000)
    engine.advance(400)
    assert engine.snapshot()["orders"]["o-1"]["status"] == "pending"
    before = engine.dump()
    for command in ({"type": "cancel_order", "order_id": "o-1"},
                    {"type": "refund_overcharge", "order_id": "o-1"}):  # fmt: skip
        with pytest.raises(CommandError, match="semantic lock"):
            engine.apply(command)
    assert engine.dump() == before
    run_until(engine, 10_000)
    assert engine.snapshot()["orders"]["o-1"]["status"] == "approved"
    with pytest.raises(CommandError, match="approved"):
        engine.apply({"type": "cancel_order", "order_id": "o-1"})


def test_a_declined_payment_compensates_completed_steps_in_reverse_order() -> None:
    engine = engine_for(orders=1)
    engine.apply({"type": "decline_next_payment"})
    events = run_until(engine, 10_000)
    mine = [e for e in events if e.get("order_id") == "o-1"]
    story = [(e["type"], e.get("step")) for e in mine if e["type"].startswith(("step", "saga"))]
    assert story == [
        ("saga_started", None),
        ("step_done", "create_order"),
        ("step_done", "reserve_stock"),
        ("step_failed", "charge_payment"),
        ("step_compensated", "reserve_stock"),
        ("step_compensated", "create_order"),
        ("saga_compensated", None),
    ]
    commands = [
        e["kind"] for e in mine if e["type"] == "message_sent" and e["src"] == "orchestrator"
    ]
    assert commands == ["create_order", "reserve_stock", "charge_payment", "release_stock",
                        "reject_order"]  # fmt: skip
    snap = engine.snapshot()
    assert snap["orders"]["o-1"]["status"] == "rejected"
    assert snap["payments"]["o-1"] == {"charged": 0, "refunded": 0}
    assert snap["sagas"][0]["status"] == "compensated"
    assert [s["status"] for s in snap["sagas"][0]["steps"]] == [
        "compensated", "compensated", "failed", "pending", "pending", "pending"]  # fmt: skip
    assert snap["inventory"]["reserved"] == {"widget": 0, "gadget": 0, "gizmo": 0}


def test_choreography_reaches_the_same_outcome_with_events() -> None:
    engine = engine_for(mode="choreography", orders=1)
    engine.apply({"type": "decline_next_payment"})
    events = run_until(engine, 10_000)
    compensated = [e["step"] for e in events if e["type"] == "step_compensated"]
    assert compensated == ["reserve_stock", "create_order"]
    sent = [e for e in events if e["type"] == "message_sent"]
    assert all("orchestrator" not in (e["src"], e["dst"]) for e in sent)
    assert engine.snapshot()["orders"]["o-1"]["status"] == "rejected"
    assert engine.all_done() and not engine.problems()


def test_a_down_service_is_retried_with_exponential_backoff() -> None:
    engine = engine_for(orders=1, faults={**CALM, "services_down": ["payment"]})
    events = run_until(engine, 6_000)
    backoffs = [e["backoff_ms"] for e in events if e["type"] == "retry" and e["dst"] == "payment"]
    assert backoffs[:4] == [200, 400, 800, 1600]
    engine.apply({"type": "set_service_down", "service": "payment", "down": False})
    run_until(engine, 30_000)
    assert engine.snapshot()["sagas"][0]["status"] == "completed"


def test_a_slow_reply_times_out_and_the_resend_is_deduplicated() -> None:
    engine = engine_for(orders=3, faults={**CALM, "timeout_rate": 0.5})
    events = run_until(engine, 60_000)
    assert any(e["type"] == "timeout" for e in events)
    assert any(e["type"] == "message_received" and e["outcome"] == "duplicate_ignored"
               for e in events)  # fmt: skip
    assert engine.all_done() and not engine.problems()


def test_orchestrator_crash_after_a_step_resumes_from_the_log() -> None:
    engine = engine_for(orders=1)
    engine.advance(150)
    engine.apply({"type": "crash_orchestrator", "when": "after_next_step"})
    events = run_until(engine, 3_000)
    crash = next(e for e in events if e["type"] == "orchestrator_crashed")
    assert crash["running_sagas"] == 1
    saga = engine.snapshot()["sagas"][0]
    assert saga["status"] == "running"
    assert [s["status"] for s in saga["steps"]][:2] == ["done", "pending"]
    engine.apply({"type": "restart_orchestrator"})
    events = run_until(engine, 20_000)
    assert events[0]["type"] == "orchestrator_restarted" or any(
        e["type"] == "orchestrator_restarted" for e in events)  # fmt: skip
    assert engine.snapshot()["sagas"][0]["status"] == "completed"
    assert engine.sim.st["flags"]["crash_running"] == ["s-1"]


def test_replies_to_a_crashed_orchestrator_are_redelivered_then_resent_commands_deduped() -> None:
    engine = engine_for(orders=4, order_interval_ms=100)
    engine.advance(300)
    engine.apply({"type": "crash_orchestrator", "when": "now"})
    events = run_until(engine, 4_000)
    assert any(e["type"] == "retry" and e["dst"] == "orchestrator" for e in events)
    engine.apply({"type": "restart_orchestrator"})
    events = run_until(engine, 40_000)
    assert any(e["type"] == "message_received" and e["outcome"] == "duplicate_ignored"
               for e in events)  # fmt: skip
    assert engine.all_done() and not engine.problems()


def test_stop_faults_cancels_a_scheduled_crash_and_brings_everything_back() -> None:
    engine = engine_for(orders=6, faults={**CALM, "orchestrator_crash_at_ms": 5_000,
                                          "services_down": ["shipping"]})  # fmt: skip
    engine.advance(1_000)
    engine.apply({"type": "stop_faults"})
    events = run_until(engine, 30_000)
    assert not any(e["type"] == "orchestrator_crashed" for e in events)
    assert engine.all_done() and not engine.problems()
    engine = engine_for(orders=6, faults={**CALM, "orchestrator_crash_at_ms": 500})
    run_until(engine, 2_000)
    assert not engine.snapshot()["orchestrator"]["up"]
    engine.apply({"type": "stop_faults"})
    run_until(engine, 30_000)
    assert engine.snapshot()["orchestrator"]["up"]
    assert engine.all_done() and not engine.problems()


def test_a_compensation_that_keeps_failing_leaves_the_saga_stuck_for_manual_action() -> None:
    engine = engine_for(orders=1, compensation_max_attempts=3,
                        faults={**CALM, "compensation_failure_rate": 1.0},
                        objectives=["stuck_resolved"])  # fmt: skip
    engine.apply({"type": "decline_next_payment"})
    events = run_until(engine, 20_000)
    retries = [e for e in events if e["type"] == "compensation_retry"]
    assert [e["attempt"] for e in retries] == [1, 2]
    assert engine.snapshot()["sagas"][0]["status"] == "failed"
    assert engine.snapshot()["inventory"]["reserved"] != {"widget": 0, "gadget": 0, "gizmo": 0}
    engine.apply({"type": "set_fault", "fault": "compensation_failure_rate", "value": 0})
    engine.apply({"type": "retry_stuck_sagas"})
    run_until(engine, 30_000)
    assert engine.snapshot()["sagas"][0]["status"] == "compensated"
    assert engine.objectives()[0]["met"]
    assert not engine.problems()


def test_a_failing_compensation_is_retried_until_it_succeeds_in_choreography_too() -> None:
    engine = engine_for(mode="choreography", orders=1,
                        faults={**CALM, "compensation_failure_rate": 0.7})  # fmt: skip
    engine.apply({"type": "decline_next_payment"})
    events = run_until(engine, 60_000)
    assert any(e["type"] == "retry" and e["kind"] == "PaymentDeclined" for e in events)
    assert engine.snapshot()["sagas"][0]["status"] == "compensated"


def test_two_phase_commit_coordinator_crash_after_prepare_blocks_participants() -> None:
    engine = engine_for(mode="two_phase_commit", orders=6, order_interval_ms=150,
                        stock={"widget": 1000, "gadget": 1000, "gizmo": 1000})  # fmt: skip
    engine.apply({"type": "crash_orchestrator", "when": "after_next_step"})
    events = run_until(engine, 5_000)
    assert any(e["type"] == "participants_blocked" for e in events)
    snap = engine.snapshot()
    tpc = snap["two_pc"]
    assert not snap["orchestrator"]["up"]
    assert {row["participant"] for row in tpc["in_doubt"]} == {
        "order", "inventory", "payment", "shipping"}  # fmt: skip
    (blocked_txn,) = engine.sim.st["flags"]["tpc_crash_open"]
    assert blocked_txn in tpc["locks"].values()
    assert sum(snap["inventory"]["reserved"].values()) > 0  # stock held by the prepared txn
    order_id = next(t["order_id"] for t in tpc["transactions"] if t["id"] == blocked_txn)
    assert snap["orders"][order_id]["status"] == "pending"
    engine.apply({"type": "restart_orchestrator"})
    run_until(engine, 40_000)
    snap = engine.snapshot()
    assert snap["two_pc"]["locks"] == {} and snap["two_pc"]["in_doubt"] == []
    assert snap["orders"][order_id]["status"] == "rejected"  # presumed abort
    assert engine.all_done() and not engine.problems()


def test_while_coordinator_a_is_down_b_keeps_going_and_queues_behind_the_in_doubt_lock() -> None:
    big = {"widget": 1000, "gadget": 1000, "gizmo": 1000}
    engine = engine_for(mode="two_phase_commit", orders=40, order_interval_ms=100, stock=big)
    engine.apply({"type": "crash_orchestrator", "when": "after_next_step"})
    events = run_until(engine, 5_000)
    crashed_at = next(e["t"] for e in events if e["type"] == "orchestrator_crashed")
    (blocked,) = engine.sim.st["flags"]["tpc_crash_open"]
    txns = engine.snapshot()["two_pc"]["transactions"]
    assert next(t for t in txns if t["id"] == blocked)["coord"] == "A"
    # B's transactions on the same product wait behind the lock A's participant holds ...
    waits = [e for e in events if e["type"] == "lock_wait" and e["held_by"] == blocked]
    assert waits
    assert engine.snapshot()["two_pc"]["waiting"]
    # ... while those on other products still commit
    assert any(e["type"] == "txn_committed" and e["t"] > crashed_at + 500 for e in events)
    engine.apply({"type": "restart_orchestrator"})
    run_until(engine, 60_000)
    assert engine.all_done() and not engine.problems()
    assert engine.snapshot()["two_pc"]["waiting"] == {}


def test_two_phase_commit_serialises_transactions_on_the_same_lock() -> None:
    engine = engine_for(mode="two_phase_commit", orders=10, order_interval_ms=20)
    events = run_until(engine, 30_000)
    assert any(e["type"] == "lock_wait" for e in events)
    assert engine.all_done() and not engine.problems()


def find_double_charge(idempotent: bool) -> list[int]:
    hits = []
    for seed in range(10):
        engine = engine_for(seed, orders=10, idempotent_consumers=idempotent,
                            faults={**CALM, "duplicate_rate": 0.4})  # fmt: skip
        run_until(engine, 40_000, step=1_000)
        if any(r["charged"] - r["refunded"] > engine.sim.st["order_db"][o]["amount"]
               for o, r in engine.snapshot()["payments"].items()):  # fmt: skip
            hits.append(seed)
    return hits


def test_without_idempotent_consumers_duplicates_double_charge() -> None:
    assert find_double_charge(idempotent=False)


def test_with_idempotent_consumers_the_same_runs_never_double_charge() -> None:
    assert find_double_charge(idempotent=True) == []


def test_refunding_an_overcharge_fixes_the_payment_row() -> None:
    engine = engine_for(orders=10, idempotent_consumers=False,
                        faults={**CALM, "duplicate_rate": 0.5})  # fmt: skip
    run_until(engine, 40_000, step=1_000)
    over = [p for p in engine.problems() if "charged" in p]
    assert over
    for problem in over:
        engine.apply({"type": "refund_overcharge", "order_id": problem.split()[0]})
    assert not [p for p in engine.problems() if "charged" in p]
    with pytest.raises(CommandError, match="not overcharged"):
        engine.apply({"type": "refund_overcharge", "order_id": over[0].split()[0]})


def test_comparison_counts_messages_and_coupling_per_mode() -> None:
    engine = engine_for(mode="choreography", orders=5, order_interval_ms=100)
    run_until(engine, 10_000)
    engine.apply({"type": "set_mode", "mode": "orchestration"})
    engine.apply({"type": "place_orders", "count": 5})
    run_until(engine, 25_000)
    comparison = engine.snapshot()["comparison"]
    assert comparison["choreography"]["completed"] == 5
    assert comparison["orchestration"]["completed"] == 5
    # the client's PlaceOrder, then six commands and six replies
    assert comparison["orchestration"]["messages_per_saga"] == 13
    # the client's PlaceOrder, then five events with one subscriber each
    assert comparison["choreography"]["messages_per_saga"] == 6
    assert comparison["choreography"]["service_to_service_links"] == [
        "inventory-order", "inventory-payment", "inventory-shipping", "payment-shipping"]  # fmt: skip


def test_snapshot_keeps_contract_keys_complete_for_hundreds_of_orders() -> None:
    big = {"widget": 10_000, "gadget": 10_000, "gizmo": 10_000}
    engine = SagaEngine.create(
        {
            "orders": 300,
            "order_interval_ms": 50,
            "stock": big,
            "faults": {"payment_decline_rate": 0.2, "duplicate_rate": 0.1},
        }
    )
    run_until(engine, 60_000, step=1_000)
    snap = engine.snapshot()
    assert len(snap["sagas"]) == len(snap["orders"]) == 300
    assert {s["status"] for s in snap["sagas"]} <= {"completed", "compensated"}
    assert set(snap["payments"]) <= set(snap["orders"])
    assert json_roundtrip(snap) == snap
    assert len(json.dumps(snap)) < 160_000
    engine.apply({"type": "place_orders", "count": 50})
    run_until(engine, 120_000, step=1_000)
    assert len(json.dumps(engine.snapshot())) < 160_000  # bounded beyond a few hundred


def test_a_simulated_second_costs_a_few_ms() -> None:
    engine = SagaEngine.create(None, 0)
    engine.advance(1_000)
    started = time.process_time()
    for second in range(2, 32):
        engine.advance(second * 1_000)
        engine.snapshot()
    per_second_ms = (time.process_time() - started) / 30 * 1000
    assert per_second_ms < 5, per_second_ms
