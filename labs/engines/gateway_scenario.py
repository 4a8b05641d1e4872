"""Scenario validation, objective catalogue and command schema of the API gateway lab."""

from __future__ import annotations

import copy
import re
from typing import Any

from labs.engines import ScenarioError, objective_ids
from labs.engines.gateway_core import STRATEGIES, STRATEGY_LABELS

REPLICA_STATES = ("up", "crash", "hang", "slow")
SLOW_FACTOR = 20  # a "slow" replica answers 20x slower but still passes health checks

OBJECTIVES: dict[str, str] = {
    "throttle_noisy": "Throttle the noisy client: a second where only one client gets 429s",
    "latency_protected": (
        "Keep p99 at or under {p99_target_ms} ms for {hold_s} s in a row while rate limiting"
    ),
    "tail_cut": (
        "Beat round robin's p99 by {tail_cut_pct:g}% with least connections or power of two "
        "choices ({min_samples} requests each)"
    ),
    "hedge_tail": (
        "Cut p99 by {hedge_cut_pct:g}% with hedged requests, same strategy ({min_samples} each)"
    ),
    "replica_ejected": "A dead replica fails its health checks and leaves the pool",
    "replica_rejoined": "A recovered replica passes its health checks and rejoins the pool",
    "partial_results": "A second with partial dashboards and no failed ones while a service lags",
    "composite_fast": "Dashboard p99 at or under {composite_p99_ms} ms while a service lags",
}
DEFAULT_OBJECTIVES = ["tail_cut", "replica_ejected", "replica_rejoined"]

_NUM = "num"
_INT = "int"
_BOOL = "bool"
# key: (kind, low, high, default); default None = required
_SPEC: dict[str, dict[str, tuple]] = {
    "service": {
        "latency_ms": (_INT, 1, 30000, None),
        "spread": (_NUM, 0, 2, 0.3),
        "concurrency": (_INT, 1, 1000, 4),
    },
    "client": {"id": ("str", None, None, None), "rps": (_NUM, 0, 500, None)},
    "gateway": {
        "strategy": ("choice", STRATEGIES, None, "round_robin"),
        "timeout_ms": (_INT, 10, 60000, 3000),
    },
    "rate_limit": {
        "enabled": (_BOOL, None, None, False),
        "rate_per_s": (_NUM, 0, 10000, 20),
        "burst": (_INT, 1, 10000, 10),
    },
    "health": {
        "interval_ms": (_INT, 100, 60000, 1000),
        "unhealthy_after": (_INT, 1, 20, 3),
        "healthy_after": (_INT, 1, 20, 2),
    },
    "hedging": {"enabled": (_BOOL, None, None, False), "delay_ms": (_INT, 0, 60000, 0)},
    "composition": {
        "timeout_ms": (_INT, 10, 60000, 3000),
        "allow_partial": (_BOOL, None, None, False),
    },
    "fault": {
        "at_s": (_INT, 1, 86400, None),
        "replica": ("str", None, None, None),
        "state": ("choice", REPLICA_STATES, None, None),
    },
    "targets": {
        "p99_target_ms": (_INT, 1, 60000, 300),
        "hold_s": (_INT, 1, 600, 10),
        "tail_cut_pct": (_NUM, 0, 100, 30),
        "hedge_cut_pct": (_NUM, 0, 100, 20),
        "min_samples": (_INT, 10, 100000, 1000),
        "composite_p99_ms": (_INT, 1, 60000, 500),
    },
}
_TOP_KEYS = {
    "services", "routes", "clients", "gateway", "rate_limit", "health", "hedging",
    "composition", "faults", "objectives", "targets", "locked",
}  # fmt: skip
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,19}$")
_PATH = re.compile(r"^/[A-Za-z0-9_/\-]{0,60}$")


def check_value(kind: str, low: Any, high: Any, value: Any, path: str) -> Any:
    """Validate one value; raise ScenarioError naming `path`."""
    if kind == "bool":
        if not isinstance(value, bool):
            raise ScenarioError("must be true or false", path)
        return value
    if kind == "choice":
        if value not in low:
            raise ScenarioError(f"must be one of {', '.join(low)}", path)
        return value
    if kind == "str":
        if not isinstance(value, str) or not _NAME.match(value):
            raise ScenarioError("must be a short lower-case name (a-z, 0-9, _)", path)
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError("must be a number", path)
    if kind == "int" and not (isinstance(value, int) or float(value).is_integer()):
        raise ScenarioError("must be a whole number", path)
    if value != value or not low <= value <= high:  # NaN fails too
        raise ScenarioError(f"must be between {low} and {high}", path)
    return int(value) if kind == "int" else float(value)


def _section(raw: Any, spec_name: str, path: str, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    spec = _SPEC[spec_name]
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ScenarioError("must be a mapping", path.rstrip("."))
    for key in raw:
        if key not in spec and key not in extra:
            raise ScenarioError(f"unknown key; known: {', '.join(sorted(spec))}", path + key)
    out: dict[str, Any] = {}
    for key, (kind, low, high, default) in spec.items():
        if key in raw:
            out[key] = check_value(kind, low, high, raw[key], path + key)
        elif default is None:
            raise ScenarioError("is required", path + key)
        else:
            out[key] = default
    return out


def _list(raw: Any, path: str, low: int, high: int) -> list:
    if not isinstance(raw, list) or not low <= len(raw) <= high:
        raise ScenarioError(f"must be a list of {low} to {high} items", path)
    return raw


def _path(value: Any, path: str) -> str:
    if not isinstance(value, str) or not _PATH.match(value):
        raise ScenarioError("must be a URL path like /api/users", path)
    return value


def _services(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or not 1 <= len(raw) <= 6:
        raise ScenarioError("must be a mapping of 1 to 6 services", "services")
    out = {}
    for name, spec in raw.items():
        check_value("str", None, None, name, f"services.{name}")
        base = f"services.{name}."
        service = _section(spec, "service", base, extra=("replicas",))
        speeds = _list(spec.get("replicas", [1]), base + "replicas", 1, 6)
        service["replicas"] = [
            check_value(_NUM, 0.1, 20, s, f"{base}replicas.{i}") for i, s in enumerate(speeds)
        ]
        out[name] = service
    return out


def _routes(raw: Any, services: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for i, route in enumerate(_list(raw, "routes", 1, 10)):
        p = f"routes.{i}."
        if not isinstance(route, dict):
            raise ScenarioError("must be a mapping", p.rstrip("."))
        unknown = set(route) - {"prefix", "service", "compose", "required"}
        if unknown:
            raise ScenarioError("unknown key; known: compose, prefix, required, service",
                                p + sorted(unknown)[0])  # fmt: skip
        prefix = _path(route.get("prefix"), p + "prefix")
        if ("service" in route) == ("compose" in route):
            raise ScenarioError("give exactly one of service or compose", p.rstrip("."))
        if "service" in route:
            if route["service"] not in services or "required" in route:
                raise ScenarioError("must name a service (and no required list)", p + "service")
            out.append({"prefix": prefix, "service": route["service"]})
            continue
        compose = _list(route["compose"], p + "compose", 2, 6)
        required = _list(route.get("required", []), p + "required", 0, 6)
        for j, name in enumerate(compose):
            if name not in services or compose.count(name) > 1:
                raise ScenarioError("must name distinct services", f"{p}compose.{j}")
        for j, name in enumerate(required):
            if name not in compose:
                raise ScenarioError("must be one of the composed services", f"{p}required.{j}")
        out.append({"prefix": prefix, "compose": list(compose), "required": list(required)})
    prefixes = [r["prefix"] for r in out]
    if len(set(prefixes)) != len(prefixes):
        raise ScenarioError("prefixes must be distinct", "routes")
    return out


def validate(scenario: dict[str, Any]) -> dict[str, Any]:
    """Return a normalised deep copy of `scenario` with every default filled in."""
    if not isinstance(scenario, dict):
        raise ScenarioError("the scenario must be a mapping")
    scenario = copy.deepcopy(scenario)
    for key in scenario:
        if key not in _TOP_KEYS:
            raise ScenarioError(f"unknown key; known: {', '.join(sorted(_TOP_KEYS))}", key)
    if "services" not in scenario or "routes" not in scenario or "clients" not in scenario:
        raise ScenarioError("services, routes and clients are required")
    out: dict[str, Any] = {"services": _services(scenario["services"])}
    out["routes"] = _routes(scenario["routes"], out["services"])
    clients = []
    for i, raw in enumerate(_list(scenario["clients"], "clients", 1, 6)):
        client = _section(raw, "client", f"clients.{i}.", extra=("paths",))
        paths = _list(raw.get("paths"), f"clients.{i}.paths", 1, 10)
        client["paths"] = [_path(v, f"clients.{i}.paths.{j}") for j, v in enumerate(paths)]
        clients.append(client)
    ids = [c["id"] for c in clients]
    if len(set(ids)) != len(ids):
        raise ScenarioError("client ids must be distinct", "clients")
    out["clients"] = clients
    for name in ("gateway", "rate_limit", "health", "hedging", "composition", "targets"):
        out[name] = _section(scenario.get(name), name, name + ".")
    replica_ids = {
        f"{name}_{i + 1}" for name, s in out["services"].items() for i in range(len(s["replicas"]))
    }
    faults = []
    for i, raw in enumerate(_list(scenario.get("faults", []), "faults", 0, 20)):
        fault = _section(raw, "fault", f"faults.{i}.")
        if fault["replica"] not in replica_ids:
            raise ScenarioError("unknown replica (ids look like users_1)", f"faults.{i}.replica")
        faults.append(fault)
    out["faults"] = faults
    out["objectives"] = objective_ids(scenario.get("objectives", DEFAULT_OBJECTIVES), OBJECTIVES)
    locked = scenario.get("locked", [])
    known = {c["type"] for c in COMMANDS}
    if not isinstance(locked, list) or not all(c in known for c in locked):
        raise ScenarioError(f"must be a list of command types: {', '.join(known)}", "locked")
    out["locked"] = list(locked)
    return out


def _number(name: str, label: str, low: float, high: float, step: float, default: Any) -> dict:
    return {"name": name, "kind": "number", "label": label, "min": low, "max": high,
            "step": step, "default": default}  # fmt: skip


def _bool(name: str, label: str, default: bool) -> dict:
    return {"name": name, "kind": "bool", "label": label, "default": default}


COMMANDS: list[dict[str, Any]] = [
    {"type": "set_strategy", "label": "Load-balancing strategy", "group": "Load balancing",
     "fields": [{"name": "strategy", "kind": "select", "label": "strategy",
                 "choices": [[s, STRATEGY_LABELS[s]] for s in STRATEGIES],
                 "default": "least_conn"}]},
    {"type": "configure_hedging", "label": "Hedged requests", "group": "Load balancing",
     "fields": [_bool("enabled", "hedge slow requests", True),
                _number("delay_ms", "hedge after ms (0 = the service's p95)", 0, 60000, 10, 0)]},
    {"type": "configure_rate_limit", "label": "Rate limit per client", "group": "Rate limiting",
     "fields": [_bool("enabled", "enabled", True),
                _number("rate_per_s", "tokens per second", 0, 10000, 1, 20),
                _number("burst", "burst (bucket size)", 1, 10000, 1, 10)]},
    {"type": "set_client_rps", "label": "Client load", "group": "Clients",
     "fields": [{"name": "client", "kind": "text", "label": "client id", "default": "mobile"},
                _number("rps", "requests per second", 0, 500, 1, 20)]},
    {"type": "set_replica", "label": "Replica state", "group": "Replicas",
     "fields": [{"name": "replica", "kind": "text", "label": "replica id (e.g. users_3)",
                 "default": "users_1"},
                {"name": "state", "kind": "select", "label": "state",
                 "choices": [["up", "up (healthy)"], ["crash", "crashed (refuses)"],
                             ["hang", "hung (never answers)"],
                             ["slow", f"slow ({SLOW_FACTOR}x, still passes health checks)"]],
                 "default": "crash"}]},
    {"type": "configure_health", "label": "Health checks", "group": "Replicas",
     "fields": [_number("interval_ms", "probe every ms", 100, 60000, 100, 1000),
                _number("unhealthy_after", "remove after N failed probes", 1, 20, 1, 3),
                _number("healthy_after", "rejoin after N passed probes", 1, 20, 1, 2)]},
    {"type": "configure_composition", "label": "Dashboard composition", "group": "Composition",
     "fields": [_number("timeout_ms", "per-call timeout ms", 10, 60000, 10, 200),
                _bool("allow_partial", "answer with partial results", True)]},
    {"type": "set_gateway_timeout", "label": "Gateway timeout", "group": "Gateway",
     "fields": [_number("timeout_ms", "ms", 10, 60000, 10, 3000)]},
    {"type": "clear_latency", "label": "Clear latency samples", "group": "Load balancing",
     "fields": []},
]  # fmt: skip
