"""Write kafka.data.js: engine snapshots and events for the standalone visualiser harness.

Run from the repository root: .venv/bin/python static/labs/dev/kafka.py
Then open static/labs/dev/kafka.html?frame=durability (frames: keys, durability, rebalancing,
retention) in a browser, or ?play=durability to replay a run on the simulated clock.
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from labs.engines.kafka import KafkaEngine  # noqa: E402
from tests.labs.engine_contract import run  # noqa: E402

SCENARIOS = ROOT / "site/microservices/labs/kafka"


def scenario(slug: str) -> dict:
    return yaml.safe_load((SCENARIOS / f"{slug}.yaml").read_text())["scenario"]


def leader_of(engine: KafkaEngine, topic: str, p: int) -> int:
    return engine.state["cluster"]["topics"][topic]["partitions"][p]["leader"]


def durability_commands(engine: KafkaEngine) -> list:
    leader = leader_of(engine, "payments", 0)
    part = engine.state["cluster"]["topics"]["payments"]["partitions"][0]
    slow = [b for b in part["replicas"] if b != leader]
    cmds = [(3000, {"type": "slow_follower", "broker": b, "delay_ms": 5000}) for b in slow]
    return cmds + [(15000, {"type": "stop_broker", "broker": leader})]


FRAMES = {
    "keys": ("keys-and-ordering", 30000, lambda e: []),
    "durability": ("durability", 20000, durability_commands),
    "rebalancing": (
        "rebalancing",
        14000,
        lambda e: [
            (5000, {"type": "set_assignor", "group": "g1", "assignor": "cooperative-sticky"}),
            (6000, {"type": "add_consumer", "group": "g1"}),
            (9000, {"type": "stall_consumer", "group": "g1", "consumer": "c2"}),
        ],
    ),
    "retention": ("retention-and-compaction", 40000, lambda e: []),
}


def replay_durability(to_ms: int = 25_000) -> dict:
    """Snapshots every simulated second and the events of a leader crash under acks=1."""
    engine = KafkaEngine.create(scenario("durability"), 1)
    pending = sorted(durability_commands(engine), key=lambda c: c[0])
    snaps, evs = [engine.snapshot()], []
    for t in range(1000, to_ms + 1, 1000):
        while pending and pending[0][0] <= t:
            at, cmd = pending.pop(0)
            evs += engine.advance(at)
            engine.apply(cmd)
        evs += engine.advance(t)
        snaps.append(engine.snapshot())
    return {"snapshots": snaps, "events": [e for e in evs if e["type"] != "stats"]}


def main() -> None:
    frames, events, plays = {}, {}, {}
    for name, (slug, to_ms, commands) in FRAMES.items():
        engine = KafkaEngine.create(scenario(slug), 1)
        evs = run(engine, to_ms, 1000, commands(engine))
        frames[name] = engine.snapshot()
        events[name] = [e for e in evs if e["type"] != "stats"][-60:]
    plays["durability"] = replay_durability()
    data = {"frames": frames, "events": events, "plays": plays}
    out = Path(__file__).with_name("kafka.data.js")
    out.write_text("export default " + json.dumps(data, separators=(",", ":")) + ";\n")
    print(f"wrote {out} ({out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
