"""Replay a run from its scenario, seed and command log: the engines are deterministic, so the
recomputed events are the ones the run streamed (tests/labs/test_platform_replay.py proves it)."""

from __future__ import annotations

from typing import Any

from labs.driver import apply_logged
from labs.engines import get_engine
from labs.models import LabRun

# Entries the platform adds to a run's stream; they are not engine events.
PLATFORM_TYPES = frozenset({"tick", "end", "paused", "resumed", "speed", "interrupted"})
MAX_SNAPSHOTS = 600


def replay_entries(run: LabRun, until_ms: int | None = None) -> list[dict[str, Any]]:
    """Engine events in stream order, with `tick` entries (snapshot + objectives) in between."""
    engine = get_engine(run.lab).create(run.scenario, run.seed)
    end_ms = run.sim_ms if until_ms is None else until_ms
    every = max(1000, -(-end_ms // MAX_SNAPSHOTS // 1000) * 1000)
    out: list[dict[str, Any]] = []
    scratch_log: list[dict[str, Any]] = []

    def advance(to_ms: int) -> None:
        while engine.now_ms < to_ms:
            target = min(to_ms, (engine.now_ms // every + 1) * every)
            out.extend(engine.advance(target))
            if target % every == 0 or target == end_ms:
                out.append(
                    {
                        "type": "tick",
                        "t": engine.now_ms,
                        "snapshot": engine.snapshot(),
                        "objectives": engine.objectives(),
                    }
                )

    for entry in run.command_log:
        advance(min(int(entry["t"]), end_ms))
        traced = {"request_id": entry["request_id"]} if entry.get("request_id") else {}
        if "rejected" in entry:
            out.append(
                {
                    "t": engine.now_ms,
                    "type": "command_rejected",
                    "command": entry["command"],
                    "reason": entry["rejected"],
                    **traced,
                }
            )
        else:
            command = {**entry["command"], **{f"_{k}": v for k, v in traced.items()}}
            out.append(apply_logged(engine, command, scratch_log))
    advance(end_ms)
    return out


def engine_events(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if e.get("type") not in PLATFORM_TYPES]
