"""Scenario validation, objectives catalogue and command schema of the circuit-breaker lab."""

from __future__ import annotations

import copy
from typing import Any

from labs.engines import ScenarioError, objective_ids
from labs.engines.breaker_backoff import JITTER_KINDS
from labs.engines.breaker_core import BreakerConfig

OUTAGE_MODES = ("error", "slow", "hang")
BACKOFF_KINDS = ("none", "fixed", "exponential", *JITTER_KINDS)

OBJECTIVES: dict[str, str] = {
    "breaker_opens": "The breaker opens within {open_within_s} s of an outage starting",
    "breaker_recloses": "The breaker closes again after the downstream recovers",
    "slow_calls_trip": "Slow calls alone trip the breaker (slow-call rate over its threshold)",
    "retry_storm": "See a retry storm: the downstream gets {storm_factor}x the user requests",
    "storm_tamed": (
        "Ride out a later outage with jittered backoff and the breaker on: at most "
        "{max_amplification}x load, recovered {recover_within_s} s after it ends"
    ),
    "tuning_user_errors": "By {evaluate_at_s} s, at most {max_user_error_pct}% of requests fail",
    "tuning_failing_calls": (
        "By {evaluate_at_s} s, at most {max_failing_calls} calls reach the service while it is down"
    ),
}
DEFAULT_OBJECTIVES = ["breaker_opens", "breaker_recloses"]

DEFAULT_TARGETS: dict[str, Any] = {
    "open_within_s": 10,
    "storm_factor": 2.0,
    "max_amplification": 1.5,
    "recover_within_s": 20,
    "max_user_error_pct": 30.0,
    "max_failing_calls": 500,
    "evaluate_at_s": 180,
}

# key: (kind, min, max, default); kind "int" | "num" | "bool" | "choice:<a>|<b>"
_SPEC: dict[str, dict[str, tuple]] = {
    "load": {"rps": ("num", 0, 500, 50)},
    "downstream": {
        "latency_ms": ("int", 1, 30000, 80),
        "latency_spread": ("num", 0, 2, 0.3),
        "error_rate": ("num", 0, 1, 0.0),
        "capacity": ("int", 1, 5000, 40),
    },
    "client": {
        "timeout_ms": ("int", 10, 60000, 1000),
        "fallback": ("bool", None, None, False),
        "bulkhead": ("int", 0, 5000, 0),
    },
    "retry": {
        "max_attempts": ("int", 1, 10, 1),
        "backoff": ("choice", BACKOFF_KINDS, None, "none"),
        "initial_ms": ("int", 1, 60000, 100),
        "multiplier": ("num", 1, 10, 2.0),
        "max_ms": ("int", 1, 600000, 5000),
    },
    "outage": {
        "start_s": ("int", 1, 86400, None),
        "duration_s": ("int", 1, 86400, None),
        "mode": ("choice", OUTAGE_MODES, None, "error"),
        "latency_factor": ("num", 1, 100, 10.0),
    },
    "targets": {
        "open_within_s": ("int", 1, 600, DEFAULT_TARGETS["open_within_s"]),
        "storm_factor": ("num", 1, 20, DEFAULT_TARGETS["storm_factor"]),
        "max_amplification": ("num", 0, 20, DEFAULT_TARGETS["max_amplification"]),
        "recover_within_s": ("int", 1, 600, DEFAULT_TARGETS["recover_within_s"]),
        "max_user_error_pct": ("num", 0, 100, DEFAULT_TARGETS["max_user_error_pct"]),
        "max_failing_calls": ("int", 0, 10**9, DEFAULT_TARGETS["max_failing_calls"]),
        "evaluate_at_s": ("int", 1, 86400, DEFAULT_TARGETS["evaluate_at_s"]),
    },
}
_BREAKER_DEFAULTS = BreakerConfig().to_dict()
_TOP_KEYS = {"load", "downstream", "client", "breaker", "objectives", "targets", "locked", "end_s"}


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
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError("must be a number", path)
    if kind == "int" and not (isinstance(value, int) or float(value).is_integer()):
        raise ScenarioError("must be a whole number", path)
    if value != value or not low <= value <= high:  # NaN fails too
        raise ScenarioError(f"must be between {low} and {high}", path)
    return int(value) if kind == "int" else float(value)


def _section(raw: Any, spec_name: str, path: str) -> dict[str, Any]:
    spec = _SPEC[spec_name]
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ScenarioError("must be a mapping", path)
    for key in raw:
        nested = (spec_name, key) in (("downstream", "outages"), ("client", "retry"))
        if key not in spec and not nested:
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


def breaker_config_from(raw: dict[str, Any], path: str, base: dict[str, Any]) -> BreakerConfig:
    """A BreakerConfig from a partial dict over `base`; errors name the offending key."""
    values = dict(base)
    for key, value in raw.items():
        if key not in _BREAKER_DEFAULTS:
            raise ScenarioError(
                f"unknown breaker setting; known: {', '.join(sorted(_BREAKER_DEFAULTS))}",
                path + key,
            )
        if isinstance(value, float) and value.is_integer() and isinstance(base.get(key), int):
            value = int(value)
        values[key] = value
    try:
        return BreakerConfig(**values)
    except ValueError as error:
        message = str(error)
        key = message.split(" ", 1)[0]
        raise ScenarioError(message, path + key if key in values else path.rstrip(".")) from None
    except TypeError as error:
        raise ScenarioError(str(error), path.rstrip(".")) from None


def validate(scenario: dict[str, Any]) -> dict[str, Any]:
    """Return a normalised deep copy of `scenario` with every default filled in."""
    if not isinstance(scenario, dict):
        raise ScenarioError("the scenario must be a mapping")
    scenario = copy.deepcopy(scenario)
    for key in scenario:
        if key not in _TOP_KEYS:
            raise ScenarioError(f"unknown key; known: {', '.join(sorted(_TOP_KEYS))}", key)
    out: dict[str, Any] = {
        "load": _section(scenario.get("load"), "load", "load."),
        "downstream": _section(scenario.get("downstream"), "downstream", "downstream."),
        "client": _section(scenario.get("client"), "client", "client."),
    }
    raw_client = scenario.get("client") or {}
    out["client"]["retry"] = _section(raw_client.get("retry"), "retry", "client.retry.")
    outages = (scenario.get("downstream") or {}).get("outages", [])
    if not isinstance(outages, list):
        raise ScenarioError("must be a list", "downstream.outages")
    out["downstream"]["outages"] = [
        _section(o, "outage", f"downstream.outages.{i}.") for i, o in enumerate(outages)
    ]
    raw_breaker = scenario.get("breaker") or {}
    if not isinstance(raw_breaker, dict):
        raise ScenarioError("must be a mapping", "breaker")
    raw_breaker = dict(raw_breaker)
    enabled = raw_breaker.pop("enabled", True)
    check_value("bool", None, None, enabled, "breaker.enabled")
    config = breaker_config_from(raw_breaker, "breaker.", _BREAKER_DEFAULTS)
    out["breaker"] = {"enabled": enabled, **config.to_dict()}
    out["targets"] = _section(scenario.get("targets"), "targets", "targets.")
    out["objectives"] = objective_ids(scenario.get("objectives", DEFAULT_OBJECTIVES), OBJECTIVES)
    locked = scenario.get("locked", [])
    known = {c["type"] for c in COMMANDS}
    if not isinstance(locked, list) or not all(isinstance(c, str) for c in locked):
        raise ScenarioError("must be a list of command types", "locked")
    for i, command in enumerate(locked):
        if command not in known:
            raise ScenarioError(
                f"unknown command; known: {', '.join(sorted(known))}", f"locked.{i}"
            )
    out["locked"] = locked
    end_s = scenario.get("end_s")
    out["end_s"] = None if end_s is None else check_value("int", 1, 86400, end_s, "end_s")
    return out


def _number(name: str, label: str, low: float, high: float, step: float, default: Any) -> dict:
    return {
        "name": name,
        "kind": "number",
        "label": label,
        "min": low,
        "max": high,
        "step": step,
        "default": default,
    }


def _choice(name: str, label: str, choices: list[list[str]], default: str) -> dict:
    return {"name": name, "kind": "select", "label": label, "choices": choices, "default": default}


_D = _BREAKER_DEFAULTS
COMMANDS: list[dict[str, Any]] = [
    {"type": "set_rps", "label": "Requests per second", "group": "Load",
     "fields": [_number("value", "rps", 0, 500, 1, 50)]},
    {"type": "set_error_rate", "label": "Downstream error rate", "group": "Downstream",
     "fields": [_number("value", "share of calls failing (0-1)", 0, 1, 0.01, 0.0)]},
    {"type": "set_latency", "label": "Downstream latency", "group": "Downstream",
     "fields": [_number("median_ms", "median ms", 1, 30000, 1, 80),
                _number("spread", "spread (log-normal sigma)", 0, 2, 0.05, 0.3)]},
    {"type": "set_capacity", "label": "Downstream capacity", "group": "Downstream",
     "fields": [_number("value", "concurrent calls served at full speed", 1, 5000, 1, 40)]},
    {"type": "start_outage", "label": "Start an outage", "group": "Downstream",
     "fields": [_choice("mode", "kind", [["error", "errors (fails fast)"],
                                         ["slow", "brown-out (10x slower)"],
                                         ["hang", "hangs (never answers)"]], "error")]},
    {"type": "stop_outage", "label": "End the outage", "group": "Downstream", "fields": []},
    {"type": "set_timeout", "label": "Client timeout", "group": "Client",
     "fields": [_number("value", "ms", 10, 60000, 10, 1000)]},
    {"type": "configure_retries", "label": "Retries", "group": "Client",
     "fields": [_number("max_attempts", "max attempts (1 = no retry)", 1, 10, 1, 3),
                _choice("backoff", "backoff", [["none", "none (immediate)"],
                                               ["fixed", "fixed"],
                                               ["exponential", "exponential"],
                                               ["full", "exponential + full jitter"],
                                               ["equal", "exponential + equal jitter"],
                                               ["decorrelated", "decorrelated jitter"]], "full"),
                _number("initial_ms", "base / initial ms", 1, 60000, 1, 100),
                _number("multiplier", "multiplier", 1, 10, 0.1, 2.0),
                _number("max_ms", "cap ms", 1, 600000, 1, 5000)]},
    {"type": "toggle_fallback", "label": "Toggle fallback", "group": "Client", "fields": []},
    {"type": "set_bulkhead", "label": "Bulkhead", "group": "Client",
     "fields": [_number("value", "max concurrent calls (0 = off)", 0, 5000, 1, 20)]},
    {"type": "configure_breaker", "label": "Configure the breaker", "group": "Breaker",
     "fields": [_number("failure_rate_threshold", "failure rate threshold %", 1, 100, 1, 50),
                _number("slow_call_rate_threshold", "slow-call rate threshold %", 1, 100, 1, 100),
                _number("slow_call_duration_threshold_ms", "slow call above ms", 1, 600000, 1,
                        _D["slow_call_duration_threshold_ms"]),
                _choice("sliding_window_type", "window", [["count", "last N calls"],
                                                          ["time", "last N seconds"]], "count"),
                _number("sliding_window_size", "window size N", 1, 1000, 1, 20),
                _number("minimum_number_of_calls", "minimum calls", 1, 1000, 1, 10),
                _number("wait_duration_in_open_ms", "wait in OPEN ms", 1, 600000, 100, 5000),
                _number("wait_duration_multiplier", "open-wait multiplier", 1, 10, 0.1, 1.0),
                _number("permitted_calls_in_half_open", "calls in HALF_OPEN", 1, 100, 1, 10),
                _number("max_wait_in_half_open_ms", "max wait in HALF_OPEN ms (0 = none)", 0,
                        600000, 100, 0),
                {"name": "automatic_transition", "kind": "bool",
                 "label": "OPEN to HALF_OPEN by timer", "default": False}]},
    {"type": "force_open_breaker", "label": "Force open", "group": "Breaker", "fields": []},
    {"type": "disable_breaker", "label": "Disable", "group": "Breaker", "fields": []},
    {"type": "reset_breaker", "label": "Reset (CLOSED)", "group": "Breaker", "fields": []},
    {"type": "transition_breaker", "label": "Transition to state", "group": "Breaker",
     "fields": [_choice("state", "state", [[s, s] for s in (
         "CLOSED", "OPEN", "HALF_OPEN", "DISABLED", "FORCED_OPEN", "METRICS_ONLY")], "OPEN")]},
]  # fmt: skip
