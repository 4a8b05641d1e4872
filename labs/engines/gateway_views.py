"""What the API gateway lab shows: the snapshot a visualiser draws and the availability math."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from labs.engines.gateway_core import SAMPLES, STRATEGIES

if TYPE_CHECKING:
    from labs.engines.gateway import GatewayEngine


def availability(self: GatewayEngine) -> dict[str, Any]:
    """Measured availability of each composed service and what it implies for the whole."""
    per = {n: (ok / calls if calls else None) for n, (calls, ok) in self.comp_calls.items()}
    composed = [r for r in self.sc["routes"] if "compose" in r]
    if not composed:
        return {"services": per}
    route = composed[0]

    def product(names: list[str]) -> float | None:
        values = [per[n] for n in names]
        return None if None in values else round(math.prod(values), 4)

    full, partial, failed = self.dash_totals
    answered = full + partial + failed
    return {
        "services": {n: None if v is None else round(v, 4) for n, v in per.items()},
        "all_needed": product(route["compose"]),
        "required_only": product(route["required"]) if route["required"] else 1.0,
        "measured_full": round(full / answered, 4) if answered else None,
        "measured_answered": round((full + partial) / answered, 4) if answered else None,
    }


def snapshot(self: GatewayEngine) -> dict[str, Any]:
    now = self._now
    services = []
    for s, name in enumerate(self.service_names):
        spec = self.sc["services"][name]
        replicas = [
            {"id": self.rep_id[r], "speed": self.rep_speed[r], "state": self.rep_state[r],
             "in_pool": self.rep_pool[r], "in_flight": self.inflight[r],
             "failed_probes": self.rep_fails[r], "passed_probes": self.rep_oks[r],
             "served": self.rep_total[r] + self.rep_served[r]}
            for r in range(len(self.rep_id)) if self.rep_svc[r] == s
        ]  # fmt: skip
        services.append({"name": name, "latency_ms": spec["latency_ms"],
                         "concurrency": spec["concurrency"], "p95_ms": self.svc_p95[s],
                         "replicas": replicas})  # fmt: skip
    clients = []
    for i, c in enumerate(self.sc["clients"]):
        tokens = self.buckets[i].tokens(now)
        clients.append({"id": c["id"], "rps": self.client_rps[i], "paths": c["paths"],
                        "sent": self.client_totals[i][0] + self.client_sent[i],
                        "rate_limited": self.client_totals[i][1] + self.client_limited[i],
                        "tokens": round(tokens, 2)})  # fmt: skip
    return {
        "t": now,
        "strategy": self.strategy,
        "strategies": list(STRATEGIES),
        "timeout_ms": self.timeout_ms,
        "hedging": dict(self.hedging),
        "rate_limit": dict(self.rate_limit),
        "health": dict(self.health),
        "composition": dict(self.composition),
        "routes": self.sc["routes"],
        "clients": clients,
        "services": services,
        "latency": self.lat_view,
        "samples_kept": SAMPLES,
        "availability": availability(self),
        "dashboards": dict(zip(("full", "partial", "failed"), self.dash_totals, strict=True)),
        "totals": dict(self.totals),
        "last": self.last_stats,
        "history_fields": [
            "second",
            "requests",
            "ok",
            "rate_limited",
            "failed",
            "p50",
            "p95",
            "p99",
            "strategy",
        ],  # fmt: skip
        "history": self.history,
        "pool_log": self.pool_log[-10:],
        "locked": list(self.sc["locked"]),
        "objectives": self.objectives(),
    }
