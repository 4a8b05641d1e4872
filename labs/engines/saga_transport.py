"""Simulation core of the saga lab: the timer heap, the event output and the message transport.

The transport delivers at least once: a copy may be duplicated, delayed past a timeout or
overtaken by a later message (reordering), and a delivery to a service that is down is retried
with exponential backoff until the service is back. All state lives in one JSON-ready dict so
that dump()/load() is a plain copy.
"""

from __future__ import annotations

import heapq
from typing import Any

from labs.engines import SeededRandom

SERVICES = ("order", "inventory", "payment", "shipping")
ENDPOINTS = ("client", "orchestrator", *SERVICES)
BACKOFF_BASE_MS = 200
BACKOFF_CAP_MS = 5000
SLOW_EXTRA_MS = 2500  # a "timed out" message still arrives, just after the sender gave up waiting
LOG_KEEP = 40


def backoff_ms(attempt: int) -> int:
    """Exponential backoff: 200, 400, 800 ... capped at 5 s."""
    return min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** min(attempt, 10))


class Sim:
    """Operations shared by the orchestrator, the choreography and 2PC over the state dict."""

    def __init__(self, st: dict[str, Any], rng: SeededRandom) -> None:
        self.st = st
        self.rng = rng
        self.out: list[dict[str, Any]] = []

    @property
    def now(self) -> int:
        return self.st["now"]

    @property
    def cfg(self) -> dict[str, Any]:
        return self.st["cfg"]

    def emit(self, type_: str, **fields: Any) -> None:
        event = {"t": self.st["now"], "type": type_}
        event.update(fields)
        self.out.append(event)

    def schedule(self, at: int, kind: str, data: Any = None) -> None:
        st = self.st
        st["seq"] += 1
        heapq.heappush(st["heap"], [at, st["seq"], kind, data])

    def log(self, who: str, order_id: str, text: str) -> None:
        """Append to the visible log (the orchestrator's saga log, or the choreography trace)."""
        log = self.st["log"]
        log.append({"t": self.now, "who": who, "order_id": order_id, "text": text})
        if len(log) > LOG_KEEP:
            del log[: len(log) - LOG_KEEP]

    def new_event_id(self) -> str:
        self.st["event_seq"] += 1
        return f"e{self.st['event_seq']}"

    # -- transport ---------------------------------------------------------------------------

    def _latency(self) -> int:
        cfg, rng = self.cfg, self.rng
        faults = cfg["faults"]
        delay = cfg["latency_ms"] + (rng.randint(0, cfg["jitter_ms"]) if cfg["jitter_ms"] else 0)
        if faults["reorder_rate"] and rng.random() < faults["reorder_rate"]:
            delay += rng.randint(cfg["latency_ms"], 6 * cfg["latency_ms"] + 200)
        if faults["timeout_rate"] and rng.random() < faults["timeout_rate"]:
            delay += SLOW_EXTRA_MS
        return max(1, delay)

    def send(
        self, proto: str, src: str, dst: str, kind: str, mid: str, order_id: str, **extra: Any
    ) -> None:
        """Put a message on the wire; the transport may duplicate it."""
        st = self.st
        msg = {
            "id": mid,
            "proto": proto,
            "src": src,
            "dst": dst,
            "kind": kind,
            "order": order_id,
            "attempt": 0,
        }
        msg.update(extra)
        rate = self.cfg["faults"]["duplicate_rate"]
        copies = 2 if rate and self.rng.random() < rate else 1
        for n in range(copies):
            arrive = self.now + self._latency()
            copy = msg if n == 0 else dict(msg, dup=True)
            copy["sent_t"] = self.now
            self.schedule(arrive, "deliver", copy)
            self.emit(
                "message_sent",
                id=mid,
                src=src,
                dst=dst,
                kind=kind,
                order_id=order_id,
                arrive_t=arrive,
                duplicate=n > 0,
            )
        stats = st["stats"]
        stats["messages"] += copies
        stats["duplicates_sent"] += copies - 1
        info = st["catalog"].get(order_id)
        if info is not None:
            info["msgs"] += copies
            mstats = st["mode_stats"][info["mode"]]
            mstats["messages"] += copies
            if src != "client":
                link = f"{src}>{dst}"
                mstats["links"][link] = mstats["links"].get(link, 0) + copies

    def redeliver(self, msg: dict[str, Any], reason: str) -> None:
        """The broker keeps an unacknowledged message and tries again after a backoff."""
        attempt = msg["attempt"] + 1
        wait = backoff_ms(attempt - 1)
        again = dict(msg, attempt=attempt, sent_t=self.now)
        self.schedule(self.now + wait, "deliver", again)
        self.st["stats"]["retries"] += 1
        self.emit(
            "retry",
            id=msg["id"],
            src=msg["src"],
            dst=msg["dst"],
            kind=msg["kind"],
            order_id=msg["order"],
            attempt=attempt,
            backoff_ms=wait,
            reason=reason,
        )

    def received(self, msg: dict[str, Any], outcome: str) -> None:
        self.emit(
            "message_received",
            id=msg["id"],
            src=msg["src"],
            dst=msg["dst"],
            kind=msg["kind"],
            order_id=msg["order"],
            outcome=outcome,
        )
