"""Every Kafka scenario file loads, keeps the engine contract and can be won by a script."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from labs.engines.kafka import KafkaEngine
from tests.labs.engine_contract import assert_contract, run

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "site/microservices/labs/kafka"
SLUGS = [
    "keys-and-ordering",
    "scaling-consumers",
    "rebalancing",
    "durability",
    "isr-shrink",
    "retention-and-compaction",
]


def load(slug: str) -> dict:
    return yaml.safe_load((SCENARIO_DIR / f"{slug}.yaml").read_text())


def test_the_lessons_slugs_exist_and_nothing_else():
    assert sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml")) == sorted(SLUGS)


@pytest.mark.parametrize("slug", SLUGS)
def test_scenario_file_shape_and_contract(slug):
    doc = load(slug)
    assert set(doc) == {"title", "summary", "brief", "duration_s", "scenario"}
    assert isinstance(doc["duration_s"], int) and doc["duration_s"] > 0
    KafkaEngine.validate_scenario(doc["scenario"])
    assert_contract(KafkaEngine, doc["scenario"], 7, 20_000, WINS[slug][:2])


def _broker_of(engine: KafkaEngine, topic: str, p: int, role: str) -> list[int]:
    part = engine.state["cluster"]["topics"][topic]["partitions"][p]
    if role == "leader":
        return [part["leader"]]
    return [b for b in part["replicas"] if b != part["leader"]]


def cmd(type_: str, **fields) -> dict:
    return {"type": type_, **fields}


# Scripted winning command sequences: (simulated ms, command).
WINS: dict[str, list[tuple[int, dict]]] = {
    "keys-and-ordering": [
        (40_000, cmd("set_keys", producer="p1", keys=0)),
        (60_000, cmd("set_keys", producer="p1", keys=8)),
        (61_000, cmd("add_partitions", topic="orders", count=6)),
    ],
    "scaling-consumers": [
        (15_000, cmd("add_consumer", group="g1")),
        (15_500, cmd("add_consumer", group="g1")),
        (90_000, cmd("add_consumer", group="g1")),
        (91_000, cmd("add_consumer", group="g1")),
    ],
    "rebalancing": [
        (10_000, cmd("add_consumer", group="g1")),
        (20_000, cmd("set_assignor", group="g1", assignor="cooperative-sticky")),
        (21_000, cmd("add_consumer", group="g1")),
    ],
    "isr-shrink": [
        (5_000, cmd("slow_follower", broker=1, delay_ms=12_000)),
        (20_000, cmd("slow_follower", broker=2, delay_ms=12_000)),
        (50_000, cmd("slow_follower", broker=1, delay_ms=0)),
        (50_000, cmd("slow_follower", broker=2, delay_ms=0)),
    ],
    "retention-and-compaction": [
        (20_000, cmd("produce_record", producer="p2", key="user-9", value="v", tombstone=False)),
        (20_000, cmd("produce_record", producer="p2", key="user-9", value="", tombstone=True)),
    ],
}


def _durability_script(engine: KafkaEngine) -> list[tuple[int, dict]]:
    leader = _broker_of(engine, "payments", 0, "leader")[0]
    followers = _broker_of(engine, "payments", 0, "followers")
    script = [(5_000, cmd("slow_follower", broker=b, delay_ms=5_000)) for b in followers]
    script.append((20_000, cmd("stop_broker", broker=leader)))
    script += [
        (30_000, cmd("set_acks", producer="p1", acks="all", idempotent=True)),
        (30_000, cmd("set_min_insync", topic="payments", value=2)),
        (30_000, cmd("start_broker", broker=leader)),
    ]
    script += [(30_000, cmd("slow_follower", broker=b, delay_ms=0)) for b in followers]
    script.append((45_000, cmd("stop_broker", broker=followers[0])))
    return script


WINS["durability"] = [(5_000, cmd("slow_follower", broker=1, delay_ms=5_000))]


@pytest.mark.parametrize("slug", SLUGS)
def test_scenario_is_winnable(slug):
    scenario = load(slug)["scenario"]
    engine = KafkaEngine.create(scenario, seed=3)
    script = _durability_script(engine) if slug == "durability" else WINS[slug]
    run(engine, 150_000, 1000, script)
    objectives = engine.objectives()
    assert objectives and all(o["met"] for o in objectives), objectives


@pytest.mark.parametrize("slug", SLUGS)
def test_scenario_is_not_won_by_doing_nothing(slug):
    engine = KafkaEngine.create(load(slug)["scenario"], seed=3)
    run(engine, 150_000, 1000)
    assert not all(o["met"] for o in engine.objectives())


@pytest.mark.parametrize("slug", SLUGS)
def test_checkpoints_stay_small_over_a_whole_run(slug):
    doc = load(slug)
    engine = KafkaEngine.create(doc["scenario"], seed=1)
    engine.advance(doc["duration_s"] * 1000)
    state = json.loads(json.dumps(engine.dump()))
    assert len(json.dumps(state)) < 150_000
    restored = KafkaEngine.load(state)
    assert restored.advance(engine.now_ms + 5000) == engine.advance(engine.now_ms + 5000)
