"""The event store, the bank-account aggregate and the upcaster of the event-sourcing lab.

Streams are append-only lists of events, one stream per aggregate ("account-alice"). Writers use
optimistic concurrency: append() names the version it read; if the stream moved on meanwhile the
append is refused with ConcurrencyError and nothing is written (as in EventStoreDB's
expected-revision check or Marten's optimistic append).
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = [
    "ConcurrencyError",
    "EventStore",
    "account_state",
    "apply_account_event",
    "upcast",
]

CURRENT_SCHEMA = 2


class ConcurrencyError(Exception):
    """append() was given an expected_version that is no longer the stream's version."""

    def __init__(self, stream: str, expected: int, actual: int) -> None:
        super().__init__(f"stream {stream!r} is at version {actual}, not {expected}")
        self.stream = stream
        self.expected = expected
        self.actual = actual


def upcast(event: dict[str, Any]) -> dict[str, Any]:
    """Turn a stored event of an old schema into the current one (read side only).

    Schema 1 of MoneyDeposited/MoneyWithdrawn stored whole euros in "amount"; schema 2 stores
    integer cents in "amount_cents". The stored event is never rewritten.
    """
    if event.get("schema", CURRENT_SCHEMA) >= CURRENT_SCHEMA:
        return event
    out = dict(event)
    data = dict(event.get("data", {}))
    if "amount" in data:
        data["amount_cents"] = int(data.pop("amount")) * 100
    out["data"] = data
    out["schema"] = CURRENT_SCHEMA
    out["upcast_from"] = event.get("schema", 1)
    return out


class EventStore:
    """In-memory append-only store: per-stream versions plus one global log (positions 1..N)."""

    def __init__(self) -> None:
        self.log: list[dict[str, Any]] = []  # stored (raw) events in global order
        self.streams: dict[str, list[int]] = {}  # stream -> indexes into log

    def version(self, stream: str) -> int:
        return len(self.streams.get(stream, ()))

    def append(
        self,
        stream: str,
        events: list[dict[str, Any]],
        expected_version: int,
        t: int = 0,
    ) -> int:
        """Append events atomically if the stream is at expected_version; return the new version.

        Each event is {"type", "data", optional "schema"}; the store adds "stream", "version"
        (1-based within the stream), "position" (1-based, global) and "t".
        """
        actual = self.version(stream)
        if expected_version != actual:
            raise ConcurrencyError(stream, expected_version, actual)
        indexes = self.streams.setdefault(stream, [])
        for event in events:
            stored = {
                "type": event["type"],
                "data": copy.deepcopy(event.get("data", {})),
                "schema": event.get("schema", CURRENT_SCHEMA),
                "stream": stream,
                "version": len(indexes) + 1,
                "position": len(self.log) + 1,
                "t": t,
            }
            indexes.append(len(self.log))
            self.log.append(stored)
        return len(indexes)

    def read(self, stream: str, from_version: int = 0, raw: bool = False) -> list[dict[str, Any]]:
        """The stream's events after from_version, in order, upcast to the current schema."""
        events = [self.log[i] for i in self.streams.get(stream, ())[from_version:]]
        return events if raw else [upcast(e) for e in events]

    def read_all(self, from_position: int = 0, to_position: int | None = None) -> list[dict]:
        """Global log events with from_position < position <= to_position, upcast."""
        return [upcast(e) for e in self.log[from_position:to_position]]

    def dump(self) -> dict[str, Any]:
        return {"log": self.log}

    @classmethod
    def load(cls, state: dict[str, Any]) -> EventStore:
        store = cls()
        for event in state["log"]:
            store.streams.setdefault(event["stream"], []).append(len(store.log))
            store.log.append(event)
        return store


# ---------------------------------------------------------------- the bank-account aggregate


def account_state() -> dict[str, Any]:
    return {"open": False, "owner": "", "balance_cents": 0, "version": 0}


def apply_account_event(state: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """Fold one (upcast) event into an account's state; pure, returns a new dict."""
    s = dict(state)
    kind, data = event["type"], event["data"]
    if kind == "AccountOpened":
        s["open"] = True
        s["owner"] = data.get("owner", "")
    elif kind == "MoneyDeposited":
        s["balance_cents"] += data["amount_cents"]
    elif kind == "MoneyWithdrawn":
        s["balance_cents"] -= data["amount_cents"]
    s["version"] = event["version"]
    return s


def fold(events: list[dict[str, Any]], state: dict[str, Any] | None = None) -> dict[str, Any]:
    s = account_state() if state is None else state
    for event in events:
        s = apply_account_event(s, event)
    return s
