"""Objectives of the API gateway lab: predicates over the run, checked as it goes.

Each hook returns the ids that became met just now; once met an objective stays met.
"""

from __future__ import annotations

from typing import Any

from labs.engines.gateway_core import STRATEGIES
from labs.engines.gateway_scenario import OBJECTIVES


class Objectives:
    def __init__(self, ids: list[str], targets: dict[str, Any]) -> None:
        self.ids = list(ids)
        self.targets = dict(targets)
        self.met: dict[str, int] = {}
        self.detail: dict[str, str] = {i: "not yet" for i in ids}
        self.streak = 0
        self.ejected = 0

    def _hit(self, objective: str, t: int, detail: str) -> list[str]:
        if objective not in self.ids or objective in self.met:
            return []
        self.met[objective] = t
        self.detail[objective] = detail
        return [objective]

    def _note(self, objective: str, detail: str) -> None:
        if objective in self.ids and objective not in self.met:
            self.detail[objective] = detail

    def on_pool_change(self, event: dict[str, Any]) -> list[str]:
        if event["type"] == "replica_removed":
            self.ejected += 1
            return self._hit(
                "replica_ejected", event["t"], f"{event['replica']} left the pool after "
                f"{event['failures']} failed probes"
            )  # fmt: skip
        if event["type"] == "replica_rejoined" and self.ejected:
            return self._hit("replica_rejoined", event["t"], f"{event['replica']} is back")
        return []

    def on_second(self, stats: dict[str, Any], lat: dict[str, dict[str, Any]]) -> list[str]:
        t, tg = stats["t"], self.targets
        met: list[str] = []
        limited = {c: v[1] for c, v in stats["clients"].items() if v[0] > 0}
        throttled = [c for c, n in limited.items() if n >= 5]
        if len(throttled) == 1 and sum(limited.values()) == limited[throttled[0]]:
            met += self._hit("throttle_noisy", t, f"only {throttled[0]} got 429s")
        p99 = stats["p99"]
        if stats["rate_limit"] and p99 is not None and p99 <= tg["p99_target_ms"]:
            self.streak += 1
        else:
            self.streak = 0
        self._note("latency_protected", f"{self.streak} s in a row so far (p99 {p99} ms)")
        if self.streak >= tg["hold_s"]:
            met += self._hit("latency_protected", t, f"p99 {p99} ms for {self.streak} s")
        met += self._tails(t, lat)
        dash = stats["dashboards"]
        if dash["partial"] > 0 and dash["failed"] == 0:
            met += self._hit("partial_results", t, f"{dash['partial']} partial, none failed")
            if dash["p99"] is not None and dash["p99"] <= tg["composite_p99_ms"]:
                met += self._hit("composite_fast", t, f"dashboard p99 {dash['p99']} ms")
            else:
                self._note("composite_fast", f"dashboard p99 {dash['p99']} ms")
        elif dash["failed"]:
            self._note("partial_results", f"{dash['failed']} dashboards failed last second")
        return met

    def _tails(self, t: int, lat: dict[str, dict[str, Any]]) -> list[str]:
        tg = self.targets
        n = tg["min_samples"]
        met: list[str] = []
        rr = lat.get("round_robin")
        if rr and rr["count"] >= n:
            for strategy in STRATEGIES[1:]:
                other = lat.get(strategy)
                if other and other["count"] >= n:
                    cut = 100.0 * (1 - other["p99"] / rr["p99"])
                    if cut >= tg["tail_cut_pct"]:
                        met += self._hit("tail_cut", t, f"{strategy} p99 {cut:.0f}% lower")
                    else:
                        self._note("tail_cut", f"{strategy} p99 only {cut:.0f}% lower")
        for strategy in STRATEGIES:
            plain, hedged = lat.get(strategy), lat.get(strategy + "+hedge")
            if plain and hedged and plain["count"] >= n and hedged["count"] >= n:
                cut = 100.0 * (1 - hedged["p99"] / plain["p99"])
                if cut >= tg["hedge_cut_pct"]:
                    met += self._hit("hedge_tail", t, f"{strategy}: hedging cut p99 {cut:.0f}%")
                else:
                    self._note("hedge_tail", f"{strategy}: hedging cut p99 only {cut:.0f}%")
        return met

    def view(self) -> list[dict[str, Any]]:
        return [
            {"id": o, "title": OBJECTIVES[o].format(**self.targets), "met": o in self.met,
             "detail": self.detail[o]}
            for o in self.ids
        ]  # fmt: skip

    def dump(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def load(cls, data: dict[str, Any]) -> Objectives:
        objectives = cls.__new__(cls)
        objectives.__dict__.update(
            {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
        )
        return objectives
