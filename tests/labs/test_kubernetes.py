"""The Kubernetes lab: HPA formula, rolling-update bounds, self-healing, scenarios (each
winnable), commands, properties and speed."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.engines import CommandError, ScenarioError, get_engine, json_roundtrip
from labs.engines.kubernetes import (
    KubernetesEngine,
    hpa_desired_replicas,
    resolve_surge_unavailable,
)
from tests.labs.engine_contract import assert_contract, assert_scenario_winnable, run

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "site/microservices/labs/kubernetes"
SLUGS = ["self-healing", "rolling-update", "autoscaling"]


def load_scenario(slug: str) -> dict:
    return yaml.safe_load((SCENARIO_DIR / f"{slug}.yaml").read_text())


WINNING = {
    "self-healing": (
        40_000,
        [
            (2_000, {"type": "delete_pod", "pod": "random"}),
            (9_000, {"type": "hang_pod", "pod": "random"}),
            (9_000, {"type": "set_ready", "pod": "random", "ready": False}),
            (12_000, {"type": "set_ready", "pod": "random", "ready": True}),
            (15_000, {"type": "kill_node", "node": "node-2"}),
        ],
    ),
    "rolling-update": (
        80_000,
        [
            (2_000, {"type": "set_image", "image": "web:1.1"}),
            (20_000, {"type": "set_image", "image": "web:1.2-crash"}),
            (60_000, {"type": "rollback"}),
        ],
    ),
    "autoscaling": (
        90_000,
        [(3_000, {"type": "set_load", "rps": 800}), (30_000, {"type": "set_load", "rps": 100})],
    ),
}


def test_registered_under_its_slug():
    assert get_engine("kubernetes") is KubernetesEngine


# ---------------------------------------------------------------- pure pieces


@pytest.mark.parametrize(
    "args, expected",
    [
        ((4, 50, 60), 4),  # ceil(3.33) = 4
        ((4, 90, 60), 6),
        ((4, 65, 60), 4),  # within the 10 % tolerance
        ((4, 200, 60), 10),  # clamped to max
        ((4, 10, 60), 1),
        ((50, 90, 75, 0.1, 1, 100), 60),  # the Kubernetes docs example
        ((3, 30, 60, 0.1, 2, 10), 2),  # clamped to min
        ((12, 60, 60, 0.1, 1, 10), 10),  # above max even when in tolerance
    ],
)
def test_hpa_formula(args, expected):
    assert hpa_desired_replicas(*args) == expected


@pytest.mark.parametrize(
    "replicas, surge, unavailable, expected",
    [
        (4, "25%", "25%", (1, 1)),
        (10, "25%", "25%", (3, 2)),  # surge rounds up, unavailable rounds down
        (3, "10%", "10%", (1, 0)),
        (3, 0, "10%", (0, 1)),  # both 0: unavailable becomes 1
        (5, 2, 0, (2, 0)),
    ],
)
def test_surge_and_unavailable(replicas, surge, unavailable, expected):
    assert resolve_surge_unavailable(replicas, surge, unavailable) == expected


# ---------------------------------------------------------------- behaviour


def test_liveness_restarts_but_readiness_only_removes_endpoint():
    engine = KubernetesEngine.create(load_scenario("self-healing")["scenario"], 0)
    engine.advance(1000)
    pods = sorted(p["name"] for p in engine.s["pods"])
    engine.apply({"type": "hang_pod", "pod": pods[0]})
    engine.apply({"type": "set_ready", "pod": pods[1], "ready": False})
    engine.advance(1500)
    snap = engine.snapshot()
    assert pods[0] not in snap["endpoints"] and pods[1] not in snap["endpoints"]
    engine.advance(6000)
    by_name = {p["name"]: p for p in engine.snapshot()["pods"]}
    assert by_name[pods[0]]["restarts"] == 1, "liveness failed three times: restarted"
    assert by_name[pods[1]]["restarts"] == 0 and not by_name[pods[1]]["ready"]
    assert pods[0] in engine.snapshot()["endpoints"]


def test_dead_node_pods_stay_endpoints_until_the_grace_period():
    engine = KubernetesEngine.create(load_scenario("self-healing")["scenario"], 0)
    engine.advance(1000)
    engine.apply({"type": "kill_node", "node": "node-1"})
    on_node = [p["name"] for p in engine.s["pods"] if p["node"] == "node-1"]
    assert on_node
    events = engine.advance(5500)
    assert set(on_node) <= set(engine.snapshot()["endpoints"])
    assert any(e["type"] == "stats" and e["failing_endpoints"] for e in events)
    events = engine.advance(12_000)
    assert any(e["type"] == "node_not_ready" for e in events)
    assert not any(p["node"] == "node-1" for p in engine.s["pods"])
    assert len(engine.snapshot()["endpoints"]) == 4


def test_missing_image_gives_image_pull_backoff():
    engine = KubernetesEngine.create(load_scenario("rolling-update")["scenario"], 0)
    engine.advance(1000)
    engine.apply({"type": "set_image", "image": "web:1.3-typo"})
    engine.advance(10_000)
    phases = {p["phase"] for p in engine.s["pods"] if p["rs"] == "web-13-typo"}
    assert phases == {"ImagePullBackOff"} or phases == {"ImagePullBackOff", "ContainerCreating"}
    assert len(engine.snapshot()["endpoints"]) >= 3


def test_hpa_respects_max_and_scale_up_limit():
    sc = load_scenario("autoscaling")["scenario"]
    engine = KubernetesEngine.create(sc, 0)
    engine.apply({"type": "set_load", "rps": 5000})
    events = engine.advance(60_000)
    scaled = [e for e in events if e["type"] == "hpa_scaled"]
    assert scaled[0]["to"] == 8, "at most max(2x, +4) per period"
    assert engine.s["deployment"]["replicas"] == 10


@pytest.mark.parametrize(
    "command",
    [
        {"type": "nope"},
        {"type": "delete_pod", "pod": "web-10-nosuch"},
        {"type": "delete_pod", "pod": ""},
        {"type": "kill_node", "node": "node-9"},
        {"type": "restore_node", "node": "node-1"},
        {"type": "set_image", "image": "web:1.0"},
        {"type": "set_image", "image": "nginx"},
        {"type": "rollback"},
        {"type": "set_strategy", "max_surge": "0", "max_unavailable": "0%"},
        {"type": "set_strategy", "max_surge": "lots", "max_unavailable": "1"},
        {"type": "scale", "replicas": 0},
        {"type": "scale", "replicas": 2.5},
        {"type": "set_hpa", "enabled": True, "min": 5, "max": 3, "target_cpu": 50},
        {"type": "set_load", "rps": -1},
        {"type": "set_load", "rps": 10, "x": 1},
    ],
)
def test_bad_commands_are_refused_and_change_nothing(command):
    engine = KubernetesEngine.create(None, 0)
    engine.advance(1000)
    before = engine.dump()
    with pytest.raises(CommandError):
        engine.apply(command)
    assert engine.dump() == before


def test_every_schema_command_applies_with_its_defaults():
    engine = KubernetesEngine.create(None, 0)
    engine.advance(1000)
    order = ["kill_node", "restore_node"]
    specs = sorted(KubernetesEngine.command_schema(), key=lambda s: s["type"] in order)
    for spec in specs:
        command = {"type": spec["type"]} | {f["name"]: f["default"] for f in spec["fields"]}
        assert engine.apply(command)["type"] == "command_applied"
        engine.advance(engine.now_ms + 500)


@pytest.mark.parametrize(
    "scenario, path",
    [
        ({"bogus": 1}, "bogus"),
        ({"nodes": 0}, "nodes"),
        ({"image": "nginx"}, "image"),
        ({"max_surge": "150%"}, "max_surge"),
        ({"hpa": {"min": 5, "max": 2}}, "hpa.max"),
        ({"hpa": {"enabled": "yes"}}, "hpa.enabled"),
        ({"objectives": ["win"]}, "objectives"),
    ],
)
def test_bad_scenarios_are_refused(scenario, path):
    with pytest.raises(ScenarioError) as err:
        KubernetesEngine.create(scenario, 0)
    assert err.value.path == path


# ---------------------------------------------------------------- scenarios


@pytest.mark.parametrize("slug", SLUGS)
def test_scenario_keeps_the_contract_and_is_winnable(slug):
    to_ms, commands = WINNING[slug]
    assert_scenario_winnable(KubernetesEngine, load_scenario(slug), 5, to_ms, commands)


@pytest.mark.parametrize("slug", SLUGS)
def test_scenario_objectives_not_met_by_idling(slug):
    engine = KubernetesEngine.create(load_scenario(slug)["scenario"], 5)
    engine.advance(60_000)
    assert not any(o["met"] for o in engine.objectives())


def test_default_scenario_contract():
    assert_contract(KubernetesEngine, None, 1, 30_000, WINNING["self-healing"][1])


def test_snapshot_is_json_ready_and_small():
    engine = KubernetesEngine.create(load_scenario("autoscaling")["scenario"], 0)
    engine.apply({"type": "set_load", "rps": 5000})
    engine.advance(60_000)
    snap = engine.snapshot()
    assert json_roundtrip(snap) == snap and len(str(snap)) < 20_000


def test_cpu_per_simulated_second():
    engine = KubernetesEngine.create(load_scenario("rolling-update")["scenario"], 0)
    start = time.perf_counter()
    run(engine, 300_000, 1000, [(t * 1000, {"type": "set_image", "image": i})
                                for t, i in ((5, "web:1.1"), (60, "web:1.2-crash"),
                                             (120, "web:1.0"), (180, "web:1.3-typo"))])  # fmt: skip
    per_s = (time.perf_counter() - start) * 1000 / 300
    assert per_s < 5, f"{per_s:.2f} ms per simulated second"


# ---------------------------------------------------------------- properties


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 100),
    st.floats(0, 1000, allow_nan=False),
    st.floats(1, 100, allow_nan=False),
    st.floats(0, 0.5, allow_nan=False),
    st.integers(1, 10),
    st.integers(0, 15),
)
def test_hpa_always_within_bounds(current, metric, target, tolerance, lo, span):
    hi = lo + span
    desired = hpa_desired_replicas(current, metric, target, tolerance, lo, hi)
    assert lo <= desired <= hi
    if current and abs(metric / target - 1) > tolerance:
        assert desired == max(lo, min(hi, math.ceil(current * metric / target)))


strategy_st = st.one_of(st.integers(0, 3), st.sampled_from(["0%", "10%", "25%", "50%", "100%"]))


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 8),
    strategy_st,
    strategy_st,
    st.sampled_from(["web:1.1", "web:1.2-crash", "web:1.3-typo"]),
    st.integers(0, 3),
)
def test_rolling_update_stays_within_surge_and_unavailable(replicas, surge, unav, image, seed):
    scenario = {"nodes": 4, "pods_per_node": 8, "replicas": replicas, "max_surge": surge,
                "max_unavailable": unav}  # fmt: skip
    engine = KubernetesEngine.create(scenario, seed)
    engine.advance(1000)
    engine.apply({"type": "set_image", "image": image})
    max_surge, max_unav = resolve_surge_unavailable(replicas, surge, unav)
    for t in range(1250, 60_000, 250):
        engine.advance(t)
        ready = sum(1 for p in engine.s["pods"] if p["ready"])
        assert ready >= replicas - max_unav, (t, ready)
        assert len(engine.s["pods"]) <= replicas + max_surge, (t, len(engine.s["pods"]))
    if image == "web:1.1":
        assert engine.s["rollout"] is None, "a good image finishes rolling out"
