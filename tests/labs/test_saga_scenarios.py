"""Every saga scenario file loads, keeps the engine contract and can be won by a scripted play."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from labs.engines import get_engine
from labs.engines.saga import SagaEngine
from tests.labs.engine_contract import assert_contract

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "site/microservices/labs/saga"
REQUIRED = {
    "happy-path",
    "payment-declined",
    "orchestrator-crash",
    "duplicates",
    "orchestration-vs-choreography",
    "two-phase-commit",
}


def load(slug: str) -> dict[str, Any]:
    return yaml.safe_load((SCENARIO_DIR / f"{slug}.yaml").read_text())


def test_required_scenarios_exist_with_their_keys() -> None:
    slugs = {p.stem for p in SCENARIO_DIR.glob("*.yaml")}
    assert slugs >= REQUIRED
    for slug in slugs:
        data = load(slug)
        assert {"title", "summary", "brief", "duration_s", "scenario"} <= set(data), slug
        get_engine("saga").validate_scenario(data["scenario"])


@pytest.mark.parametrize("slug", sorted(REQUIRED))
def test_scenario_keeps_the_contract(slug: str) -> None:
    assert_contract(SagaEngine, load(slug)["scenario"], seed=7, to_ms=12_000)


Step = dict[str, Any] | Callable[[SagaEngine], list[dict[str, Any]]]


def play(slug: str, script: list[tuple[int, Step]], until_ms: int, seed: int = 0) -> SagaEngine:
    """Advance in 250 ms slices, applying each scripted step once its time has come. A step is a
    command, or a function of the engine returning the commands to send (a learner reacting)."""
    engine = SagaEngine.create(load(slug)["scenario"], seed)
    pending = sorted(script, key=lambda s: s[0])
    while engine.now_ms < until_ms and not engine.finished:
        engine.advance(engine.now_ms + 250)
        while pending and pending[0][0] <= engine.now_ms:
            _, step = pending.pop(0)
            for command in step(engine) if callable(step) else [step]:
                engine.apply(command)
    return engine


def assert_won(engine: SagaEngine) -> None:
    missing = [o["id"] for o in engine.objectives() if not o["met"]]
    assert not missing, (missing, engine.summary(), engine.problems()[:5])
    assert engine.finished


def test_happy_path_is_winnable_and_shows_the_semantic_lock() -> None:
    refusals: list[str] = []

    def try_cancel(engine: SagaEngine) -> list[dict[str, Any]]:
        pending = [o for o, v in engine.snapshot()["orders"].items() if v["status"] == "pending"]
        assert pending
        with pytest.raises(Exception) as refused:
            engine.apply({"type": "cancel_order", "order_id": pending[0]})
        refusals.append(str(refused.value))
        return []

    engine = play("happy-path", [(600, try_cancel)], until_ms=60_000)
    assert_won(engine)
    assert "semantic lock" in refusals[0]
    assert all(s["status"] == "completed" for s in engine.snapshot()["sagas"])


def test_payment_declined_is_winnable() -> None:
    engine = play("payment-declined", [(50, {"type": "decline_next_payment"})], until_ms=90_000)
    assert_won(engine)


def test_orchestrator_crash_is_winnable() -> None:
    script: list[tuple[int, Step]] = [
        (2_000, {"type": "crash_orchestrator", "when": "now"}),
        (6_000, {"type": "restart_orchestrator"}),
    ]
    engine = play("orchestrator-crash", script, until_ms=90_000)
    assert_won(engine)


def test_duplicates_is_winnable_by_finding_and_fixing_the_double_charge() -> None:
    def fix(engine: SagaEngine) -> list[dict[str, Any]]:
        if engine.sim.st["flags"].get("double_charge_seen") and not engine.sim.st["idempotent"]:
            return [{"type": "set_idempotent_consumers", "enabled": True}]
        return []

    def refund(engine: SagaEngine) -> list[dict[str, Any]]:
        snap = engine.snapshot()
        commands = []
        for order_id, order in snap["orders"].items():
            row = snap["payments"].get(order_id, {"charged": 0, "refunded": 0})
            due = order["amount"] if order["status"] == "approved" else 0
            if order["status"] != "pending" and row["charged"] - row["refunded"] > due:
                commands.append({"type": "refund_overcharge", "order_id": order_id})
        return commands

    script: list[tuple[int, Step]] = [(t, fix) for t in range(1_000, 30_000, 1_000)]
    script += [(t, refund) for t in range(20_000, 120_000, 5_000)]
    engine = play("duplicates", script, until_ms=120_000)
    assert_won(engine)
    assert engine.summary()["double_charges"] >= 1


def test_orchestration_vs_choreography_is_winnable() -> None:
    script: list[tuple[int, Step]] = [
        (8_000, {"type": "set_mode", "mode": "orchestration"}),
        (8_000, {"type": "place_orders", "count": 10}),
    ]
    engine = play("orchestration-vs-choreography", script, until_ms=120_000)
    assert_won(engine)
    comparison = engine.snapshot()["comparison"]
    orch, chor = comparison["orchestration"], comparison["choreography"]
    # the orchestrator doubles the traffic (command + reply) but no service depends on another
    assert orch["messages_per_saga"] > chor["messages_per_saga"]
    assert orch["service_to_service_links"] == []
    assert len(chor["service_to_service_links"]) >= 4


def test_two_phase_commit_is_winnable() -> None:
    script: list[tuple[int, Step]] = [
        (100, {"type": "crash_orchestrator", "when": "after_next_step"}),
        (6_000, {"type": "restart_orchestrator"}),
        (8_000, {"type": "set_mode", "mode": "orchestration"}),
        (8_000, {"type": "place_orders", "count": 4}),
        (8_500, {"type": "crash_orchestrator", "when": "now"}),
        (11_000, {"type": "restart_orchestrator"}),
    ]
    engine = play("two-phase-commit", script, until_ms=120_000)
    assert_won(engine)
