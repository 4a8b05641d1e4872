"""Learners' commands for the circuit-breaker lab: validate everything, then change state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labs.engines import CommandError, ScenarioError
from labs.engines.breaker_core import STATES, CircuitBreaker, IllegalStateTransition
from labs.engines.breaker_scenario import BACKOFF_KINDS, COMMANDS, OUTAGE_MODES, check_value

if TYPE_CHECKING:
    from labs.engines.breaker import BreakerEngine

_SCHEMA = {c["type"]: c for c in COMMANDS}
_BREAKER_FIELDS = {f["name"]: f for f in _SCHEMA["configure_breaker"]["fields"]}


def _field(command: dict[str, Any], name: str, kind: str, low: Any, high: Any) -> Any:
    if name not in command:
        raise CommandError(f"missing field {name!r}")
    try:
        return check_value(kind, low, high, command[name], name)
    except ScenarioError as error:
        raise CommandError(f"{name} {error.reason}") from None


def _only(command: dict[str, Any], *allowed: str) -> None:
    extra = sorted(set(command) - {"type", *allowed})
    if extra:
        raise CommandError(f"unknown field(s): {', '.join(extra)}")


def apply_command(engine: BreakerEngine, command: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(command, dict) or not isinstance(command.get("type"), str):
        raise CommandError("a command is a mapping with a 'type'")
    kind = command["type"]
    if kind not in _SCHEMA:
        raise CommandError(f"unknown command {kind!r}")
    if kind in engine.sc["locked"]:
        raise CommandError(f"{_SCHEMA[kind]['label']} is fixed in this scenario")
    now = engine.now_ms
    effects: list[dict[str, Any]] = []
    handler = _HANDLERS[kind]
    handler(engine, command, now, effects)
    if engine.breaker.transitions:
        engine._drain(effects)
    clean = {k: v for k, v in command.items()}
    return {"type": "command_applied", "t": now, "command": clean, "effects": effects}


def _set_rps(engine: BreakerEngine, command: dict, now: int, effects: list) -> None:
    _only(command, "value")
    value = _field(command, "value", "num", 0, 500)
    engine.rps = value
    # The next arrival comes after now: events at now could not be returned any more.
    engine.next_arrival = max(now + 1, engine._gap(now)) if value > 0 else None


def _set_error_rate(engine: BreakerEngine, command: dict, now: int, effects: list) -> None:
    _only(command, "value")
    engine.error_rate = _field(command, "value", "num", 0, 1)


def _set_latency(engine: BreakerEngine, command: dict, now: int, effects: list) -> None:
    _only(command, "median_ms", "spread")
    median = _field(command, "median_ms", "int", 1, 30000)
    spread = _field(command, "spread", "num", 0, 2) if "spread" in command else engine.spread
    engine.latency_ms, engine.spread = median, spread


def _set_capacity(engine: BreakerEngine, command: dict, now: int, effects: list) -> None:
    _only(command, "value")
    engine.capacity = _field(command, "value", "int", 1, 5000)


def _start_outage(engine: BreakerEngine, command: dict, now: int, effects: list) -> None:
    _only(command, "mode", "latency_factor")
    mode = command.get("mode", "error")
    if mode not in OUTAGE_MODES:
        raise CommandError(f"mode must be one of {', '.join(OUTAGE_MODES)}")
    factor = 10.0
    if "latency_factor" in command:
        factor = _field(command, "latency_factor", "num", 1, 100)
    if engine.outage is not None:
        raise CommandError("an outage is already running; end it first")
    effects.append(engine._outage_on(now, mode, factor, None))


def _stop_outage(engine: BreakerEngine, command: dict, now: int, effects: list) -> None:
    _only(command)
    if engine.outage is None:
        raise CommandError("there is no outage to end")
    effects.append(engine._outage_off(now, None))


def _set_timeout(engine: BreakerEngine, command: dict, now: int, effects: list) -> None:
    _only(command, "value")
    engine.timeout_ms = _field(command, "value", "int", 10, 60000)


def _configure_retries(engine: BreakerEngine, command: dict, now: int, effects: list) -> None:
    _only(command, "max_attempts", "backoff", "initial_ms", "multiplier", "max_ms")
    retry = dict(engine.retry)
    specs = {
        "max_attempts": ("int", 1, 10),
        "backoff": ("choice", BACKOFF_KINDS, None),
        "initial_ms": ("int", 1, 60000),
        "multiplier": ("num", 1, 10),
        "max_ms": ("int", 1, 600000),
    }
    for name, (kind, low, high) in specs.items():
        if name in command:
            retry[name] = _field(command, name, kind, low, high)
    engine.retry = retry


def _toggle_fallback(engine: BreakerEngine, command: dict, now: int, effects: list) -> None:
    _only(command, "enabled")
    if "enabled" in command:
        engine.fallback = _field(command, "enabled", "bool", None, None)
    else:
        engine.fallback = not engine.fallback


def _set_bulkhead(engine: BreakerEngine, command: dict, now: int, effects: list) -> None:
    _only(command, "value")
    engine.bulkhead = _field(command, "value", "int", 0, 5000)


def _configure_breaker(engine: BreakerEngine, command: dict, now: int, effects: list) -> None:
    from labs.engines.breaker_scenario import breaker_config_from

    _only(command, *_BREAKER_FIELDS, "max_wait_duration_in_open_ms")
    raw = {k: v for k, v in command.items() if k != "type"}
    try:
        config = breaker_config_from(raw, "", engine.breaker.config.to_dict())
    except ScenarioError as error:
        raise CommandError(str(error)) from None
    # Resilience4j cannot change a live breaker's config: the registry replaces it by a new,
    # CLOSED one. Calls in flight report to the new breaker.
    previous = engine.breaker.state
    replacement = CircuitBreaker(config, now)
    if previous != "CLOSED":
        replacement.transitions.append(
            {"t": now, "from": previous, "to": "CLOSED", "reason": "reconfigured"}
        )
    engine.breaker = replacement


def _transition(state: str, reason: str):
    def handler(engine: BreakerEngine, command: dict, now: int, effects: list) -> None:
        _only(command)
        engine.breaker.transition_to(state, now, reason)

    return handler


def _reset(engine: BreakerEngine, command: dict, now: int, effects: list) -> None:
    _only(command)
    engine.breaker.reset(now)


def _transition_breaker(engine: BreakerEngine, command: dict, now: int, effects: list) -> None:
    _only(command, "state")
    state = command.get("state")
    if state not in STATES:
        raise CommandError(f"state must be one of {', '.join(STATES)}")
    try:
        engine.breaker.transition_to(state, now, "manual")
    except IllegalStateTransition as error:
        raise CommandError(f"Resilience4j refuses this: {error}") from None


_HANDLERS = {
    "set_rps": _set_rps,
    "set_error_rate": _set_error_rate,
    "set_latency": _set_latency,
    "set_capacity": _set_capacity,
    "start_outage": _start_outage,
    "stop_outage": _stop_outage,
    "set_timeout": _set_timeout,
    "configure_retries": _configure_retries,
    "toggle_fallback": _toggle_fallback,
    "set_bulkhead": _set_bulkhead,
    "configure_breaker": _configure_breaker,
    "force_open_breaker": _transition("FORCED_OPEN", "forced_open"),
    "disable_breaker": _transition("DISABLED", "disabled"),
    "reset_breaker": _reset,
    "transition_breaker": _transition_breaker,
}
