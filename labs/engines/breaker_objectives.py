"""Objectives of the circuit-breaker lab: predicates over the run, checked as it goes.

Each hook returns the ids that became met just now; once met an objective stays met.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labs.engines.breaker_scenario import OBJECTIVES

if TYPE_CHECKING:
    from labs.engines.breaker import BreakerEngine

_JITTER = ("full", "equal", "decorrelated")
_ACTIVE_BREAKER = ("CLOSED", "OPEN", "HALF_OPEN", "FORCED_OPEN")


class Objectives:
    def __init__(self, ids: list[str], targets: dict[str, Any]) -> None:
        self.ids = list(ids)
        self.targets = dict(targets)
        self.met: dict[str, int] = {}  # id -> when met (ms)
        self.detail: dict[str, str] = {i: "not yet" for i in ids}
        self.opened_after_outage = False
        self.best_storm = 0.0
        self.tame: dict[str, Any] | None = None
        self.failing_calls = 0
        self.finished_requests = 0
        self.user_errors = 0

    def _hit(self, objective: str, t: int, detail: str) -> list[str]:
        if objective not in self.ids or objective in self.met:
            return []
        self.met[objective] = t
        self.detail[objective] = detail
        return [objective]

    # --- hooks

    def on_outage_start(self, engine: BreakerEngine, t: int) -> list[str]:
        if "retry_storm" in self.met and "storm_tamed" not in self.met:
            self.tame = {"start": t, "end": None, "clean": True, "why": ""}
        return []

    def on_outage_end(self, engine: BreakerEngine, t: int) -> list[str]:
        if self.tame is not None:
            self.tame["end"] = t
        return []

    def on_transition(self, engine: BreakerEngine, event: dict[str, Any]) -> list[str]:
        met: list[str] = []
        t, to = event["t"], event["to"]
        outage = engine.outage
        if to == "OPEN":
            self.opened_after_outage = True
            if outage is not None:
                after_s = (t - outage[1]) / 1000
                if after_s <= self.targets["open_within_s"]:
                    met += self._hit("breaker_opens", t, f"opened {after_s:.1f} s into the outage")
                elif "breaker_opens" in self.ids and "breaker_opens" not in self.met:
                    self.detail["breaker_opens"] = f"opened only {after_s:.1f} s into the outage"
            if event["from"] == "CLOSED" and event["reason"] in ("slow_call_rate", "both_rates"):
                met += self._hit("slow_calls_trip", t, "slow-call rate tripped the breaker")
        if (
            to == "CLOSED"
            and event["reason"] == "half_open_passed"
            and outage is None
            and self.opened_after_outage
        ):
            met += self._hit("breaker_recloses", t, "half-open probes passed: CLOSED again")
        return met

    def on_second(self, engine: BreakerEngine, stats: dict[str, Any]) -> list[str]:
        t = stats["t"]
        targets = self.targets
        met: list[str] = []
        self.failing_calls += stats["failing_calls"]
        self.finished_requests += stats["user_ok"] + stats["user_errors"] + stats["fallback"]
        self.user_errors += stats["user_errors"]

        requests, calls = stats["requests"], stats["downstream_calls"]
        if requests >= 10:
            factor = calls / requests
            self.best_storm = max(self.best_storm, factor)
            if factor >= targets["storm_factor"]:
                met += self._hit("retry_storm", t, f"{factor:.1f}x the user requests")
            elif "retry_storm" not in self.met:
                self.detail["retry_storm"] = f"peak so far {self.best_storm:.1f}x"

        if self.tame is not None:
            met += self._check_tame(engine, stats)

        evaluate_at = targets["evaluate_at_s"] * 1000
        pct = 100.0 * self.user_errors / self.finished_requests if self.finished_requests else 0.0
        if t < evaluate_at:
            self.detail["tuning_user_errors"] = f"{pct:.1f}% failed so far"
            self.detail["tuning_failing_calls"] = f"{self.failing_calls} calls so far"
        elif t == evaluate_at:
            if pct <= targets["max_user_error_pct"]:
                met += self._hit("tuning_user_errors", t, f"{pct:.1f}% of requests failed")
            else:
                self.detail["tuning_user_errors"] = f"missed: {pct:.1f}% failed"
            if self.failing_calls <= targets["max_failing_calls"]:
                met += self._hit(
                    "tuning_failing_calls", t, f"{self.failing_calls} calls hit the outage"
                )
            else:
                self.detail["tuning_failing_calls"] = f"missed: {self.failing_calls} calls"
        return met

    def _check_tame(self, engine: BreakerEngine, stats: dict[str, Any]) -> list[str]:
        tame = self.tame
        assert tame is not None
        targets = self.targets
        retry = engine.retry
        if retry["max_attempts"] < 2 or retry["backoff"] not in _JITTER:
            tame["clean"], tame["why"] = False, "retries without jittered backoff"
        elif engine.breaker.state not in _ACTIVE_BREAKER:
            tame["clean"], tame["why"] = False, "the breaker was off"
        elif stats["downstream_calls"] > targets["max_amplification"] * max(stats["requests"], 1):
            tame["clean"], tame["why"] = False, "retries multiplied the load"
        if tame["end"] is None or stats["t"] < tame["end"] + targets["recover_within_s"] * 1000:
            return []
        self.tame = None
        healthy = stats["downstream_peak"] <= engine.capacity and engine.breaker.state == "CLOSED"
        if tame["clean"] and healthy:
            return self._hit("storm_tamed", stats["t"], "outage ridden out, downstream healthy")
        why = tame["why"] or "not recovered in time"
        self.detail["storm_tamed"] = f"last outage: {why}; try the next one"
        return []

    # --- views and checkpoints

    def view(self, engine: BreakerEngine) -> list[dict[str, Any]]:
        out = []
        for objective in self.ids:
            out.append(
                {
                    "id": objective,
                    "title": OBJECTIVES[objective].format(**self.targets),
                    "met": objective in self.met,
                    "detail": self.detail[objective],
                }
            )
        return out

    def dump(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def load(cls, data: dict[str, Any]) -> Objectives:
        objectives = cls.__new__(cls)
        objectives.__dict__.update(
            {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
        )
        return objectives
