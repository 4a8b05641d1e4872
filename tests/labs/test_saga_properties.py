"""Saga guarantees as properties over many seeds and fault mixes.

Each example runs a burst of orders under random faults (and live fault commands), then stops
the faults, restarts the orchestrator and retries stuck sagas (the manual action), and checks
the invariants the lab promises.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labs.engines.saga import SagaEngine
from labs.engines.saga_services import SKUS

rates = st.sampled_from([0.0, 0.0, 0.1, 0.3, 0.6])
fault_mixes = st.fixed_dictionaries(
    {
        "payment_decline_rate": rates,
        "duplicate_rate": rates,
        "out_of_stock_rate": st.sampled_from([0.0, 0.1]),
        "timeout_rate": st.sampled_from([0.0, 0.1, 0.3]),
        "reorder_rate": st.sampled_from([0.0, 0.3]),
        "compensation_failure_rate": st.sampled_from([0.0, 0.3, 0.8]),
        "services_down": st.lists(
            st.sampled_from(["order", "inventory", "payment", "shipping"]), max_size=2, unique=True
        ),  # fmt: skip
    }
)
live_faults = st.lists(
    st.tuples(
        st.integers(200, 7_000),
        st.sampled_from(["crash", "crash_after_step", "down", "decline"]),
        st.sampled_from(["order", "inventory", "payment", "shipping"]),
    ),
    max_size=4,
)
SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def live_command(engine: SagaEngine, kind: str, service: str) -> dict[str, Any] | None:
    st_ = engine.sim.st
    if kind.startswith("crash"):
        if not st_["orch"]["up"] or st_["orch"]["crash_armed"] or st_["orch"]["crash_scheduled"]:
            return None
        if st_["cfg"]["mode"] == "choreography":
            return None
        return {
            "type": "crash_orchestrator",
            "when": "now" if kind == "crash" else "after_next_step",
        }
    if kind == "down":
        return {"type": "set_service_down", "service": service, "down": not st_["down"][service]}
    return {"type": "decline_next_payment"}


def run_with_faults(
    mode: str,
    seed: int,
    orders: int,
    faults: dict[str, Any],
    live: list,
    idempotent: bool,
    limit: int = 0,
) -> tuple[SagaEngine, bool]:
    """Run with faults for 8 s, stop them, then run to the end. Returns (engine, stock_ok)."""
    engine = SagaEngine.create(
        {"mode": mode, "orders": orders, "order_interval_ms": 150, "faults": faults,
         "idempotent_consumers": idempotent, "compensation_max_attempts": limit,
         "stock": {"widget": 12, "gadget": 12, "gizmo": 12}},
        seed,
    )  # fmt: skip
    stock_ok = True
    pending = sorted(live)
    for t in range(250, 8_001, 250):
        engine.advance(t)
        while pending and pending[0][0] <= t:
            _, kind, service = pending.pop(0)
            command = live_command(engine, kind, service)
            if command:
                engine.apply(command)
        stock_ok &= stock_is_sane(engine)
    engine.apply({"type": "stop_faults"})
    for t in range(9_000, 200_001, 1_000):
        engine.advance(t)
        stock_ok &= stock_is_sane(engine)
        if any(s["status"] == "failed" for s in engine.sim.st["sagas"].values()):
            engine.apply({"type": "retry_stuck_sagas"})
        if engine.all_done() and t > 20_000:
            break
    return engine, stock_ok


def stock_is_sane(engine: SagaEngine) -> bool:
    inv = engine.snapshot()["inventory"]
    return all(0 <= inv["reserved"][s] <= inv["on_hand"][s] for s in SKUS)


def check_saga_guarantees(engine: SagaEngine) -> None:
    snap = engine.snapshot()
    assert engine.all_done(), engine.summary()
    assert len(snap["sagas"]) == len(snap["orders"]) == len(engine.sim.st["catalog"])
    for saga in snap["sagas"]:
        order = snap["orders"][saga["order_id"]]
        pay = snap["payments"].get(saga["order_id"], {"charged": 0, "refunded": 0})
        if saga["status"] == "completed":
            assert order["status"] == "approved"
            assert pay["charged"] - pay["refunded"] == order["amount"]
            assert pay["charged"] == order["amount"]  # charged once, never refunded
        else:
            assert saga["status"] == "compensated", saga
            assert order["status"] == "rejected"
            assert pay["charged"] - pay["refunded"] == 0
    assert snap["inventory"]["reserved"] == {s: 0 for s in SKUS}, "a reservation was left behind"
    assert not engine.problems()
    assert engine.sim.st["stats"]["double_charges"] == 0


@SETTINGS
@given(
    mode=st.sampled_from(["orchestration", "choreography"]),
    seed=st.integers(0, 10_000),
    orders=st.integers(1, 14),
    faults=fault_mixes,
    live=live_faults,
    limit=st.sampled_from([0, 0, 3]),
)
def test_every_saga_ends_consistent_once_faults_stop(
    mode: str, seed: int, orders: int, faults: dict[str, Any], live: list, limit: int
) -> None:
    engine, stock_ok = run_with_faults(mode, seed, orders, faults, live, True, limit)
    assert stock_ok, "stock went negative or reservations exceeded stock"
    check_saga_guarantees(engine)


@settings(max_examples=100, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    orders=st.integers(1, 12),
    faults=fault_mixes,
    live=live_faults,
)
def test_two_phase_commit_ends_atomic_once_the_coordinator_is_back(
    seed: int, orders: int, faults: dict[str, Any], live: list
) -> None:
    faults = {**faults, "compensation_failure_rate": 0.0}  # 2PC has no compensations
    engine, stock_ok = run_with_faults("two_phase_commit", seed, orders, faults, live, True)
    assert stock_ok
    snap = engine.snapshot()
    assert engine.all_done()
    for txn in snap["two_pc"]["transactions"]:
        order = snap["orders"][txn["order_id"]]
        pay = snap["payments"].get(txn["order_id"], {"charged": 0, "refunded": 0})
        expected = ("approved", order["amount"]) if txn["state"] == "committed" else ("rejected", 0)
        assert (order["status"], pay["charged"]) == expected
    assert snap["two_pc"]["locks"] == {} and snap["two_pc"]["in_doubt"] == []
    assert not engine.problems()


@settings(max_examples=100, deadline=None)
@given(
    mode=st.sampled_from(["orchestration", "choreography"]),
    seed=st.integers(0, 10_000),
    faults=fault_mixes,
    live=live_faults,
)
def test_without_idempotency_data_may_go_wrong_but_stock_never_negative(
    mode: str, seed: int, faults: dict[str, Any], live: list
) -> None:
    engine, stock_ok = run_with_faults(mode, seed, 10, faults, live, False)
    assert stock_ok
    for row in engine.snapshot()["payments"].values():
        assert row["charged"] >= row["refunded"] >= 0
