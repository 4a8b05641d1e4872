"""API gateway lab: clients -> gateway -> replicas of several services (docs/labs/api-gateway.md).

Per request the gateway: takes a token from the client's bucket (else 429), matches the
longest route prefix (else 404), then either proxies to one service or fans out to several
(API composition). Each upstream call picks a replica from the service's pool (healthy
replicas only) by the current load-balancing strategy, may be hedged to a second replica, and
is given up on at its timeout. Health probes move replicas out of and back into the pool.
Per-request outcomes are aggregated into one `stats` event per simulated second.
"""

from __future__ import annotations

import heapq
import math
from typing import Any

from labs.engines import Engine, SeededRandom, new_event_engine
from labs.engines.gateway_core import SAMPLES, TokenBucket, percentiles, pick_replica
from labs.engines.gateway_objectives import Objectives
from labs.engines.gateway_scenario import COMMANDS, SLOW_FACTOR, validate
from labs.engines.gateway_views import availability, snapshot

__all__ = ["GatewayEngine", "TokenBucket", "pick_replica"]

_DONE, _TIMEOUT, _HEDGE, _PROBE, _FAULT = range(5)
# call outcomes
OK, ERROR, TIMEOUT, NO_REPLICA = range(4)
HANG_MS = 30000  # a hung replica releases its connection after this long
QUEUE_FACTOR = 8  # a replica queues at most 8x its workers; beyond that it refuses at once
HISTORY_S = 60
_COUNTERS = (
    "requests", "ok", "rate_limited", "not_found", "errors", "timeouts", "no_replica",
    "hedges", "hedge_wins",
)  # fmt: skip


class GatewayEngine(Engine):
    slug = "api-gateway"
    title = "API gateway: routing, rate limiting, load balancing, composition"

    @classmethod
    def default_scenario(cls) -> dict[str, Any]:
        return {
            "services": {
                "users": {"latency_ms": 40, "replicas": [1, 1, 3]},
                "orders": {"latency_ms": 60, "replicas": [1, 2]},
            },
            "routes": [
                {"prefix": "/api/users", "service": "users"},
                {"prefix": "/api/orders", "service": "orders"},
            ],
            "clients": [
                {"id": "web", "rps": 60, "paths": ["/api/users/1", "/api/orders/7"]},
                {"id": "mobile", "rps": 40, "paths": ["/api/users/2"]},
            ],
        }

    @classmethod
    def command_schema(cls) -> list[dict[str, Any]]:
        return [dict(c) for c in COMMANDS]

    # ------------------------------------------------------------------ building

    @classmethod
    def create(cls, scenario: dict[str, Any] | None = None, seed: int = 0) -> GatewayEngine:
        e, sc = new_event_engine(cls, scenario, seed, validate)
        e.strategy = sc["gateway"]["strategy"]
        e.timeout_ms = sc["gateway"]["timeout_ms"]
        e.rate_limit = dict(sc["rate_limit"])
        e.health = dict(sc["health"])
        e.hedging = dict(sc["hedging"])
        e.composition = dict(sc["composition"])
        e.service_names = list(sc["services"])
        e.rep_id, e.rep_svc, e.rep_speed = [], [], []
        for s, name in enumerate(e.service_names):
            for i, speed in enumerate(sc["services"][name]["replicas"]):
                e.rep_id.append(f"{name}_{i + 1}")
                e.rep_svc.append(s)
                e.rep_speed.append(speed)
        n = len(e.rep_id)
        e.rep_state = ["up"] * n
        e.rep_pool = [True] * n
        e.rep_fails = [0] * n
        e.rep_oks = [0] * n
        e.inflight = [0] * n
        e.rep_served = [0] * n  # this second
        e.rep_total = [0] * n
        e.cursors = [0] * len(e.service_names)
        e._rebuild_pools()
        e.client_rps = [c["rps"] for c in sc["clients"]]
        e.next_arrival = [e._gap(0, r) for r in e.client_rps]
        e.buckets = [e._bucket() for _ in sc["clients"]]
        e.client_sent = [0] * len(e.client_rps)
        e.client_limited = [0] * len(e.client_rps)
        e.client_totals = [[0, 0] for _ in e.client_rps]
        e.calls = {}  # cid -> [rid, svc, start, outstanding, first_replica, hedged, required]
        e.reqs = {}  # rid -> [client, start, pending, failed_required, failed_optional, route]
        e.next_id = 1
        e.stats = dict.fromkeys(_COUNTERS, 0)
        e.totals = dict.fromkeys(_COUNTERS, 0)
        e.dash = [0, 0, 0]  # full, partial, failed this second
        e.dash_totals = [0, 0, 0]
        e.dash_lat = []
        e.sec_lat = []
        e.samples = {}  # strategy key -> recent latencies of proxied requests
        e.lat_view = {}
        e.svc_lat = [[] for _ in e.service_names]  # recent successful call latencies
        e.svc_p95 = [sc["services"][n]["latency_ms"] * 3 for n in e.service_names]
        e.comp_calls = {name: [0, 0] for name in e.service_names}  # composed calls, ok
        e.history = []
        e.pool_log = []
        e.last_stats = None
        e.next_stats = 1000
        e.objectives_state = Objectives(sc["objectives"], sc["targets"])
        e._push(e.health["interval_ms"], _PROBE)
        for fault in sc["faults"]:
            e._push(fault["at_s"] * 1000, _FAULT, e.rep_id.index(fault["replica"]), fault["state"])
        return e

    def _bucket(self) -> TokenBucket:
        return TokenBucket(self.rate_limit["rate_per_s"], self.rate_limit["burst"], self._now)

    def _rebuild_pools(self) -> None:
        self.pools = [[] for _ in self.service_names]
        for r, s in enumerate(self.rep_svc):
            if self.rep_pool[r]:
                self.pools[s].append(r)

    def _push(self, t: int, kind: int, *payload: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, kind, *payload))

    def _gap(self, t: int, rps: float) -> int | None:
        # Poisson arrivals in whole ms, always strictly after t.
        if rps <= 0:
            return None
        return t + max(1, int(self.rng.expovariate(rps) * 1000.0 + 0.5))

    # ------------------------------------------------------------------ running

    @property
    def now_ms(self) -> int:
        return self._now

    def advance(self, to_ms: int) -> list[dict[str, Any]]:
        if isinstance(to_ms, bool) or not isinstance(to_ms, int):
            raise ValueError("to_ms must be an integer")
        if to_ms < self._now:
            raise ValueError(f"cannot go back in time from {self._now} to {to_ms}")
        events: list[dict[str, Any]] = []
        heap = self._heap
        arrivals = self.next_arrival
        inf = math.inf
        while True:
            t_heap = heap[0][0] if heap else inf
            t_arr, c_arr = inf, -1
            for c, at in enumerate(arrivals):
                if at is not None and at < t_arr:
                    t_arr, c_arr = at, c
            t = min(t_heap, t_arr, self.next_stats)
            if t > to_ms:
                break
            if t_heap == t:
                entry = heapq.heappop(heap)
                kind = entry[2]
                if kind == _DONE:
                    self._done(t, entry[3], entry[4], entry[5])
                elif kind == _TIMEOUT:
                    if entry[3] in self.calls:
                        self._resolve(t, entry[3], TIMEOUT)
                elif kind == _HEDGE:
                    self._hedge(t, entry[3])
                elif kind == _PROBE:
                    self._probe(t, events)
                else:
                    self.set_replica_state(t, entry[3], entry[4], events)
            elif t_arr == t:
                arrivals[c_arr] = self._gap(t, self.client_rps[c_arr])
                self._arrive(t, c_arr)
            else:
                self._emit_stats(t, events)
        self._now = to_ms
        return events

    def _arrive(self, t: int, client: int) -> None:
        stats = self.stats
        stats["requests"] += 1
        self.client_sent[client] += 1
        if self.rate_limit["enabled"] and not self.buckets[client].allow(t):
            stats["rate_limited"] += 1
            self.client_limited[client] += 1
            return
        paths = self.sc["clients"][client]["paths"]
        path = paths[self.rng.randrange(len(paths))] if len(paths) > 1 else paths[0]
        route = self._route(path)
        if route is None:
            stats["not_found"] += 1
            return
        rid = self.next_id
        self.next_id += 1
        spec = self.sc["routes"][route]
        if "service" in spec:
            self.reqs[rid] = [client, t, 1, 0, 0, route]
            self._call(t, rid, self.service_names.index(spec["service"]), True, self.timeout_ms)
            return
        self.reqs[rid] = [client, t, len(spec["compose"]), 0, 0, route]
        for name in spec["compose"]:
            required = name in spec["required"]
            timeout = self.composition["timeout_ms"]
            self._call(t, rid, self.service_names.index(name), required, timeout)

    def _route(self, path: str) -> int | None:
        best, best_len = None, -1
        for i, route in enumerate(self.sc["routes"]):
            prefix = route["prefix"]
            matches = path == prefix or path.startswith(prefix.rstrip("/") + "/")
            if matches and len(prefix) > best_len:
                best, best_len = i, len(prefix)
        return best

    def _call(self, t: int, rid: int, svc: int, required: bool, timeout: int) -> None:
        cid = self.next_id
        self.next_id += 1
        pool = self.pools[svc]
        self.calls[cid] = [rid, svc, t, 0, -1, False, required]
        if not pool:
            self._resolve(t, cid, NO_REPLICA)
            return
        r, self.cursors[svc] = pick_replica(
            self.strategy, pool, self.inflight, self.cursors[svc], self.rng
        )
        self.calls[cid][4] = r
        self._attempt(t, cid, r)
        self._push(t + timeout, _TIMEOUT, cid)
        if self.hedging["enabled"]:
            delay = self.hedging["delay_ms"] or self.svc_p95[svc]
            if delay < timeout:
                self._push(t + max(1, delay), _HEDGE, cid)

    def _attempt(self, t: int, cid: int, r: int) -> None:
        call = self.calls[cid]
        call[3] += 1
        self.inflight[r] = n = self.inflight[r] + 1
        self.rep_served[r] += 1
        state = self.rep_state[r]
        if state == "crash":
            self._push(t + 1 + self.rng.randrange(3), _DONE, cid, r, 0)
            return
        if state == "hang":
            self._push(t + HANG_MS, _DONE, cid, r, 0)
            return
        spec = self.sc["services"][self.service_names[call[1]]]
        if n > QUEUE_FACTOR * spec["concurrency"]:  # its queue is full: refused at once (503)
            self._push(t + 1, _DONE, cid, r, 0)
            return
        latency = spec["latency_ms"] * self.rep_speed[r]
        latency *= math.exp(spec["spread"] * self.rng.gauss(0.0, 1.0))
        over = n - spec["concurrency"]
        if over > 0:  # more work than workers: everything on this replica slows down
            latency *= 1.0 + over / spec["concurrency"]
        if state == "slow":
            latency *= SLOW_FACTOR
        self._push(t + max(1, int(latency)), _DONE, cid, r, 1)

    def _done(self, t: int, cid: int, r: int, ok: int) -> None:
        self.inflight[r] -= 1
        call = self.calls.get(cid)
        if call is None:
            return
        call[3] -= 1
        if ok:
            if r != call[4]:
                self.stats["hedge_wins"] += 1
            samples = self.svc_lat[call[1]]
            samples.append(t - call[2])
            self._resolve(t, cid, OK)
        elif call[3] == 0:
            self._resolve(t, cid, ERROR)

    def _hedge(self, t: int, cid: int) -> None:
        call = self.calls.get(cid)
        if call is None or call[5] or call[3] == 0:
            return
        pool = [r for r in self.pools[call[1]] if r != call[4]]
        if not pool:
            return
        call[5] = True
        self.stats["hedges"] += 1
        r, self.cursors[call[1]] = pick_replica(
            self.strategy, pool, self.inflight, self.cursors[call[1]], self.rng
        )
        self._attempt(t, cid, r)

    def _resolve(self, t: int, cid: int, outcome: int) -> None:
        rid, svc, _, _, _, _, required = self.calls.pop(cid)
        req = self.reqs[rid]
        route = self.sc["routes"][req[5]]
        if "compose" in route:
            counts = self.comp_calls[self.service_names[svc]]
            counts[0] += 1
            counts[1] += outcome == OK
        if outcome != OK:
            req[3 if required else 4] += 1
        req[2] -= 1
        if req[2] > 0:
            return
        del self.reqs[rid]
        latency = t - req[1]
        stats = self.stats
        if "service" in route:
            if outcome == OK:
                stats["ok"] += 1
                self.sec_lat.append(latency)
                key = self.strategy + ("+hedge" if self.hedging["enabled"] else "")
                self.samples.setdefault(key, []).append(latency)
            elif outcome == TIMEOUT:
                stats["timeouts"] += 1
            elif outcome == NO_REPLICA:
                stats["no_replica"] += 1
            else:
                stats["errors"] += 1
            return
        self.dash_lat.append(latency)
        if req[3] or (req[4] and not self.composition["allow_partial"]):
            self.dash[2] += 1
            stats["errors"] += 1
        elif req[4]:
            self.dash[1] += 1
            stats["ok"] += 1
        else:
            self.dash[0] += 1
            stats["ok"] += 1

    # ------------------------------------------------------------------ health

    def _probe(self, t: int, events: list) -> None:
        self._push(t + self.health["interval_ms"], _PROBE)
        changed = False
        for r, state in enumerate(self.rep_state):
            if state in ("up", "slow"):  # a liveness probe: slow still answers
                self.rep_oks[r] += 1
                self.rep_fails[r] = 0
                if not self.rep_pool[r] and self.rep_oks[r] >= self.health["healthy_after"]:
                    self.rep_pool[r] = changed = True
                    self._pool_event(t, "replica_rejoined", r, events)
            else:
                self.rep_fails[r] += 1
                self.rep_oks[r] = 0
                if self.rep_pool[r] and self.rep_fails[r] >= self.health["unhealthy_after"]:
                    self.rep_pool[r] = False
                    changed = True
                    self._pool_event(t, "replica_removed", r, events)
        if changed:
            self._rebuild_pools()

    def _pool_event(self, t: int, kind: str, r: int, events: list | None) -> None:
        event = {"t": t, "type": kind, "replica": self.rep_id[r], "failures": self.rep_fails[r]}
        self.pool_log.append(event)
        del self.pool_log[:-20]
        if events is not None:
            events.append(event)
        self._objective_events(self.objectives_state.on_pool_change(event), events, t)

    def set_replica_state(self, t: int, r: int, state: str, events: list | None) -> dict:
        self.rep_state[r] = state
        event = {"t": t, "type": "replica_state", "replica": self.rep_id[r], "state": state}
        self.pool_log.append(event)
        del self.pool_log[:-20]
        if events is not None:
            events.append(event)
        return event

    @staticmethod
    def _objective_events(met: list[str], events: list | None, t: int) -> None:
        if events is not None:
            for objective in met:
                events.append({"t": t, "type": "objective_met", "id": objective})

    # ------------------------------------------------------------------ stats

    def _emit_stats(self, t: int, events: list) -> None:
        self.next_stats = t + 1000
        stats = self.stats
        event: dict[str, Any] = {"t": t, "type": "stats", "second": t // 1000, **stats}
        event.update(percentiles(self.sec_lat))
        dash = self.dash
        event["dashboards"] = {"full": dash[0], "partial": dash[1], "failed": dash[2],
                               "p99": percentiles(self.dash_lat)["p99"]}  # fmt: skip
        event["clients"] = {
            c["id"]: [self.client_sent[i], self.client_limited[i]]
            for i, c in enumerate(self.sc["clients"])
        }
        event["replicas"] = {
            rid: [self.rep_served[r], self.inflight[r]] for r, rid in enumerate(self.rep_id)
        }
        event["strategy"] = self.strategy
        event["hedging"] = self.hedging["enabled"]
        event["rate_limit"] = self.rate_limit["enabled"]
        events.append(event)
        self.last_stats = event
        for key in _COUNTERS:
            self.totals[key] += stats[key]
        for i in range(3):
            self.dash_totals[i] += dash[i]
        for i in range(len(self.client_sent)):
            self.client_totals[i][0] += self.client_sent[i]
            self.client_totals[i][1] += self.client_limited[i]
        for r in range(len(self.rep_id)):
            self.rep_total[r] += self.rep_served[r]
        key = self.strategy + ("+hedge" if self.hedging["enabled"] else "")
        samples = self.samples.get(key)
        if samples:
            del samples[:-SAMPLES]
            self.lat_view[key] = {"count": len(samples), **percentiles(samples)}
        for s, lat in enumerate(self.svc_lat):
            if lat:
                del lat[:-500]
                self.svc_p95[s] = percentiles(lat)["p95"]
        self.history.append(
            [t // 1000, stats["requests"], stats["ok"], stats["rate_limited"],
             stats["errors"] + stats["timeouts"] + stats["no_replica"], event["p50"],
             event["p95"], event["p99"], self.strategy]
        )  # fmt: skip
        del self.history[:-HISTORY_S]
        met = self.objectives_state.on_second(event, self.lat_view)
        self._objective_events(met, events, t)
        self.stats = dict.fromkeys(_COUNTERS, 0)
        self.dash = [0, 0, 0]
        self.dash_lat = []
        self.sec_lat = []
        self.client_sent = [0] * len(self.client_sent)
        self.client_limited = [0] * len(self.client_limited)
        self.rep_served = [0] * len(self.rep_served)

    # ------------------------------------------------------------------ commands

    def apply(self, command: dict[str, Any]) -> dict[str, Any]:
        from labs.engines.gateway_commands import apply_command

        return apply_command(self, command)

    # ------------------------------------------------------------------ views

    def availability(self) -> dict[str, Any]:
        return availability(self)

    def snapshot(self) -> dict[str, Any]:
        return snapshot(self)

    def objectives(self) -> list[dict[str, Any]]:
        return self.objectives_state.view()

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.totals)
        out["latency"] = self.lat_view
        out["dashboards"] = list(self.dash_totals)
        out["objectives_met"] = [o["id"] for o in self.objectives() if o["met"]]
        return out

    # ------------------------------------------------------------------ checkpoints

    _PLAIN = (
        "sc", "strategy", "timeout_ms", "rate_limit", "health", "hedging", "composition",
        "service_names", "rep_id", "rep_svc", "rep_speed", "rep_state", "rep_pool", "rep_fails",
        "rep_oks", "inflight", "rep_served", "rep_total", "cursors", "client_rps",
        "next_arrival", "client_sent", "client_limited", "client_totals", "next_id", "stats",
        "totals", "dash", "dash_totals", "dash_lat", "sec_lat", "samples", "lat_view",
        "svc_lat", "svc_p95", "comp_calls", "history", "pool_log", "last_stats", "next_stats",
    )  # fmt: skip

    def dump(self) -> dict[str, Any]:
        state = {key: getattr(self, key) for key in self._PLAIN}
        state.update(
            now=self._now,
            seq=self._seq,
            heap=[list(e) for e in self._heap],
            rng=self.rng.dump_state(),
            buckets=[b.dump() for b in self.buckets],
            calls=[[k, *v] for k, v in self.calls.items()],
            reqs=[[k, *v] for k, v in self.reqs.items()],
            objectives=self.objectives_state.dump(),
        )
        return state

    @classmethod
    def load(cls, state: dict[str, Any]) -> GatewayEngine:
        e = cls.__new__(cls)
        for key in cls._PLAIN:
            setattr(e, key, state[key])
        e._now = state["now"]
        e._seq = state["seq"]
        e._heap = [tuple(x) for x in state["heap"]]
        heapq.heapify(e._heap)
        e.rng = SeededRandom.from_state(state["rng"])
        e.buckets = [TokenBucket.load(b) for b in state["buckets"]]
        e.calls = {c[0]: c[1:] for c in state["calls"]}
        e.reqs = {r[0]: r[1:] for r in state["reqs"]}
        e.objectives_state = Objectives.load(state["objectives"])
        e._rebuild_pools()
        return e
