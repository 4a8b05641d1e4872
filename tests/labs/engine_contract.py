"""Checks every engine must pass; each engine's test module calls these with its own scenarios."""

from __future__ import annotations

from typing import Any

from labs.engines import Engine, json_roundtrip


def run(engine: Engine, to_ms: int, step_ms: int, commands: list[tuple[int, dict]] = ()) -> list:
    """Advance in slices of step_ms, applying each (t, command) once now_ms reaches t."""
    events: list[dict[str, Any]] = []
    pending = sorted(commands, key=lambda c: c[0])
    t = engine.now_ms
    while t < to_ms:
        t = min(to_ms, t + step_ms)
        while pending and pending[0][0] <= t:
            at, command = pending.pop(0)
            events += engine.advance(at)
            engine.apply(command)
        events += engine.advance(t)
    return events


def assert_contract(
    engine_cls: type[Engine],
    scenario: dict | None,
    seed: int,
    to_ms: int,
    commands: list[tuple[int, dict]] = (),
) -> list[dict[str, Any]]:
    """Determinism, slice invariance, dump/load invariance and event shape. Returns the events."""
    reference = run(engine_cls.create(scenario, seed), to_ms, 1000, commands)
    assert reference, "the scenario produced no events"
    last_t = 0
    for event in reference:
        assert isinstance(event["t"], int) and isinstance(event["type"], str), event
        assert event["t"] >= last_t, "events out of time order"
        last_t = event["t"]
    assert json_roundtrip(reference) == reference, "events must be JSON-ready"

    assert run(engine_cls.create(scenario, seed), to_ms, 1000, commands) == reference
    assert run(engine_cls.create(scenario, seed), to_ms, 250, commands) == reference, "slicing"

    engine = engine_cls.create(scenario, seed)
    first = run(engine, to_ms // 2, 1000, [c for c in commands if c[0] <= to_ms // 2])
    restored = engine_cls.load(json_roundtrip(engine.dump()))
    assert restored.now_ms == engine.now_ms
    rest = run(restored, to_ms, 1000, [c for c in commands if c[0] > to_ms // 2])
    assert first + rest == reference, "dump()/load() changed later events"

    assert json_roundtrip(restored.snapshot()) == restored.snapshot()
    for objective in restored.objectives():
        assert {"id", "title", "met"} <= set(objective)
    return reference


SCENARIO_FILE_KEYS = {"title", "summary", "brief", "duration_s", "scenario"}


def assert_scenario_winnable(
    engine_cls: type[Engine],
    doc: dict[str, Any],
    seed: int,
    to_ms: int,
    commands: list[tuple[int, dict]],
) -> None:
    """A scenario file has the platform's keys, keeps the contract, and the scripted commands
    meet every objective it shows by `to_ms`."""
    assert set(doc) >= SCENARIO_FILE_KEYS, sorted(SCENARIO_FILE_KEYS - set(doc))
    assert_contract(engine_cls, doc["scenario"], seed, to_ms, commands)
    engine = engine_cls.create(doc["scenario"], seed)
    run(engine, to_ms, 1000, commands)
    objectives = engine.objectives()
    assert objectives and all(o["met"] for o in objectives), objectives
