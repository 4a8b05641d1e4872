"""Event-sourcing and CQRS lab: bank accounts as event-sourced aggregates, an event store with
optimistic concurrency, an asynchronous balances projection that lags (and can be buggy, fixed
and replayed), snapshots, time travel and upcasting (see docs/labs/event-sourcing.md).

A command is handled in two steps, like a real command handler: at time t it loads the aggregate
(snapshot + later events) and decides; `command_latency_ms` later it appends with the version it
loaded as expected_version. Two commands loaded at the same version race: the second append is
refused with a ConcurrencyError.
"""

from __future__ import annotations

import copy
import heapq
import math
from typing import Any

from labs.engines import Engine, SeededRandom, new_event_engine
from labs.engines.event_sourcing_commands import (
    _APPEND,
    _LOAD,
    _QUERY,
    CommandsMixin,
    _stream,
)
from labs.engines.event_sourcing_scenario import (
    COMMANDS,
    OBJECTIVES,
    new_read_model,
    project,
    validate,
)
from labs.engines.event_sourcing_store import (
    ConcurrencyError,
    EventStore,
    account_state,
    fold,
    upcast,
)

__all__ = ["ConcurrencyError", "EventSourcingEngine", "EventStore", "fold", "upcast"]

RECENT = 30
EURO = 100


class EventSourcingEngine(CommandsMixin, Engine):
    slug = "event-sourcing"
    title = "Event sourcing and CQRS"

    @classmethod
    def default_scenario(cls) -> dict[str, Any]:
        return {
            "accounts": [
                {"id": "alice", "owner": "Alice", "balance": 100},
                {"id": "bob", "owner": "Bob", "balance": 40},
            ],
            "traffic_rps": 1,
            "projection_lag_ms": 2000,
            "objectives": ["open_account", "deposit_and_withdraw", "conflict_refused"],
        }

    @classmethod
    def command_schema(cls) -> list[dict[str, Any]]:
        return copy.deepcopy(COMMANDS)

    # ------------------------------------------------------------------ building

    @classmethod
    def create(cls, scenario: dict[str, Any] | None = None, seed: int = 0) -> EventSourcingEngine:
        e, sc = new_event_engine(cls, scenario, seed, validate)
        e.store = EventStore()
        e.accounts = {}
        e.snapshots = {}  # stream -> {"version", "state"}
        e.traffic_rps = sc["traffic_rps"]
        e.latency = sc["command_latency_ms"]
        e.proj = {
            "version": sc["projection_version"],
            "checkpoint": 0,
            "lag_ms": sc["projection_lag_ms"],
            "paused": False,
            "rebuilding": False,
            "last_t": 0,
            "model": new_read_model(),
            "shadow": new_read_model(),
        }
        e.time_travel = None
        e.queries = []
        e.inspected = None
        e.counters = {"commands": 0, "appended": 0, "rejected": 0, "conflicts": 0, "retries": 0}
        e.met = {o: False for o in sc["objectives"]}
        e.flags = {"deposit": False, "withdraw": False}
        schema = 1 if sc["legacy_events"] else 2
        # The history the scenario starts with is already in the store at t=0.
        for acc in sc["accounts"]:
            events = [{"type": "AccountOpened", "data": {"owner": acc["owner"]}}]
            if acc["balance"]:
                data = (
                    {"amount": acc["balance"]}
                    if schema == 1
                    else {"amount_cents": acc["balance"] * EURO}
                )
                events.append({"type": "MoneyDeposited", "data": data, "schema": schema})
            e.store.append(_stream(acc["id"]), events, 0, 0)
            e.accounts[acc["id"]] = fold(e.store.read(_stream(acc["id"])))
        e.next_traffic = e._gap(0) if e.traffic_rps > 0 else None
        e.next_stats = 1000
        return e

    def _push(self, t: int, kind: int, payload: dict[str, Any]) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, kind, payload))

    def _gap(self, t: int) -> int:
        return t + max(1, int(self.rng.expovariate(self.traffic_rps) * 1000.0 + 0.5))

    # ------------------------------------------------------------------ running

    @property
    def now_ms(self) -> int:
        return self._now

    def _proj_next(self) -> float:
        p = self.proj
        log = self.store.log
        if p["paused"] or p["checkpoint"] >= len(log):
            return math.inf
        gap = max(1, 1000 // self.sc["replay_rate"])
        return max(log[p["checkpoint"]]["t"] + p["lag_ms"], p["last_t"] + gap)

    def advance(self, to_ms: int) -> list[dict[str, Any]]:
        if isinstance(to_ms, bool) or not isinstance(to_ms, int):
            raise ValueError("to_ms must be an integer")
        if to_ms < self._now:
            raise ValueError(f"cannot go back in time from {self._now} to {to_ms}")
        events: list[dict[str, Any]] = []
        inf = math.inf
        while True:
            t_heap = self._heap[0][0] if self._heap else inf
            t_traffic = self.next_traffic if self.next_traffic is not None else inf
            t_proj = self._proj_next()
            t = min(t_heap, t_traffic, t_proj, self.next_stats)
            if t > to_ms:
                break
            if t_heap == t:
                _, _, kind, payload = heapq.heappop(self._heap)
                if kind == _LOAD:
                    self._load_and_decide(t, payload, events)
                elif kind == _APPEND:
                    self._append(t, payload, events)
                elif kind == _QUERY:
                    self._query(t, payload, events)
                else:
                    events.append({"t": t, **payload})
            elif t_proj == t:
                self._project_one(t, events)
            elif t_traffic == t:
                self.next_traffic = self._gap(t)
                self._traffic(t)
            else:
                self.next_stats += 1000
                events.append({"t": t, "type": "stats", **self._lag(t)})
        self._now = to_ms
        return events

    def _lag(self, t: int) -> dict[str, Any]:
        p, log = self.proj, self.store.log
        behind = len(log) - p["checkpoint"]
        lag_ms = t - log[p["checkpoint"]]["t"] if behind else 0
        return {"head": len(log), "checkpoint": p["checkpoint"], "behind": behind, "lag_ms": lag_ms}

    def _traffic(self, t: int) -> None:
        open_ids = sorted(a for a, s in self.accounts.items() if s["open"])
        if not open_ids:
            return
        account = open_ids[int(self.rng.random() * len(open_ids))]
        kind = "deposit" if self.rng.random() < 0.55 else "withdraw"
        amount = 5 + int(self.rng.random() * 60)
        self._submit(t, {"type": kind, "account": account, "amount": amount}, "traffic")

    def _submit(self, t: int, command: dict[str, Any], by: str, delay: int = 0) -> int:
        self.counters["commands"] += 1
        cid = self.counters["commands"]
        self._push(t + delay, _LOAD, {"id": cid, "by": by, "attempt": 1, "command": command})
        return cid

    def _load(self, stream: str) -> tuple[dict[str, Any], int, int]:
        """(state, snapshot version used or 0, events replayed)."""
        snap = self.snapshots.get(stream)
        base = snap["version"] if snap else 0
        events = self.store.read(stream, base)
        state = fold(events, dict(snap["state"]) if snap else None)
        return state, base, len(events)

    def _load_and_decide(self, t: int, job: dict[str, Any], events: list) -> None:
        cmd = job["command"]
        account = cmd["account"]
        stream = _stream(account)
        state, from_snap, replayed = self._load(stream)
        if job["by"] == "user" or from_snap:
            events.append({
                "t": t, "type": "aggregate_loaded", "id": job["id"], "account": account,
                "version": state["version"], "snapshot_version": from_snap, "replayed": replayed,
            })  # fmt: skip
        if from_snap and job["by"] == "user" and "snapshot_used" in self.met:
            self.met["snapshot_used"] = True
        kind = cmd["type"]
        reason = None
        if kind == "open_account":
            if state["version"] > 0:
                reason = "the account already exists"
            new = [{"type": "AccountOpened", "data": {"owner": cmd["owner"]}}]
        elif not state["open"]:
            reason = "no such account"
        elif kind == "deposit":
            new = [{"type": "MoneyDeposited", "data": {"amount_cents": cmd["amount"] * EURO}}]
        else:
            if state["balance_cents"] < cmd["amount"] * EURO:
                reason = (
                    f"insufficient funds: balance {state['balance_cents'] / EURO:g} €, "
                    f"asked {cmd['amount']} €"
                )
            new = [{"type": "MoneyWithdrawn", "data": {"amount_cents": cmd["amount"] * EURO}}]
        if reason is not None:
            self.counters["rejected"] += 1
            user = job["by"] == "user"
            if kind == "withdraw" and user and state["open"] and "overdraft_refused" in self.met:
                self.met["overdraft_refused"] = True
            events.append({
                "t": t, "type": "command_rejected", "id": job["id"], "by": job["by"],
                "command": kind, "account": account, "reason": reason,
            })  # fmt: skip
            return
        self._push(
            t + job.get("delay", self.latency),
            _APPEND,
            {**job, "expected": state["version"], "new": new},
        )

    def _append(self, t: int, job: dict[str, Any], events: list) -> None:
        cmd = job["command"]
        account = cmd["account"]
        stream = _stream(account)
        try:
            version = self.store.append(stream, job["new"], job["expected"], t)
        except ConcurrencyError as err:
            self.counters["conflicts"] += 1
            retry = job.get("retry", False) and job["attempt"] < 3
            if job["by"] == "user" and "conflict_refused" in self.met:
                self.met["conflict_refused"] = True
            events.append({
                "t": t, "type": "concurrency_conflict", "id": job["id"], "by": job["by"],
                "command": cmd["type"], "account": account, "expected": err.expected,
                "actual": err.actual, "retrying": retry,
            })  # fmt: skip
            if retry:
                self.counters["retries"] += 1
                again = {**job, "attempt": job["attempt"] + 1, "delay": self.latency}
                self._push(t + 1, _LOAD, {k: again[k] for k in again if k not in ("new",)})
            return
        state = self.accounts.get(account, account_state())
        for stored in self.store.read(stream, job["expected"]):
            state = fold([stored], state)
            self.counters["appended"] += 1
            events.append({
                "t": t, "type": "event_appended", "id": job["id"], "by": job["by"],
                "stream": stream, "event": stored["type"], "version": stored["version"],
                "position": stored["position"],
                "amount_cents": stored["data"].get("amount_cents", 0),
            })  # fmt: skip
        self.accounts[account] = state
        kind = cmd["type"]
        if job["by"] == "user":
            if kind == "open_account" and "open_account" in self.met:
                self.met["open_account"] = True
            if kind in ("deposit", "withdraw"):
                self.flags[kind] = True
            if (
                self.flags["deposit"]
                and self.flags["withdraw"]
                and "deposit_and_withdraw" in self.met
            ):
                self.met["deposit_and_withdraw"] = True
        every = self.sc["snapshot_every"]
        if every and version // every > job["expected"] // every:
            self._snapshot(t, account, events, auto=True)

    def _snapshot(self, t: int, account: str, events: list, auto: bool) -> None:
        stream = _stream(account)
        state = self.accounts[account]
        self.snapshots[stream] = {"version": state["version"], "state": dict(state)}
        events.append({
            "t": t, "type": "snapshot_taken", "account": account, "version": state["version"],
            "auto": auto,
        })  # fmt: skip

    def _project_one(self, t: int, events: list) -> None:
        p = self.proj
        event = upcast(self.store.log[p["checkpoint"]])
        project(p["model"], event, p["version"])
        project(p["shadow"], event, 2)  # the correct model over the same events: lag vs bug
        p["checkpoint"] += 1
        p["last_t"] = t
        account = event["stream"].removeprefix("account-")
        events.append({
            "t": t, "type": "projected", "position": event["position"], "account": account,
            "balance_cents": p["model"]["balances"].get(account, 0), "lag_ms": t - event["t"],
            "rebuilding": p["rebuilding"],
        })  # fmt: skip
        if p["rebuilding"] and p["checkpoint"] >= len(self.store.log):
            p["rebuilding"] = False
            correct = self._projection_correct()
            events.append({
                "t": t, "type": "projection_rebuilt", "version": p["version"], "correct": correct,
            })  # fmt: skip
            if correct and p["version"] == 2 and "projection_fixed" in self.met:
                self.met["projection_fixed"] = True

    def _projection_correct(self) -> bool:
        live = {a: s["balance_cents"] for a, s in self.accounts.items() if s["open"]}
        return self.proj["model"]["balances"] == live

    def _query(self, t: int, job: dict[str, Any], events: list) -> None:
        account = job["account"]
        seen = self.proj["model"]["balances"].get(account)
        live = self.accounts.get(account, account_state())
        actual = live["balance_cents"] if live["open"] else None
        stale = seen != actual
        if stale and "stale_read" in self.met:
            self.met["stale_read"] = True
        record = {
            "t": t, "account": account, "read_model_cents": seen, "actual_cents": actual,
            "stale": stale, "behind": len(self.store.log) - self.proj["checkpoint"],
        }  # fmt: skip
        self.queries = (self.queries + [record])[-8:]
        events.append({"type": "query_answered", **record})

    # ------------------------------------------------------------------ views

    def state_at(self, position: int) -> dict[str, dict[str, Any]]:
        """Every account's state as of global event `position` (time travel)."""
        states: dict[str, dict[str, Any]] = {}
        for event in self.store.read_all(0, position):
            account = event["stream"].removeprefix("account-")
            states[account] = fold([event], states.get(account))
        return states

    def snapshot(self) -> dict[str, Any]:
        log = self.store.log
        p = self.proj
        streams = {}
        for stream, idx in self.store.streams.items():
            streams[stream] = {
                "version": len(idx),
                "snapshot_version": self.snapshots.get(stream, {}).get("version", 0),
                "events": [_brief(log[i]) for i in idx[-10:]],
            }
        inspected = None
        if self.inspected:
            raw = self.store.read(self.inspected, raw=True)[-12:]
            inspected = {
                "stream": self.inspected,
                "raw": [_brief(e) | {"data": e["data"]} for e in raw],
                "upcast": [_brief(e) | {"data": e["data"]} for e in map(upcast, raw)],
            }
        seen = p["shadow"]["balances"]
        travel = None
        if self.time_travel is not None:
            travel = {"position": self.time_travel, "accounts": self.state_at(self.time_travel)}
        return {
            "t": self._now,
            "head": len(log),
            "accounts": {a: dict(s) for a, s in sorted(self.accounts.items())},
            "streams": streams,
            "recent": [_brief(e) for e in log[-RECENT:]],
            "projection": {
                "version": p["version"],
                "checkpoint": p["checkpoint"],
                "lag_ms": p["lag_ms"],
                "paused": p["paused"],
                "rebuilding": p["rebuilding"],
                "behind": len(log) - p["checkpoint"],
                "oldest_unprojected_ms": (
                    self._now - log[p["checkpoint"]]["t"] if p["checkpoint"] < len(log) else 0
                ),
                "model": copy.deepcopy(p["model"]),
                "correct": self._projection_correct(),
                # what a correct projection shows after the same events: tells lag from a bug
                "expected_seen": dict(seen),
                "consistent_with_seen": p["model"]["balances"] == seen,
            },
            "queries": list(self.queries),
            "snapshots": {s: v["version"] for s, v in sorted(self.snapshots.items())},
            "time_travel": travel,
            "inspected": inspected,
            "traffic_rps": self.traffic_rps,
            "counters": dict(self.counters),
        }

    def objectives(self) -> list[dict[str, Any]]:
        return [
            {"id": o, "title": OBJECTIVES[o], "met": met, "detail": "done" if met else ""}
            for o, met in self.met.items()
        ]

    def summary(self) -> dict[str, Any]:
        return {"events": len(self.store.log), **self.counters}

    # ------------------------------------------------------------------ checkpoint

    def dump(self) -> dict[str, Any]:
        state = copy.deepcopy({
            "sc": self.sc, "now": self._now, "seq": self._seq,
            "heap": [list(h) for h in self._heap], "rng": self.rng.dump_state(),
            "accounts": self.accounts, "snapshots": self.snapshots,
            "traffic_rps": self.traffic_rps, "proj": self.proj, "time_travel": self.time_travel,
            "queries": self.queries, "inspected": self.inspected, "counters": self.counters,
            "met": self.met, "flags": self.flags, "next_traffic": self.next_traffic,
            "next_stats": self.next_stats,
        })  # fmt: skip
        # Stored events are never mutated after append, so a shallow copy of the log is a safe
        # checkpoint and saves deep-copying thousands of small dicts.
        state["store"] = {"log": list(self.store.log)}
        return state

    @classmethod
    def load(cls, state: dict[str, Any]) -> EventSourcingEngine:
        s = copy.deepcopy(state)
        e = cls.__new__(cls)
        e.sc = s["sc"]
        e._now, e._seq = s["now"], s["seq"]
        e._heap = [tuple(h) for h in s["heap"]]
        heapq.heapify(e._heap)
        e.rng = SeededRandom.from_state(s["rng"])
        e.store = EventStore.load(s["store"])
        e.latency = e.sc["command_latency_ms"]
        for key in (
            "accounts", "snapshots", "traffic_rps", "proj", "time_travel", "queries",
            "inspected", "counters", "met", "flags", "next_traffic", "next_stats",
        ):  # fmt: skip
            setattr(e, key, s[key])
        return e


def _brief(event: dict[str, Any]) -> dict[str, Any]:
    data = event["data"]
    amount = data.get("amount_cents", data.get("amount", 0) * EURO if event["schema"] < 2 else 0)
    return {
        "position": event["position"], "stream": event["stream"], "version": event["version"],
        "type": event["type"], "schema": event["schema"], "t": event["t"], "amount_cents": amount,
    }  # fmt: skip
