"""Write saga.data.js: engine snapshots and events for the standalone visualiser harness.

Run from the repository root: .venv/bin/python static/labs/dev/saga.py
Then serve the repository (python -m http.server) and open /static/labs/dev/saga.html?frame=tpc
(frames: declined, duplicates, crash, compare, tpc), or ?play=declined to replay a run live.
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from labs.engines.saga import SagaEngine  # noqa: E402
from tests.labs.engine_contract import run  # noqa: E402

SCENARIOS = ROOT / "site/microservices/labs/saga"


def scenario(slug: str) -> dict:
    return yaml.safe_load((SCENARIOS / f"{slug}.yaml").read_text())["scenario"]


def frame(slug: str, to_ms: int, commands: list, seed: int = 1) -> tuple[dict, list]:
    engine = SagaEngine.create(scenario(slug), seed)
    events = run(engine, to_ms, 1000, commands)
    return engine.snapshot(), events[-250:]


def replay(slug: str, to_ms: int, commands: list, seed: int = 1) -> dict:
    """Snapshots after every simulated second and all events, for live playback."""
    engine = SagaEngine.create(scenario(slug), seed)
    snapshots, events = [engine.snapshot()], []
    for second in range(1, to_ms // 1000 + 1):
        events += run(
            engine,
            second * 1000,
            1000,
            [c for c in commands if c[0] <= second * 1000 and c[0] > (second - 1) * 1000],
        )
        snapshots.append(engine.snapshot())
    return {"snapshots": snapshots, "events": events}


def main() -> None:
    frames, events = {}, {}
    specs = {
        "declined": ("payment-declined", 4_200, [(50, {"type": "decline_next_payment"})]),
        "duplicates": ("duplicates", 12_000, []),
        "crash": (
            "orchestrator-crash",
            4_000,
            [(2_000, {"type": "crash_orchestrator", "when": "now"})],
        ),
        "compare": (
            "orchestration-vs-choreography",
            20_000,
            [
                (8_000, {"type": "set_mode", "mode": "orchestration"}),
                (8_000, {"type": "place_orders", "count": 10}),
            ],
        ),
        "tpc": (
            "two-phase-commit",
            4_500,
            [(100, {"type": "crash_orchestrator", "when": "after_next_step"})],
        ),
    }
    for name, (slug, to_ms, commands) in specs.items():
        frames[name], events[name] = frame(slug, to_ms, commands)
    plays = {
        "declined": replay("payment-declined", 8_000, [(50, {"type": "decline_next_payment"})])
    }
    data = {"frames": frames, "events": events, "plays": plays}
    out = Path(__file__).with_name("saga.data.js")
    out.write_text("export default " + json.dumps(data, separators=(",", ":")) + ";\n")
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
