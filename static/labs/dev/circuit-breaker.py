"""Write circuit-breaker.data.js: engine snapshots for the standalone visualiser harness.

Run from the repository root: .venv/bin/python static/labs/dev/circuit-breaker.py
Then serve the repository (python -m http.server) and open
/static/labs/dev/circuit-breaker.html?frame=outage (or storm, recovered).
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from labs.engines.breaker import BreakerEngine  # noqa: E402
from tests.labs.engine_contract import run  # noqa: E402

SCENARIOS = ROOT / "site/microservices/labs/circuit-breaker"


def scenario(slug: str) -> dict:
    return yaml.safe_load((SCENARIOS / f"{slug}.yaml").read_text())["scenario"]


def main() -> None:
    frames, events = {}, {}
    engine = BreakerEngine.create(scenario("outage-and-recovery"), 1)
    outage = [
        (60_000, {"type": "start_outage", "mode": "error"}),
        (90_000, {"type": "stop_outage"}),
    ]
    events["outage"] = run(engine, 82_400, 1000, outage)
    frames["outage"] = engine.snapshot()
    events["recovered"] = events["outage"] + run(engine, 110_000, 1000, outage[1:])
    frames["recovered"] = engine.snapshot()
    engine = BreakerEngine.create(scenario("retry-storm"), 1)
    events["storm"] = run(engine, 60_000, 1000)
    frames["storm"] = engine.snapshot()
    data = {"frames": frames, "events": {k: v[-50:] for k, v in events.items()}}
    out = Path(__file__).with_suffix("").with_name("circuit-breaker.data.js")
    out.write_text("export default " + json.dumps(data, separators=(",", ":")) + ";\n")
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
