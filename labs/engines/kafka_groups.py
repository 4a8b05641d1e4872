"""Consumer groups: membership, rebalances, fetching up to the high watermark, commits, lag.

The classic group protocol, with the coordinator always reachable and a JoinGroup + SyncGroup
round trip taking `rebalance_ms`:
- Eager assignors (range, roundrobin): when a rebalance starts every member commits (with
  auto-commit) and revokes all its partitions; nothing is consumed until the new assignment.
- cooperative-sticky: members keep consuming during the rebalance; the new generation leaves
  out the partitions that change owner, their owners revoke (and commit) only those, and a
  second rebalance assigns them. Only the moving partitions stop.
- A crashed consumer stops heartbeating and is removed after session.timeout.ms; a stalled one
  keeps heartbeating but does not poll, and leaves the group after max.poll.interval.ms (its
  later commit fails: CommitFailedException). A graceful close commits and leaves at once.
- Consumers read from the partition leader only up to the high watermark. Auto-commit commits
  the positions every auto.commit.interval.ms; manual commits after every poll. A record read
  again at an offset below the furthest the group had processed is a duplicate (redelivery).
"""

from __future__ import annotations

from typing import Any

from labs.engines import kafka_log as klog
from labs.engines.kafka_assignors import assign, cooperative_sticky
from labs.engines.kafka_cluster import broker_reachable, leader_log

__all__ = [
    "commit_member",
    "group_partitions",
    "lag",
    "new_member",
    "owners",
    "tick_group",
    "tp_key",
    "trigger_rebalance",
]

EAGER = ("range", "roundrobin")


def tp_key(topic: str, p: int) -> str:
    return f"{topic}/{p}"


def group_partitions(state: dict, group: dict) -> list[tuple[str, int]]:
    topic = state["cluster"]["topics"][group["topic"]]
    return [(group["topic"], part["p"]) for part in topic["partitions"]]


def new_member(group: dict, now: int) -> str:
    group["next_member"] += 1
    cid = f"c{group['next_member']}"
    group["members"][cid] = {
        "status": "joining",  # joining | active | stalled | crashed | left
        "assigned": [],
        "positions": {},
        "last_poll_ms": now,
        "since_ms": now,
        "acc": 0,
        "consumed": 0,
    }
    return cid


def _live(group: dict) -> list[str]:
    return sorted(
        cid for cid, m in group["members"].items() if m["status"] in ("joining", "active")
    )


def _commit(group: dict, member: dict, tps: list) -> None:
    for t, p in tps:
        key = tp_key(t, p)
        pos = member["positions"].get(key)
        if pos is not None:
            group["committed"][key] = pos


def commit_member(group: dict, member: dict) -> None:
    """A graceful close commits the member's positions (auto-commit on close)."""
    _commit(group, member, member["assigned"])


def trigger_rebalance(group: dict, reason: str, now: int) -> list[dict]:
    """Start a rebalance (or join the one in progress)."""
    if group["state"] == "PreparingRebalance":
        group["episode"]["reasons"].append(reason)
        return []
    group["state"] = "PreparingRebalance"
    group["rebalance_at"] = now + group["rebalance_ms"]
    owned = sum(len(m["assigned"]) for m in group["members"].values())
    group["episode"] = {
        "t": now,
        "reasons": [reason],
        "assignor": group["assignor"],
        "stopped": [],
        "generations": 0,
        "owned_before": owned,
    }
    if group["assignor"] in EAGER:
        # Eager protocol: everyone commits and gives up everything before rejoining.
        for m in group["members"].values():
            if m["status"] in ("joining", "active"):
                if group["auto_commit"] or group["commit"] == "manual":
                    _commit(group, m, m["assigned"])
                m["assigned"], m["positions"] = [], {}
    return [{"type": "rebalance_started", "group": group["id"], "reason": reason}]


def _complete(state: dict, group: dict, now: int) -> list[dict]:
    # Members that did not rejoin in time (crashed, stalled) are dropped from the group; Kafka
    # would wait for them up to the rebalance timeout, folded into rebalance_ms here.
    for m in group["members"].values():
        if m["status"] == "crashed":
            m["status"], m["assigned"] = "left", []
        elif m["status"] == "stalled":
            m["status"], m["assigned"] = "evicted", []
    members = _live(group)
    tps = group_partitions(state, group)
    group["generation"] += 1
    episode = group["episode"]
    episode["generations"] += 1
    events: list[dict] = []
    second = False
    if group["assignor"] in EAGER:
        # Every partition stopped: all were revoked when the rebalance started.
        episode["stopped"] = [tp_key(t, p) for t, p in tps]
        subs = {cid: [group["topic"]] for cid in members}
        result = assign(group["assignor"], subs, {group["topic"]: len(tps)}) if members else {}
        for cid in members:
            group["members"][cid]["assigned"] = [list(tp) for tp in result[cid]]
    else:
        owned = {cid: [tuple(tp) for tp in group["members"][cid]["assigned"]] for cid in members}
        _, generation = cooperative_sticky(members, tps, owned)
        owned_before = {tp for tps_ in owned.values() for tp in tps_}
        if episode["generations"] == 1:
            # Partitions no live member was consuming (a dead member's) were stopped too.
            episode["stopped"] += [tp_key(*tp) for tp in tps if tp not in owned_before]
        for cid in members:
            m = group["members"][cid]
            keep = set(generation[cid])
            revoked = [tp for tp in owned.get(cid, []) if tp not in keep]
            if revoked:
                _commit(group, m, revoked)
                episode["stopped"] += [tp_key(t, p) for t, p in revoked]
                second = True
            m["assigned"] = [list(tp) for tp in generation[cid]]
    for cid in members:
        m = group["members"][cid]
        m["status"] = "active"
        # A position is only kept for a partition the member keeps; others restart from the
        # committed offset.
        mine = {tp_key(t, p) for t, p in m["assigned"]}
        m["positions"] = {k: v for k, v in m["positions"].items() if k in mine}
    events.append(
        {
            "type": "rebalance_generation",
            "group": group["id"],
            "generation": group["generation"],
            "assignment": {cid: group["members"][cid]["assigned"] for cid in members},
        }
    )
    if second:
        group["rebalance_at"] = now + group["rebalance_ms"]
        return events
    group["state"] = "Stable" if members else "Empty"
    stopped = sorted(set(episode["stopped"]))
    record = {
        "t": episode["t"],
        "reasons": episode["reasons"][:4],
        "assignor": episode["assignor"],
        "generations": episode["generations"],
        "stopped": len(stopped),
        "partitions": len(tps),
        "duration_ms": now - episode["t"],
    }
    group["rebalances"].append(record)
    del group["rebalances"][:-5]
    events.append({"type": "rebalance_done", "group": group["id"], **record})
    return events


def _consume(state: dict, group: dict, cid: str, m: dict, now: int, tick_ms: int) -> int:
    topic = state["cluster"]["topics"][group["topic"]]
    brokers = state["cluster"]["brokers"]
    m["acc"] += group["consumer_rate"] * tick_ms
    budget, m["acc"] = divmod(m["acc"], 1000)
    if not m["assigned"]:
        m["acc"] = 0
        return 0
    done = 0
    for t, p in m["assigned"]:
        if budget <= 0:
            break
        part = topic["partitions"][p]
        if part["leader"] < 0 or not broker_reachable(brokers, part["leader"]):
            continue
        log = leader_log(part)
        key = tp_key(t, p)
        pos = m["positions"].get(key)
        if pos is None:
            pos = group["committed"].get(key, log["lso"])  # auto.offset.reset=earliest
        if pos < log["lso"]:
            pos = log["lso"]  # out of range below: reset to earliest
        if pos > log["leo"]:
            pos = log["leo"]  # truncated log (KIP-320 truncation detection)
        recs = klog.read(log, pos, part["hw"], budget)
        high_key = group["processed_high"].get(key, 0)
        for r in recs:
            if r[klog.OFF] < high_key:
                group["duplicates"] += 1
            pos = r[klog.OFF] + 1
        if recs:
            group["processed_high"][key] = max(high_key, pos)
        if len(recs) < budget:
            pos = max(pos, part["hw"])  # nothing left below the HW: skip compaction gaps
        m["positions"][key] = pos
        budget -= len(recs)
        done += len(recs)
    m["consumed"] += done
    # Leftover budget is not banked: an idle consumer does not build up credit.
    m["acc"] = 0 if budget > 0 else m["acc"]
    return done


def tick_group(state: dict, group: dict, now: int, tick_ms: int) -> list[dict]:
    events: list[dict] = []
    for cid in sorted(group["members"]):
        m = group["members"][cid]
        if m["status"] == "crashed" and now - m["since_ms"] >= group["session_timeout_ms"]:
            m["status"], m["assigned"] = "left", []
            events.append(
                {
                    "type": "member_removed",
                    "group": group["id"],
                    "member": cid,
                    "reason": "session_timeout",
                }
            )
            events += trigger_rebalance(group, f"{cid} session timeout", now)
        elif m["status"] == "stalled" and now - m["last_poll_ms"] >= group["max_poll_interval_ms"]:
            m["status"], m["assigned"] = "evicted", []
            events.append(
                {
                    "type": "member_removed",
                    "group": group["id"],
                    "member": cid,
                    "reason": "max_poll_interval",
                }
            )
            events += trigger_rebalance(group, f"{cid} max.poll.interval", now)
    if group["state"] == "PreparingRebalance" and now >= group["rebalance_at"]:
        events += _complete(state, group, now)
    consumed = 0
    for cid in sorted(group["members"]):
        m = group["members"][cid]
        if m["status"] != "active":
            continue
        m["last_poll_ms"] = now
        consumed += _consume(state, group, cid, m, now, tick_ms)
        if group["commit"] == "manual" or (
            group["auto_commit"] and now - group["last_auto_commit_ms"] >= group["auto_commit_ms"]
        ):
            _commit(group, m, m["assigned"])
    if group["auto_commit"] and now - group["last_auto_commit_ms"] >= group["auto_commit_ms"]:
        group["last_auto_commit_ms"] = now
    group["consumed"] += consumed
    return events


def lag(state: dict, group: dict) -> dict[str, int]:
    topic = state["cluster"]["topics"][group["topic"]]
    out: dict[str, int] = {}
    for part in topic["partitions"]:
        key = tp_key(group["topic"], part["p"])
        log = leader_log(part) or part["logs"][str(part["replicas"][0])]
        committed = max(group["committed"].get(key, log["lso"]), log["lso"])
        out[key] = max(0, part["hw"] - committed)
    return out


def owners(group: dict) -> dict[str, list[str]]:
    """Partition key -> members that currently own it (for the one-owner property)."""
    out: dict[str, list[str]] = {}
    for cid, m in group["members"].items():
        if m["status"] in ("active", "joining", "stalled"):
            for t, p in m["assigned"]:
                out.setdefault(tp_key(t, p), []).append(cid)
    return out


def summary(group: dict) -> dict[str, Any]:
    return {
        "consumed": group["consumed"],
        "duplicates": group["duplicates"],
        "rebalances": len(group["rebalances"]),
        "generation": group["generation"],
    }
