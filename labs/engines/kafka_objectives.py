"""The Kafka lab's objectives: id -> (title, check(state) -> (met, detail)).

Checks read counters the engine keeps (state["counters"], state["track"]); once met an
objective stays met (the engine remembers it in state["met"]).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["OBJECTIVES", "evaluate", "total_lag"]

Check = Callable[[dict[str, Any]], tuple[bool, str]]


def total_lag(state: dict) -> int:
    from labs.engines.kafka_groups import lag

    return sum(sum(lag(state, g).values()) for g in state["groups"].values())


def _keys_stick(s: dict) -> tuple[bool, str]:
    kp = s["track"]["key_partitions"]
    acked = sum(p["results"]["acked"] for p in s["producers"].values() if p["keys"])
    single = all(len(v) == 1 for v in kp.values())
    return acked >= 100 and single and bool(kp), f"{acked}/100 keyed records acknowledged"


def _sticky_keyless(s: dict) -> tuple[bool, str]:
    n = len(s["track"]["keyless_partitions"])
    return n >= 3, f"keyless records reached {n}/3 partitions"


def _key_moved(s: dict) -> tuple[bool, str]:
    moved = sorted(k for k, v in s["track"]["key_partitions"].items() if len(v) > 1)
    return bool(moved), f"{len(moved)} keys now map to a new partition"


def _lag_builds(s: dict) -> tuple[bool, str]:
    lag = s["track"]["max_lag"]
    return lag >= 200, f"highest total lag {lag}/200"


def _active(s: dict) -> int:
    return max(
        (
            sum(1 for m in g["members"].values() if m["status"] == "active")
            for g in s["groups"].values()
        ),
        default=0,
    )


def _lag_drained(s: dict) -> tuple[bool, str]:
    lag = total_lag(s)
    ok = s["track"]["max_lag"] >= 200 and lag <= 20 and _active(s) >= 2
    return ok, f"total lag {lag} (needs <= 20 after it passed 200)"


def _idle_consumer(s: dict) -> tuple[bool, str]:
    return s["track"]["idle_seen"], "a consumer with no partition" if s["track"][
        "idle_seen"
    ] else "add consumers beyond the partition count"


def _rebalances(s: dict) -> list[dict]:
    return [r for g in s["groups"].values() for r in g["rebalances"]]


def _eager_all_stop(s: dict) -> tuple[bool, str]:
    hits = [
        r
        for r in _rebalances(s)
        if r["assignor"] != "cooperative-sticky" and r["stopped"] == r["partitions"] and r["t"] > 0
    ]
    return bool(hits), f"{len(hits)} eager rebalances that stopped every partition"


def _coop_few_stop(s: dict) -> tuple[bool, str]:
    hits = [
        r
        for r in _rebalances(s)
        if r["assignor"] == "cooperative-sticky" and r["stopped"] < r["partitions"] and r["t"] > 0
    ]
    best = min((r["stopped"] for r in hits), default=None)
    detail = f"fewest stopped in a cooperative rebalance: {best}" if hits else "none yet"
    return bool(hits), detail


def _lost_acks1(s: dict) -> tuple[bool, str]:
    n = s["counters"]["lost_acked_acks1"]
    return n > 0, f"{n} acknowledged records lost with acks=1"


def _safe_failover(s: dict) -> tuple[bool, str]:
    safe = s["track"]["safe"]
    if safe is None:
        return False, "use acks=all with min.insync.replicas=2"
    c = s["counters"]
    acked = sum(p["results"]["acked"] for p in s["producers"].values())
    elections = c["leader_elections"] - safe["elections"]
    lost = c["lost_acked"] - safe["lost"]
    since = acked - safe["acked"]
    ok = elections >= 1 and since >= 50 and lost == 0
    return ok, f"{elections} leader changes, {since} acks, {lost} lost since the safe settings"


def _counter(name: str, need: int, what: str) -> Check:
    def check(s: dict) -> tuple[bool, str]:
        n = s["counters"][name]
        return n >= need, f"{n}/{need} {what}"

    return check


def _isr_grew(s: dict) -> tuple[bool, str]:
    c = s["counters"]
    ok = c["isr_shrinks"] > 0 and c["isr_expands"] > 0
    return ok, f"{c['isr_expands']} followers rejoined the ISR"


def _tombstone_gone(s: dict) -> tuple[bool, str]:
    n = s["counters"]["tombstones_removed"]
    sent = len(s["track"]["tombstones"])
    return n > 0 and sent > 0, f"{sent} tombstones sent, {n} removed by the cleaner"


OBJECTIVES: dict[str, tuple[str, Check]] = {
    "keys_stick": ("Every key stays in one partition (100 keyed records)", _keys_stick),
    "sticky_keyless": ("Keyless records fill sticky batches on 3 partitions", _sticky_keyless),
    "key_moved": ("Add partitions and see a key move to another partition", _key_moved),
    "lag_builds": ("Let the lag grow past 200 records", _lag_builds),
    "lag_drained": ("Scale the group until the lag drains below 20", _lag_drained),
    "idle_consumer": ("Have more consumers than partitions: one sits idle", _idle_consumer),
    "eager_all_stop": ("See an eager (range) rebalance stop every partition", _eager_all_stop),
    "coop_few_stop": (
        "Rebalance with cooperative-sticky and stop fewer partitions",
        _coop_few_stop,
    ),
    "lost_acks1": ("Lose acknowledged records with acks=1 and a leader crash", _lost_acks1),
    "safe_failover": (
        "Survive a leader change with acks=all, min.insync.replicas=2: nothing lost",
        _safe_failover,
    ),
    "isr_shrunk": (
        "Make a follower fall out of the ISR",
        _counter("isr_shrinks", 1, "ISR shrinks"),
    ),
    "not_enough_replicas": (
        "Get NotEnoughReplicas from the leader",
        _counter("not_enough_replicas_errors", 1, "NotEnoughReplicas errors"),
    ),
    "isr_grew": ("Bring the follower back into the ISR", _isr_grew),
    "segment_deleted": (
        "Retention deletes a segment and moves the log start offset",
        _counter("segments_deleted", 1, "segments deleted"),
    ),
    "compacted": (
        "Compaction removes 20 superseded records",
        _counter("compacted_records", 20, "records compacted away"),
    ),
    "tombstone_gone": ("A tombstone deletes a key and is cleaned away", _tombstone_gone),
}


def evaluate(state: dict, record: bool = True) -> list[dict[str, Any]]:
    """Check every objective; with record=True newly met ones are remembered (the engine does
    this once per simulated second, so reading objectives never changes later events)."""
    out = []
    for oid in state["objective_ids"]:
        title, check = OBJECTIVES[oid]
        met, detail = check(state)
        met = met or oid in state["met"]
        if met and record and oid not in state["met"]:
            state["met"][oid] = state["now"]
        out.append({"id": oid, "title": title, "met": met, "detail": detail})
    return out
