"""Scenario validation, objectives, command schema and the read-model projection of the
event-sourcing lab."""

from __future__ import annotations

import re
from typing import Any

from labs.engines import ScenarioError

ACCOUNT_RE = re.compile(r"^[a-z][a-z0-9-]{0,15}$")

OBJECTIVES: dict[str, str] = {
    "open_account": "Open a new account (its stream starts at version 0)",
    "deposit_and_withdraw": "Deposit into and withdraw from an account",
    "overdraft_refused": "See the aggregate refuse a withdrawal that would overdraw it",
    "conflict_refused": "Race two withdrawals: one append is refused with a concurrency error",
    "stale_read": "Query the read model while it lags and get a stale balance",
    "projection_fixed": "Deploy the fixed projection and replay it until it matches the accounts",
    "snapshot_used": "Load an aggregate from a snapshot plus the events after it",
    "time_travel": "Travel back: view the accounts as of an earlier event",
    "upcast_read": "Inspect a stream with old (schema 1) events upcast on read",
}
DEFAULT_OBJECTIVES = ["open_account", "deposit_and_withdraw", "conflict_refused"]

SCENARIO_KEYS = {
    "accounts",
    "legacy_events",
    "traffic_rps",
    "projection_lag_ms",
    "projection_version",
    "replay_rate",
    "snapshot_every",
    "command_latency_ms",
    "objectives",
}

COMMANDS: list[dict[str, Any]] = [
    {
        "type": "open_account",
        "label": "Open an account",
        "group": "Commands",
        "fields": [
            {"name": "account", "kind": "text", "label": "Account id", "default": "carol"},
            {"name": "owner", "kind": "text", "label": "Owner", "default": "Carol"},
        ],
    },
    {
        "type": "deposit",
        "label": "Deposit",
        "group": "Commands",
        "fields": [
            {"name": "account", "kind": "text", "label": "Account id", "default": "alice"},
            {
                "name": "amount",
                "kind": "number",
                "label": "Euros",
                "min": 1,
                "max": 100000,
                "step": 1,
                "default": 50,
            },
        ],
    },  # fmt: skip
    {
        "type": "withdraw",
        "label": "Withdraw",
        "group": "Commands",
        "fields": [
            {"name": "account", "kind": "text", "label": "Account id", "default": "alice"},
            {
                "name": "amount",
                "kind": "number",
                "label": "Euros",
                "min": 1,
                "max": 100000,
                "step": 1,
                "default": 30,
            },
        ],
    },  # fmt: skip
    {
        "type": "race_withdrawals",
        "label": "Race two withdrawals",
        "group": "Concurrency",
        "fields": [
            {"name": "account", "kind": "text", "label": "Account id", "default": "alice"},
            {
                "name": "amount_a",
                "kind": "number",
                "label": "First (euros)",
                "min": 1,
                "max": 100000,
                "step": 1,
                "default": 60,
            },
            {
                "name": "amount_b",
                "kind": "number",
                "label": "Second (euros)",
                "min": 1,
                "max": 100000,
                "step": 1,
                "default": 70,
            },
            {
                "name": "retry",
                "kind": "bool",
                "label": "Retry the loser (reload, re-check)",
                "default": False,
            },
        ],
    },  # fmt: skip
    {
        "type": "query_balance",
        "label": "Query the read model",
        "group": "Read side",
        "fields": [{"name": "account", "kind": "text", "label": "Account id", "default": "alice"}],
    },
    {
        "type": "set_projection",
        "label": "Projection worker",
        "group": "Read side",
        "fields": [
            {
                "name": "lag_ms",
                "kind": "number",
                "label": "Lag (ms)",
                "min": 0,
                "max": 60000,
                "step": 100,
                "default": 2000,
            },
            {"name": "paused", "kind": "bool", "label": "Paused", "default": False},
        ],
    },  # fmt: skip
    {
        "type": "deploy_projection_fix",
        "label": "Deploy fixed projection and replay",
        "group": "Read side",
        "fields": [],
    },  # fmt: skip
    {
        "type": "rebuild_projection",
        "label": "Rebuild projection from event 0",
        "group": "Read side",
        "fields": [],
    },  # fmt: skip
    {
        "type": "take_snapshot",
        "label": "Take a snapshot",
        "group": "Snapshots",
        "fields": [{"name": "account", "kind": "text", "label": "Account id", "default": "alice"}],
    },
    {
        "type": "time_travel",
        "label": "Time travel to event N",
        "group": "History",
        "fields": [
            {
                "name": "position",
                "kind": "number",
                "label": "Event #",
                "min": 0,
                "max": 100000,
                "step": 1,
                "default": 3,
            },
        ],
    },  # fmt: skip
    {"type": "live_view", "label": "Back to now", "group": "History", "fields": []},
    {
        "type": "inspect_stream",
        "label": "Inspect a stream (raw vs upcast)",
        "group": "History",
        "fields": [{"name": "account", "kind": "text", "label": "Account id", "default": "alice"}],
    },
    {
        "type": "set_traffic",
        "label": "Background traffic",
        "group": "Load",
        "fields": [
            {
                "name": "rps",
                "kind": "number",
                "label": "Commands per second",
                "min": 0,
                "max": 20,
                "step": 0.5,
                "default": 1,
            },
        ],
    },  # fmt: skip
]


def _num(value: Any, path: str, lo: float, hi: float, integer: bool = True) -> Any:
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok:
        raise ScenarioError("must be an integer" if integer else "must be a number", path)
    if not lo <= value <= hi:
        raise ScenarioError(f"must be between {lo} and {hi}", path)
    return value


def validate(scenario: Any) -> dict[str, Any]:
    if not isinstance(scenario, dict):
        raise ScenarioError("scenario must be a mapping")
    unknown = set(scenario) - SCENARIO_KEYS
    if unknown:
        raise ScenarioError(f"unknown key {sorted(unknown)[0]!r}", sorted(unknown)[0])
    sc: dict[str, Any] = {}
    accounts = scenario.get("accounts", [{"id": "alice", "owner": "Alice", "balance": 100}])
    if not isinstance(accounts, list) or len(accounts) > 8:
        raise ScenarioError("must be a list of at most 8 accounts", "accounts")
    seen = set()
    sc["accounts"] = []
    for i, acc in enumerate(accounts):
        path = f"accounts[{i}]"
        if not isinstance(acc, dict) or set(acc) - {"id", "owner", "balance"} or "id" not in acc:
            raise ScenarioError("must be {id, owner, balance}", path)
        if not isinstance(acc["id"], str) or not ACCOUNT_RE.match(acc["id"]):
            raise ScenarioError("id must be lower-case letters, digits, '-' (max 16)", path)
        if acc["id"] in seen:
            raise ScenarioError("duplicate account id", path)
        seen.add(acc["id"])
        owner = acc.get("owner", acc["id"].title())
        if not isinstance(owner, str) or len(owner) > 40:
            raise ScenarioError("owner must be a short string", f"{path}.owner")
        balance = _num(acc.get("balance", 0), f"{path}.balance", 0, 1_000_000)
        sc["accounts"].append({"id": acc["id"], "owner": owner, "balance": balance})
    legacy = scenario.get("legacy_events", False)
    if not isinstance(legacy, bool):
        raise ScenarioError("must be true or false", "legacy_events")
    sc["legacy_events"] = legacy
    sc["traffic_rps"] = float(_num(scenario.get("traffic_rps", 1), "traffic_rps", 0, 20, False))
    sc["projection_lag_ms"] = _num(
        scenario.get("projection_lag_ms", 2000), "projection_lag_ms", 0, 60_000
    )
    sc["projection_version"] = _num(
        scenario.get("projection_version", 2), "projection_version", 1, 2
    )
    sc["replay_rate"] = _num(scenario.get("replay_rate", 50), "replay_rate", 1, 200)
    sc["snapshot_every"] = _num(scenario.get("snapshot_every", 0), "snapshot_every", 0, 1000)
    sc["command_latency_ms"] = _num(
        scenario.get("command_latency_ms", 20), "command_latency_ms", 1, 5000
    )
    objectives = scenario.get("objectives", DEFAULT_OBJECTIVES)
    if not isinstance(objectives, list) or not all(o in OBJECTIVES for o in objectives):
        raise ScenarioError(f"must be a list of ids from {sorted(OBJECTIVES)}", "objectives")
    sc["objectives"] = list(objectives)
    return sc


# ---------------------------------------------------------------- the read model


def new_read_model() -> dict[str, Any]:
    return {"balances": {}, "deposits_cents": 0, "withdrawals_cents": 0, "transactions": 0}


def project(model: dict[str, Any], event: dict[str, Any], version: int) -> None:
    """Apply one (upcast) event to the balances read model, in place.

    Version 1 has the bug the projections scenario is about: it adds withdrawals instead of
    subtracting them. Version 2 is the fix.
    """
    account = event["stream"].removeprefix("account-")
    kind, data = event["type"], event["data"]
    balances = model["balances"]
    if kind == "AccountOpened":
        balances[account] = 0
    elif kind == "MoneyDeposited":
        balances[account] = balances.get(account, 0) + data["amount_cents"]
        model["deposits_cents"] += data["amount_cents"]
        model["transactions"] += 1
    elif kind == "MoneyWithdrawn":
        sign = 1 if version == 1 else -1
        balances[account] = balances.get(account, 0) + sign * data["amount_cents"]
        model["withdrawals_cents"] += data["amount_cents"]
        model["transactions"] += 1
