"""Learners' commands for the API gateway lab: validate everything, then change state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labs.engines import CommandError, ScenarioError
from labs.engines.gateway_core import STRATEGIES
from labs.engines.gateway_scenario import COMMANDS, REPLICA_STATES, check_value

if TYPE_CHECKING:
    from labs.engines.gateway import GatewayEngine

_SCHEMA = {c["type"]: c for c in COMMANDS}


def _field(command: dict[str, Any], name: str, kind: str, low: Any = None, high: Any = None) -> Any:
    if name not in command:
        raise CommandError(f"missing field {name!r}")
    try:
        return check_value(kind, low, high, command[name], name)
    except ScenarioError as error:
        raise CommandError(f"{name} {error.reason}") from None


def apply_command(engine: GatewayEngine, command: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(command, dict) or not isinstance(command.get("type"), str):
        raise CommandError("a command is a mapping with a 'type'")
    kind = command["type"]
    if kind not in _SCHEMA:
        raise CommandError(f"unknown command {kind!r}")
    if kind in engine.sc["locked"]:
        raise CommandError(f"{_SCHEMA[kind]['label']} is fixed in this scenario")
    allowed = {f["name"] for f in _SCHEMA[kind]["fields"]}
    extra = sorted(set(command) - {"type"} - allowed)
    if extra:
        raise CommandError(f"unknown field(s): {', '.join(extra)}")
    now = engine.now_ms
    effects: list[dict[str, Any]] = []
    _HANDLERS[kind](engine, command, now, effects)
    return {"type": "command_applied", "t": now, "command": dict(command), "effects": effects}


def _set_strategy(engine: GatewayEngine, command: dict, now: int, effects: list) -> None:
    engine.strategy = _field(command, "strategy", "choice", STRATEGIES)


def _configure_hedging(engine: GatewayEngine, command: dict, now: int, effects: list) -> None:
    enabled = _field(command, "enabled", "bool")
    delay = _field(command, "delay_ms", "int", 0, 60000) if "delay_ms" in command else 0
    engine.hedging = {"enabled": enabled, "delay_ms": delay}


def _configure_rate_limit(engine: GatewayEngine, command: dict, now: int, effects: list) -> None:
    enabled = _field(command, "enabled", "bool")
    rate = engine.rate_limit["rate_per_s"]
    burst = engine.rate_limit["burst"]
    if "rate_per_s" in command:
        rate = _field(command, "rate_per_s", "num", 0, 10000)
        if abs(round(rate * 1000) - rate * 1000) > 1e-6:
            raise CommandError("rate_per_s is limited to three decimals")
    if "burst" in command:
        burst = _field(command, "burst", "int", 1, 10000)
    engine.rate_limit = {"enabled": enabled, "rate_per_s": rate, "burst": burst}
    # New limits start with full buckets, as a gateway reloading its config would.
    engine.buckets = [engine._bucket() for _ in engine.buckets]


def _client_index(engine: GatewayEngine, command: dict) -> int:
    ids = [c["id"] for c in engine.sc["clients"]]
    if command.get("client") not in ids:
        raise CommandError(f"client must be one of {', '.join(ids)}")
    return ids.index(command["client"])


def _set_client_rps(engine: GatewayEngine, command: dict, now: int, effects: list) -> None:
    i = _client_index(engine, command)
    rps = _field(command, "rps", "num", 0, 500)
    engine.client_rps[i] = rps
    engine.next_arrival[i] = engine._gap(now, rps)


def _set_replica(engine: GatewayEngine, command: dict, now: int, effects: list) -> None:
    if command.get("replica") not in engine.rep_id:
        raise CommandError(f"replica must be one of {', '.join(engine.rep_id)}")
    state = _field(command, "state", "choice", REPLICA_STATES)
    effects.append(engine.set_replica_state(now, engine.rep_id.index(command["replica"]), state,
                                            None))  # fmt: skip


def _configure_health(engine: GatewayEngine, command: dict, now: int, effects: list) -> None:
    health = dict(engine.health)
    for name, low, high in (("interval_ms", 100, 60000), ("unhealthy_after", 1, 20),
                            ("healthy_after", 1, 20)):  # fmt: skip
        if name in command:
            health[name] = _field(command, name, "int", low, high)
    engine.health = health


def _configure_composition(engine: GatewayEngine, command: dict, now: int, effects: list) -> None:
    composition = dict(engine.composition)
    if "timeout_ms" in command:
        composition["timeout_ms"] = _field(command, "timeout_ms", "int", 10, 60000)
    if "allow_partial" in command:
        composition["allow_partial"] = _field(command, "allow_partial", "bool")
    engine.composition = composition


def _set_gateway_timeout(engine: GatewayEngine, command: dict, now: int, effects: list) -> None:
    engine.timeout_ms = _field(command, "timeout_ms", "int", 10, 60000)


def _clear_latency(engine: GatewayEngine, command: dict, now: int, effects: list) -> None:
    engine.samples = {}
    engine.lat_view = {}


_HANDLERS = {
    "set_strategy": _set_strategy,
    "configure_hedging": _configure_hedging,
    "configure_rate_limit": _configure_rate_limit,
    "set_client_rps": _set_client_rps,
    "set_replica": _set_replica,
    "configure_health": _configure_health,
    "configure_composition": _configure_composition,
    "set_gateway_timeout": _set_gateway_timeout,
    "clear_latency": _clear_latency,
}
