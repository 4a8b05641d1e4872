"""Scenario validation, objective catalogue and command schema of the saga lab."""

from __future__ import annotations

import copy
from typing import Any

from labs.engines import ScenarioError
from labs.engines.saga_services import SKUS
from labs.engines.saga_transport import SERVICES

MODES = ("orchestration", "choreography", "two_phase_commit")
RATE_FAULTS = (
    "payment_decline_rate",
    "duplicate_rate",
    "out_of_stock_rate",
    "timeout_rate",
    "reorder_rate",
    "compensation_failure_rate",
)
FAULT_DEFAULTS: dict[str, Any] = {
    **{name: 0.0 for name in RATE_FAULTS},
    "services_down": [],
    "orchestrator_crash_at_ms": None,
}
# key -> (default, min, max) for the integer settings
INT_SETTINGS: dict[str, tuple[int, int, int]] = {
    "orders": (20, 0, 1000),
    "order_interval_ms": (500, 20, 60_000),
    "latency_ms": (40, 1, 5000),
    "jitter_ms": (40, 0, 5000),
    "step_timeout_ms": (1500, 100, 60_000),
    "compensation_max_attempts": (0, 0, 100),  # 0: retry a failing compensation forever
    "orchestrator_restart_ms": (0, 0, 600_000),  # 0: only the learner restarts it
}
DEFAULT_STOCK = {"widget": 40, "gadget": 40, "gizmo": 40}

OBJECTIVES: dict[str, str] = {
    "all_sagas_done": "Every saga (or transaction) finishes: completed or compensated",
    "consistent": "The data agree: approved orders charged exactly their amount, rejected "
    "ones nothing net, no stock left reserved",
    "saw_compensation": "See a saga compensate its completed steps in reverse order",
    "crash_resumed": "Crash the orchestrator mid-saga and see it resume the running sagas "
    "from its log",
    "double_charge_seen": "Find a double charge caused by a duplicate message",
    "double_charge_fixed": "Fix it: turn on idempotent consumers, refund every overcharge and "
    "let every saga finish",
    "compare_modes": "Finish at least 5 sagas in each mode and compare messages and coupling",
    "tpc_blocked": "Crash the 2PC coordinator after prepare: participants stay blocked, "
    "holding their locks",
    "tpc_recovered": "Restart the coordinator: it resolves the in-doubt transactions and the "
    "locks are released",
    "stuck_resolved": "Rescue a saga stuck on a failing compensation by manual action",
}
DEFAULT_OBJECTIVES = {
    "orchestration": ["all_sagas_done", "consistent", "saw_compensation"],
    "choreography": ["all_sagas_done", "consistent", "saw_compensation"],
    "two_phase_commit": ["tpc_blocked", "tpc_recovered"],
}


def default_scenario() -> dict[str, Any]:
    return {
        "mode": "orchestration",
        "orders": 20,
        "idempotent_consumers": True,
        "faults": {"payment_decline_rate": 0.2, "duplicate_rate": 0.1},
    }


def _int(value: Any, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError(f"must be an integer, not {value!r}", path)
    if not low <= value <= high:
        raise ScenarioError(f"must be between {low} and {high}, not {value}", path)
    return value


def _rate(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(f"must be a number between 0 and 1, not {value!r}", path)
    if not 0 <= value <= 1:
        raise ScenarioError(f"must be between 0 and 1, not {value}", path)
    return float(value)


def validate(scenario: dict[str, Any]) -> dict[str, Any]:
    """Return the full config (defaults filled in) or raise ScenarioError."""
    if not isinstance(scenario, dict):
        raise ScenarioError("the scenario must be a mapping")
    known = {"mode", "idempotent_consumers", "faults", "stock", "objectives", "duration_s",
             *INT_SETTINGS}  # fmt: skip
    for key in scenario:
        if key not in known:
            raise ScenarioError(f"unknown key; known: {', '.join(sorted(known))}", str(key))
    cfg: dict[str, Any] = {}
    mode = scenario.get("mode", "orchestration")
    if mode not in MODES:
        raise ScenarioError(f"must be one of {', '.join(MODES)}, not {mode!r}", "mode")
    cfg["mode"] = mode
    idem = scenario.get("idempotent_consumers", True)
    if not isinstance(idem, bool):
        raise ScenarioError("must be true or false", "idempotent_consumers")
    cfg["idempotent_consumers"] = idem
    for key, (default, low, high) in INT_SETTINGS.items():
        cfg[key] = _int(scenario.get(key, default), key, low, high)
    if "duration_s" in scenario:  # run length belongs to the platform; only check its type
        _int(scenario["duration_s"], "duration_s", 1, 86_400)
    stock = scenario.get("stock", {})
    if not isinstance(stock, dict):
        raise ScenarioError("must be a mapping of sku to units", "stock")
    cfg["stock"] = dict(DEFAULT_STOCK)
    for sku, units in stock.items():
        if sku not in SKUS:
            raise ScenarioError(f"unknown sku; known: {', '.join(SKUS)}", f"stock.{sku}")
        cfg["stock"][sku] = _int(units, f"stock.{sku}", 0, 1_000_000)
    cfg["faults"] = _faults(scenario.get("faults", {}))
    objectives = scenario.get("objectives", DEFAULT_OBJECTIVES[mode])
    if not isinstance(objectives, list) or not objectives:
        raise ScenarioError("must be a non-empty list of objective ids", "objectives")
    for i, oid in enumerate(objectives):
        if oid not in OBJECTIVES:
            raise ScenarioError(f"unknown objective {oid!r}; known: {', '.join(OBJECTIVES)}",
                                f"objectives[{i}]")  # fmt: skip
    cfg["objectives"] = list(dict.fromkeys(objectives))
    return cfg


def _faults(faults: Any) -> dict[str, Any]:
    if not isinstance(faults, dict):
        raise ScenarioError("must be a mapping", "faults")
    out = copy.deepcopy(FAULT_DEFAULTS)
    for key, value in faults.items():
        path = f"faults.{key}"
        if key in RATE_FAULTS:
            out[key] = _rate(value, path)
        elif key == "services_down":
            if not isinstance(value, list) or any(s not in SERVICES for s in value):
                raise ScenarioError(f"must be a list of services from {', '.join(SERVICES)}",
                                    path)  # fmt: skip
            out[key] = sorted(set(value))
        elif key == "orchestrator_crash_at_ms":
            out[key] = None if value is None else _int(value, path, 1, 86_400_000)
        else:
            known = ", ".join([*RATE_FAULTS, "services_down", "orchestrator_crash_at_ms"])
            raise ScenarioError(f"unknown fault; known: {known}", path)
    return out


def _number(name: str, label: str, low: float, high: float, step: float, default: float):
    return {"name": name, "kind": "number", "label": label, "min": low, "max": high,
            "step": step, "default": default}  # fmt: skip


def command_schema() -> list[dict[str, Any]]:
    service_choices = [[s, s.capitalize()] for s in SERVICES]
    return [
        {"type": "place_orders", "label": "Place more orders", "group": "Orders",
         "fields": [_number("count", "orders", 1, 50, 1, 5)]},
        {"type": "cancel_order", "label": "Cancel an order", "group": "Orders",
         "fields": [{"name": "order_id", "kind": "text", "label": "order id", "default": "o-1"}]},
        {"type": "refund_overcharge", "label": "Refund an overcharge", "group": "Orders",
         "fields": [{"name": "order_id", "kind": "text", "label": "order id", "default": "o-1"}]},
        {"type": "set_mode", "label": "Coordination for new orders", "group": "Saga",
         "fields": [{"name": "mode", "kind": "select", "label": "mode", "default": "orchestration",
                     "choices": [["orchestration", "Orchestration"],
                                 ["choreography", "Choreography"],
                                 ["two_phase_commit", "Two-phase commit"]]}]},
        {"type": "set_idempotent_consumers", "label": "Idempotent consumers", "group": "Saga",
         "fields": [{"name": "enabled", "kind": "bool", "label": "processed-message table",
                     "default": True}]},
        {"type": "set_fault", "label": "Set a fault rate", "group": "Faults",
         "fields": [{"name": "fault", "kind": "select", "label": "fault",
                     "default": "payment_decline_rate",
                     "choices": [[f, f.replace("_", " ")] for f in RATE_FAULTS]},
                    _number("value", "rate", 0, 1, 0.05, 0.3)]},
        {"type": "decline_next_payment", "label": "Decline the next payment", "group": "Faults",
         "fields": []},
        {"type": "set_service_down", "label": "Take a service down or up", "group": "Faults",
         "fields": [{"name": "service", "kind": "select", "label": "service",
                     "default": "payment", "choices": service_choices},
                    {"name": "down", "kind": "bool", "label": "down", "default": True}]},
        {"type": "stop_faults", "label": "Stop all faults", "group": "Faults", "fields": []},
        {"type": "crash_orchestrator", "label": "Crash the orchestrator", "group": "Orchestrator",
         "fields": [{"name": "when", "kind": "select", "label": "when", "default": "now",
                     "choices": [["now", "now"],
                                 ["after_next_step",
                                  "after the next logged step (2PC: after prepare)"]]}]},
        {"type": "restart_orchestrator", "label": "Restart the orchestrator",
         "group": "Orchestrator", "fields": []},
        {"type": "retry_stuck_sagas", "label": "Retry stuck sagas (manual action)",
         "group": "Orchestrator", "fields": []},
    ]  # fmt: skip
