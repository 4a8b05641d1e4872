"""Circuit-breaker lab: a client calls a flaky downstream through timeout, retry, breaker,
bulkhead and fallback (see docs/labs/circuit-breaker.md).

Per attempt the order is Resilience4j's default decorator order, Retry(CircuitBreaker(
Bulkhead(TimeLimiter(call)))): a call the breaker refuses is short-circuited (no retry), a
bulkhead rejection is an ignored error for the breaker (its permit is given back), errors and
timeouts are recorded by the breaker and retried while attempts remain. The downstream keeps
working on calls the client has timed out on, so retries add to its load.
"""

from __future__ import annotations

import heapq
import math
from typing import Any

from labs.engines import Engine, SeededRandom, new_event_engine
from labs.engines.breaker_core import (
    STATES,
    BreakerConfig,
    CircuitBreaker,
    IllegalStateTransition,
    backoff_interval,
    jittered_backoff,
)
from labs.engines.breaker_objectives import Objectives
from labs.engines.breaker_scenario import COMMANDS, validate

__all__ = [
    "BreakerConfig",
    "BreakerEngine",
    "CircuitBreaker",
    "IllegalStateTransition",
    "backoff_interval",
    "jittered_backoff",
]

# heap entry kinds
_END, _DS_DONE, _RETRY, _OUTAGE_ON, _OUTAGE_OFF = range(5)
# per-second counters
(
    S_REQ, S_OK, S_FAIL, S_TIMEOUT, S_SHORT, S_BULK, S_FALLBACK, S_USER_ERR, S_USER_OK,
    S_RETRIES, S_DS_CALLS, S_DS_PEAK, S_FAILING_CALLS,
) = range(13)  # fmt: skip
_STAT_NAMES = (
    "requests", "success", "failure", "timeout", "short_circuited", "bulkhead_rejected",
    "fallback", "user_errors", "user_ok", "retries", "downstream_calls", "downstream_peak",
    "failing_calls",
)  # fmt: skip
HANG_MS = 30000  # a hung downstream answers nothing for this long
HISTORY_S = 120


class BreakerEngine(Engine):
    slug = "circuit-breaker"
    title = "Circuit breaker, retries and backoff"

    @classmethod
    def default_scenario(cls) -> dict[str, Any]:
        return {
            "load": {"rps": 50},
            "downstream": {
                "latency_ms": 80,
                "error_rate": 0.02,
                "capacity": 40,
                "outages": [{"start_s": 30, "duration_s": 30, "mode": "error"}],
            },
            "client": {"timeout_ms": 1000},
            "breaker": {
                "sliding_window_size": 20,
                "minimum_number_of_calls": 10,
                "wait_duration_in_open_ms": 5000,
                "permitted_calls_in_half_open": 5,
            },
            "objectives": ["breaker_opens", "breaker_recloses"],
        }

    @classmethod
    def command_schema(cls) -> list[dict[str, Any]]:
        return [dict(c) for c in COMMANDS]

    # ------------------------------------------------------------------ building

    @classmethod
    def create(cls, scenario: dict[str, Any] | None = None, seed: int = 0) -> BreakerEngine:
        engine, sc = new_event_engine(cls, scenario, seed, validate)
        d, c = sc["downstream"], sc["client"]
        engine.rps = sc["load"]["rps"]
        engine.latency_ms = d["latency_ms"]
        engine.spread = d["latency_spread"]
        engine.error_rate = d["error_rate"]
        engine.capacity = d["capacity"]
        engine.outage = None  # [mode, since_ms, latency_factor]
        engine.outage_log = []  # [start, end|None, mode]
        engine.timeout_ms = c["timeout_ms"]
        engine.fallback = c["fallback"]
        engine.bulkhead = c["bulkhead"]
        engine.retry = dict(c["retry"])
        engine.client_in_flight = 0
        engine.ds_in_flight = 0
        b = dict(sc["breaker"])
        enabled = b.pop("enabled")
        engine.breaker = CircuitBreaker(BreakerConfig(**b), 0)
        if not enabled:
            engine.breaker.transition_to("DISABLED", 0)
            engine.breaker.transitions.clear()
        engine.transition_log = []
        engine.stats = [0] * 13
        engine.latencies = []
        engine.history = []
        engine.totals = [0] * 13
        # Nothing may happen at t=0: advance() returns events after the start only.
        engine.next_arrival = max(1, engine._gap(0)) if engine.rps > 0 else None
        engine.next_stats = 1000
        engine.last_stats = None
        engine.objectives_state = Objectives(sc["objectives"], sc["targets"])
        for outage in d["outages"]:
            start = outage["start_s"] * 1000
            engine._push(start, _OUTAGE_ON, outage["mode"], outage["latency_factor"])
            engine._push(start + outage["duration_s"] * 1000, _OUTAGE_OFF)
        return engine

    def _push(self, t: int, kind: int, *payload: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, kind, *payload))

    def _gap(self, t: int) -> int:
        # Poisson arrivals: exponential gaps, whole ms (several arrivals may share one ms).
        return t + int(self.rng.expovariate(self.rps) * 1000.0 + 0.5)

    # ------------------------------------------------------------------ running

    @property
    def now_ms(self) -> int:
        return self._now

    @property
    def finished(self) -> bool:
        end_s = self.sc["end_s"]
        return end_s is not None and self._now >= end_s * 1000

    def advance(self, to_ms: int) -> list[dict[str, Any]]:
        if isinstance(to_ms, bool) or not isinstance(to_ms, int):
            raise ValueError("to_ms must be an integer")
        if to_ms < self._now:
            raise ValueError(f"cannot go back in time from {self._now} to {to_ms}")
        events: list[dict[str, Any]] = []
        heap = self._heap
        breaker = self.breaker
        inf = math.inf
        while True:
            t_heap = heap[0][0] if heap else inf
            t_arr = self.next_arrival if self.next_arrival is not None else inf
            t_timer = breaker.next_timer_ms
            t_timer = inf if t_timer is None else t_timer
            t = min(t_heap, t_arr, t_timer, self.next_stats)
            if t > to_ms:
                break
            if t_timer == t:
                breaker.poll(t)
            elif t_heap == t:
                entry = heapq.heappop(heap)
                kind = entry[2]
                if kind == _END:
                    self._end_attempt(entry)
                elif kind == _DS_DONE:
                    self.ds_in_flight -= 1
                elif kind == _RETRY:
                    self._attempt(t, entry[3], entry[4], entry[5])
                elif kind == _OUTAGE_ON:
                    self._outage_on(t, entry[3], entry[4], events)
                else:
                    self._outage_off(t, events)
            elif t_arr == t:
                self.next_arrival = self._gap(t)
                self.stats[S_REQ] += 1
                self._attempt(t, t, 1, 0)
            else:
                self._emit_stats(t, events)
            if breaker.transitions:
                self._drain(events)
            breaker = self.breaker
        self._now = to_ms
        return events

    def _attempt(self, t: int, req_start: int, attempt: int, prev_backoff: int) -> None:
        stats = self.stats
        if not self.breaker.try_acquire(t):
            stats[S_SHORT] += 1
            self._finish(t, req_start, False)
            return
        if self.bulkhead and self.client_in_flight >= self.bulkhead:
            self.breaker.on_error(0, t, ignored=True)
            stats[S_BULK] += 1
            self._finish(t, req_start, False)
            return
        self.client_in_flight += 1
        self.ds_in_flight = n = self.ds_in_flight + 1
        stats[S_DS_CALLS] += 1
        if n > stats[S_DS_PEAK]:
            stats[S_DS_PEAK] = n
        rng = self.rng
        outage = self.outage
        capacity = self.capacity
        if outage is not None:
            stats[S_FAILING_CALLS] += 1
        if outage is not None and outage[0] == "error":
            failed, latency = True, 5 + int(rng.random() * 15)
        elif n > 3 * capacity:
            failed, latency = True, 2  # queue full: shed at once (503)
        elif outage is not None and outage[0] == "hang":
            failed, latency = True, HANG_MS
        else:
            latency = self.latency_ms * math.exp(self.spread * rng.gauss(0.0, 1.0))
            if outage is not None:
                latency *= outage[2]
            p_fail = self.error_rate
            over = n / capacity - 1.0
            if over > 0:  # overloaded: queueing slows every call and some fail
                latency *= 1.0 + 2.0 * over
                p_fail += (1.0 - p_fail) * min(1.0, 0.5 * over)
            failed = rng.random() < p_fail
            latency = max(1, int(latency))
        if latency <= self.timeout_ms:
            self._push(
                t + latency, _END, req_start, attempt, t, 1 if failed else 0, prev_backoff, 1
            )
        else:
            self._push(t + self.timeout_ms, _END, req_start, attempt, t, 2, prev_backoff, 0)
            self._push(t + latency, _DS_DONE)

    def _end_attempt(self, entry: tuple) -> None:
        t, _, _, req_start, attempt, started, outcome, prev_backoff, ds_release = entry
        self.client_in_flight -= 1
        if ds_release:
            self.ds_in_flight -= 1
        stats = self.stats
        if outcome == 0:
            self.breaker.on_success(t - started, t)
            stats[S_OK] += 1
            self._finish(t, req_start, True)
            return
        self.breaker.on_error(t - started, t)
        stats[S_TIMEOUT if outcome == 2 else S_FAIL] += 1
        retry = self.retry
        if attempt >= retry["max_attempts"]:
            self._finish(t, req_start, False)
            return
        wait = self._backoff(attempt, prev_backoff)
        stats[S_RETRIES] += 1
        if wait == 0:
            self._attempt(t, req_start, attempt + 1, 0)
        else:
            self._push(t + wait, _RETRY, req_start, attempt + 1, wait)

    def _backoff(self, failed_attempts: int, prev_backoff: int) -> int:
        r = self.retry
        kind = r["backoff"]
        if kind == "none":
            return 0
        if kind == "fixed":
            return r["initial_ms"]
        if kind == "exponential":
            return backoff_interval(failed_attempts, r["initial_ms"], r["multiplier"], r["max_ms"])
        previous = prev_backoff or None
        return jittered_backoff(
            kind, failed_attempts - 1, r["initial_ms"], r["max_ms"], self.rng, previous
        )

    def _finish(self, t: int, req_start: int, ok: bool) -> None:
        stats = self.stats
        self.latencies.append(t - req_start)
        if ok:
            stats[S_USER_OK] += 1
        elif self.fallback:
            stats[S_FALLBACK] += 1
        else:
            stats[S_USER_ERR] += 1

    def _outage_on(self, t: int, mode: str, factor: float, events: list | None) -> dict:
        self.outage = [mode, t, factor]
        self.outage_log.append([t, None, mode])
        del self.outage_log[:-20]
        event = {"t": t, "type": "outage_started", "mode": mode}
        self._objective_events(self.objectives_state.on_outage_start(self, t), events, t)
        if events is not None:
            events.append(event)
        return event

    def _outage_off(self, t: int, events: list | None) -> dict | None:
        if self.outage is None:
            return None
        self.outage = None
        self.outage_log[-1][1] = t
        event = {"t": t, "type": "outage_ended"}
        self._objective_events(self.objectives_state.on_outage_end(self, t), events, t)
        if events is not None:
            events.append(event)
        return event

    def _drain(self, events: list) -> None:
        for tr in self.breaker.transitions:
            event = {"t": tr["t"], "type": "breaker_transition", "from": tr["from"],
                     "to": tr["to"], "reason": tr["reason"]}  # fmt: skip
            events.append(event)
            self.transition_log.append(event)
            self._objective_events(
                self.objectives_state.on_transition(self, event), events, tr["t"]
            )
        del self.transition_log[:-40]
        self.breaker.transitions.clear()

    @staticmethod
    def _objective_events(met: list[str], events: list | None, t: int) -> None:
        if events is not None:
            for objective in met:
                events.append({"t": t, "type": "objective_met", "id": objective})

    def _emit_stats(self, t: int, events: list) -> None:
        self.next_stats = t + 1000
        stats = self.stats
        lat = sorted(self.latencies)
        count = len(lat)

        def pct(p: float) -> int | None:
            return lat[min(count - 1, int(p * count))] if count else None

        breaker = self.breaker
        event = {"t": t, "type": "stats", "second": t // 1000}
        for i, name in enumerate(_STAT_NAMES):
            event[name] = stats[i]
        event.update(
            p50=pct(0.5), p90=pct(0.9), p99=pct(0.99), max=lat[-1] if count else None,
            downstream_in_flight=self.ds_in_flight, capacity=self.capacity,
            state=breaker.state, failure_rate=round(breaker.failure_rate(t), 2),
            slow_call_rate=round(breaker.slow_call_rate(t), 2),
            outage=self.outage[0] if self.outage else None,
        )  # fmt: skip
        events.append(event)
        self.last_stats = event
        totals = self.totals
        for i in range(13):
            totals[i] += stats[i] if i != S_DS_PEAK else 0
        totals[S_DS_PEAK] = max(totals[S_DS_PEAK], stats[S_DS_PEAK])
        self.history.append(
            [t // 1000, stats[S_REQ], stats[S_OK], stats[S_FAIL], stats[S_TIMEOUT],
             stats[S_SHORT], stats[S_BULK], stats[S_FALLBACK], stats[S_USER_ERR],
             stats[S_DS_CALLS], event["p50"], event["p99"], breaker.state]
        )  # fmt: skip
        del self.history[:-HISTORY_S]
        self.stats = [0] * 13
        self.stats[S_DS_PEAK] = self.ds_in_flight
        self.latencies = []
        self._objective_events(self.objectives_state.on_second(self, event), events, t)

    # ------------------------------------------------------------------ commands

    def apply(self, command: dict[str, Any]) -> dict[str, Any]:
        from labs.engines.breaker_commands import apply_command

        return apply_command(self, command)

    # ------------------------------------------------------------------ views

    def snapshot(self) -> dict[str, Any]:
        now = self._now
        breaker = self.breaker
        return {
            "t": now,
            "breaker": {
                "state": breaker.state,
                "since": breaker.since_ms,
                "config": breaker.config.to_dict(),
                "metrics": breaker.metrics(now),
                "open_until": breaker.open_until_ms,
                "half_open_permits": breaker.half_open_permits,
                "times_opened": breaker.attempts,
                "states": list(STATES),
            },
            "transitions": self.transition_log[-20:],
            "history_fields": [
                "second",
                "requests",
                "success",
                "failure",
                "timeout",
                "short_circuited",
                "bulkhead_rejected",
                "fallback",
                "user_errors",
                "downstream_calls",
                "p50",
                "p99",
                "state",
            ],  # fmt: skip
            "history": self.history,
            "last": self.last_stats,
            "totals": dict(zip(_STAT_NAMES, self.totals, strict=True)),
            "load": {"rps": self.rps},
            "downstream": {
                "latency_ms": self.latency_ms,
                "latency_spread": self.spread,
                "error_rate": self.error_rate,
                "capacity": self.capacity,
                "in_flight": self.ds_in_flight,
                "outage": None
                if self.outage is None
                else {"mode": self.outage[0], "since": self.outage[1]},
                "outages": self.outage_log[-10:],
            },
            "client": {
                "timeout_ms": self.timeout_ms,
                "retry": dict(self.retry),
                "fallback": self.fallback,
                "bulkhead": self.bulkhead,
                "in_flight": self.client_in_flight,
            },
            "locked": list(self.sc["locked"]),
            "objectives": self.objectives(),
        }

    def objectives(self) -> list[dict[str, Any]]:
        return self.objectives_state.view(self)

    def summary(self) -> dict[str, Any]:
        totals = dict(zip(_STAT_NAMES, self.totals, strict=True))
        done = totals["user_ok"] + totals["user_errors"] + totals["fallback"]
        totals["user_error_pct"] = round(100.0 * totals["user_errors"] / done, 2) if done else 0.0
        totals["breaker_transitions"] = len(self.transition_log)
        totals["objectives_met"] = [o["id"] for o in self.objectives() if o["met"]]
        return totals

    # ------------------------------------------------------------------ checkpoints

    def dump(self) -> dict[str, Any]:
        return {
            "sc": self.sc,
            "now": self._now,
            "seq": self._seq,
            "heap": [list(e) for e in self._heap],
            "rng": self.rng.dump_state(),
            "rps": self.rps,
            "latency_ms": self.latency_ms,
            "spread": self.spread,
            "error_rate": self.error_rate,
            "capacity": self.capacity,
            "outage": self.outage,
            "outage_log": self.outage_log,
            "timeout_ms": self.timeout_ms,
            "fallback": self.fallback,
            "bulkhead": self.bulkhead,
            "retry": self.retry,
            "client_in_flight": self.client_in_flight,
            "ds_in_flight": self.ds_in_flight,
            "breaker": self.breaker.dump(),
            "transition_log": self.transition_log,
            "stats": self.stats,
            "latencies": self.latencies,
            "history": self.history,
            "totals": self.totals,
            "next_arrival": self.next_arrival,
            "next_stats": self.next_stats,
            "last_stats": self.last_stats,
            "objectives": self.objectives_state.dump(),
        }

    @classmethod
    def load(cls, state: dict[str, Any]) -> BreakerEngine:
        engine = cls.__new__(cls)
        engine.sc = state["sc"]
        engine._now = state["now"]
        engine._seq = state["seq"]
        engine._heap = [tuple(e) for e in state["heap"]]
        heapq.heapify(engine._heap)
        engine.rng = SeededRandom.from_state(state["rng"])
        for key in (
            "rps", "latency_ms", "spread", "error_rate", "capacity", "outage", "outage_log",
            "timeout_ms", "fallback", "bulkhead", "retry", "client_in_flight", "ds_in_flight",
            "transition_log", "stats", "latencies", "history", "totals", "next_arrival",
            "next_stats", "last_stats",
        ):  # fmt: skip
            setattr(engine, key, state[key])
        engine.breaker = CircuitBreaker.load(state["breaker"])
        engine.objectives_state = Objectives.load(state["objectives"])
        return engine
