"""Kafka-style topics: a cluster simulation faithful to Kafka 3.7+ (KRaft) where it matters.

The pieces live in kafka_* modules: the partitioner (murmur2, sticky), the assignors, one
replica's log (segments, retention, compaction), the cluster (placement, replication, ISR,
elections), producers (acks, retries, idempotence), consumer groups (rebalances, commits, lag),
scenario validation, objectives and commands. This module is the engine: a fixed 100 ms tick
at absolute times, so slicing and checkpoints never change what happens.

Events: cluster and group changes one by one (they are rare), per-record results only for
producers at teaching rates (<= 5 records/s), and a `stats` event every simulated second.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from labs.engines import Engine, SeededRandom, check_seed
from labs.engines import kafka_log as klog
from labs.engines.kafka_assignors import assign, cooperative_sticky, member_order
from labs.engines.kafka_cluster import place_replicas, prune_acked, tick_cluster
from labs.engines.kafka_commands import COMMAND_SCHEMA, apply_command
from labs.engines.kafka_groups import lag, new_member, owners, tick_group, trigger_rebalance
from labs.engines.kafka_objectives import OBJECTIVES, evaluate, total_lag
from labs.engines.kafka_partitioner import murmur2, partition_for_key, to_positive
from labs.engines.kafka_producers import tick_producer
from labs.engines.kafka_scenario import DEFAULT_SCENARIO, build_state, validate

__all__ = [
    "KafkaEngine",
    "OBJECTIVES",
    "assign",
    "cooperative_sticky",
    "member_order",
    "murmur2",
    "partition_for_key",
    "place_replicas",
    "to_positive",
]

TICK_MS = 100
TAIL = 30  # offsets per replica log in the snapshot


class KafkaEngine(Engine):
    slug: ClassVar[str] = "kafka"
    title: ClassVar[str] = "Kafka topics, replication and consumer groups"

    def __init__(self, state: dict[str, Any], rng: SeededRandom) -> None:
        self.state = state
        self.rng = rng
        self.state["rng_obj"] = rng

    # -- construction -------------------------------------------------------------------
    @classmethod
    def default_scenario(cls) -> dict[str, Any]:
        return json.loads(json.dumps(DEFAULT_SCENARIO))

    @classmethod
    def create(cls, scenario: dict[str, Any] | None = None, seed: int = 0) -> KafkaEngine:
        if scenario is None:
            scenario = cls.default_scenario()
        seed = check_seed(seed)
        sc = validate(scenario)
        rng = SeededRandom(seed)
        state = build_state(sc, rng)
        for cfg in sc["groups"]:
            group = state["groups"][cfg["id"]]
            for _ in range(cfg["consumers"]):
                new_member(group, 0)
            if cfg["consumers"]:
                trigger_rebalance(group, "initial join", 0)
        engine = cls(state, rng)
        engine._update_safe()
        return engine

    @classmethod
    def command_schema(cls) -> list[dict[str, Any]]:
        return json.loads(json.dumps(COMMAND_SCHEMA))

    @property
    def now_ms(self) -> int:
        return self.state["now"]

    # -- simulation ---------------------------------------------------------------------
    def advance(self, to_ms: int) -> list[dict[str, Any]]:
        if to_ms < self.state["now"]:
            raise ValueError("cannot go back in time")
        events: list[dict[str, Any]] = []
        t = (self.state["now"] // TICK_MS + 1) * TICK_MS
        while t <= to_ms:
            self.state["now"] = t
            events += self._tick(t)
            t += TICK_MS
        self.state["now"] = to_ms
        return events

    def _tick(self, now: int) -> list[dict[str, Any]]:
        s = self.state
        raw: list[dict[str, Any]] = s.pop("pending_events", [])
        for pid in sorted(s["producers"]):
            raw += tick_producer(s, s["producers"][pid], now, TICK_MS)
        raw += tick_cluster(s["cluster"], now)
        if now % s["cluster"]["config"]["log_check_interval_ms"] < TICK_MS:
            raw += self._log_maintenance(now)
        for gid in sorted(s["groups"]):
            raw += tick_group(s, s["groups"][gid], now, TICK_MS)
        events = [{"t": now, **e} if "t" not in e else {**e, "t": now} for e in raw]
        for ev in events:
            self._count(ev)
        if now % 1000 == 0:
            events += self._second(now)
        return events

    def _count(self, ev: dict[str, Any]) -> None:
        c = self.state["counters"]
        kind = ev["type"]
        if kind == "isr_shrink":
            c["isr_shrinks"] += 1
        elif kind == "isr_expand":
            c["isr_expands"] += 1
        elif kind == "leader_elected":
            c["leader_elections"] += 1
            c["unclean_elections"] += ev["how"] == "unclean"
            if ev["lost"]:
                c["lost_acked"] += ev["lost"]
                if any(
                    p["acks"] == "1" and p["topic"] == ev["topic"]
                    for p in self.state["producers"].values()
                ):
                    c["lost_acked_acks1"] += ev["lost"]

    def _log_maintenance(self, now: int) -> list[dict[str, Any]]:
        s = self.state
        events: list[dict[str, Any]] = []
        tombstones = set(s["track"]["tombstones"])
        for name, topic in s["cluster"]["topics"].items():
            cfg = topic["config"]
            for part in topic["partitions"]:
                if part["leader"] < 0:
                    continue
                hw = part["hw"]
                llog = part["logs"][str(part["leader"])]
                if cfg["cleanup_policy"] == "delete":
                    deleted = klog.apply_retention(
                        llog, cfg["retention_ms"], cfg["retention_bytes"], hw, now
                    )
                    if deleted:
                        s["counters"]["segments_deleted"] += deleted
                        events.append(
                            {
                                "type": "segments_deleted",
                                "topic": name,
                                "p": part["p"],
                                "count": deleted,
                                "log_start": llog["lso"],
                            }
                        )
                        # Followers learn the new log start offset from their next fetch.
                        for b, log in part["logs"].items():
                            if b != str(part["leader"]):
                                klog.advance_start(log, llog["lso"])
                        part["acked"] = [a for a in part["acked"] if a[0] >= llog["lso"]]
                else:
                    removed_total = 0
                    for b in sorted(part["logs"]):
                        removed, tombs, rids = klog.compact(
                            part["logs"][b], hw, now, cfg["delete_retention_ms"]
                        )
                        if b == str(part["leader"]):
                            removed_total = removed
                            s["counters"]["compacted_records"] += removed
                            gone = tombstones.intersection(rids)
                            s["counters"]["tombstones_removed"] += len(gone)
                            if rids:
                                dropped = set(rids)
                                part["acked"] = [a for a in part["acked"] if a[1] not in dropped]
                    if removed_total:
                        events.append(
                            {
                                "type": "compacted",
                                "topic": name,
                                "p": part["p"],
                                "removed": removed_total,
                            }
                        )
        return events

    def _update_safe(self) -> None:
        """Remember the counters when the configuration becomes durable (for safe_failover)."""
        s = self.state
        topics = s["cluster"]["topics"]
        safe = bool(s["producers"]) and all(
            p["acks"] == "all"
            and topics[p["topic"]]["config"]["min_insync_replicas"] >= 2
            and not topics[p["topic"]]["config"]["unclean_leader_election"]
            for p in s["producers"].values()
        )
        if not safe:
            s["track"]["safe"] = None
        elif s["track"]["safe"] is None:
            s["track"]["safe"] = {
                "lost": s["counters"]["lost_acked"],
                "elections": s["counters"]["leader_elections"],
                "acked": sum(p["results"]["acked"] for p in s["producers"].values()),
            }

    def _second(self, now: int) -> list[dict[str, Any]]:
        s = self.state
        for topic in s["cluster"]["topics"].values():
            for part in topic["partitions"]:
                prune_acked(part)
        lag_total = total_lag(s)
        track = s["track"]
        track["max_lag"] = max(track["max_lag"], lag_total)
        for g in s["groups"].values():
            active = [m for m in g["members"].values() if m["status"] == "active"]
            if g["state"] == "Stable" and any(not m["assigned"] for m in active):
                track["idle_seen"] = True
        acked = sum(p["results"]["acked"] for p in s["producers"].values())
        consumed = sum(g["consumed"] for g in s["groups"].values())
        prev = s["second"]
        events: list[dict[str, Any]] = [
            {
                "t": now,
                "type": "stats",
                "acked_per_s": acked - prev["acked"],
                "consumed_per_s": consumed - prev["consumed"],
                "lag": lag_total,
                "lost_acked": s["counters"]["lost_acked"],
            }
        ]
        s["second"] = {"acked": acked, "consumed": consumed, "produced": 0}
        before = set(s["met"])
        objectives = evaluate(s, record=True)
        for o in objectives:
            if o["met"] and o["id"] not in before:
                events.append(
                    {"t": now, "type": "objective_met", "id": o["id"], "title": o["title"]}
                )
        return events

    def apply(self, command: dict[str, Any]) -> dict[str, Any]:
        cmd, events = apply_command(self.state, command, self.state["now"])
        self._update_safe()
        if events:
            # Effects of a command show up with the next tick, keeping events in time order.
            self.state.setdefault("pending_events", []).extend(events)
        return {"type": "command_applied", "t": self.state["now"], "command": cmd}

    # -- views --------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        s = self.state
        cluster = s["cluster"]
        n_replicas = sum(
            len(p["replicas"]) for t in cluster["topics"].values() for p in t["partitions"]
        )
        # Keep the snapshot bounded: about 600 record cells in all on big clusters.
        tail = TAIL if n_replicas <= 20 else max(2, 600 // n_replicas)
        topics = []
        for name, topic in cluster["topics"].items():
            parts = []
            for part in topic["partitions"]:
                replicas = {}
                lead = part["leader"]
                order = ([lead] if lead >= 0 else []) + [b for b in part["replicas"] if b != lead]
                lead_recs: list | None = None
                for b in order:
                    log = part["logs"][str(b)]
                    recs = [
                        [r[klog.OFF], r[klog.KEY], r[klog.VAL] is None]
                        for r in klog.tail(log, tail)
                    ]
                    if b == lead:
                        lead_recs = recs
                    elif lead_recs is not None and recs == [
                        r for r in lead_recs if r[0] < log["leo"]
                    ]:
                        recs = None  # same records as the leader up to its LEO: not repeated
                    replicas[str(b)] = {
                        "leo": log["leo"],
                        "lso": log["lso"],
                        "segments": [seg["base"] for seg in log["segs"]][-4:],
                        "records": recs,
                    }
                parts.append(
                    {
                        "p": part["p"],
                        "leader": part["leader"],
                        "epoch": part["epoch"],
                        "replicas": part["replicas"],
                        "isr": part["isr"],
                        "hw": part["hw"],
                        "lost_acked": part["lost_acked"],
                        "logs": replicas,
                    }
                )
            cfg = topic["config"]
            topics.append({"name": name, "config": dict(cfg), "partitions": parts})
        producers = [
            {
                "id": p["id"],
                "topic": p["topic"],
                "rate": p["rate"],
                "acks": p["acks"],
                "idempotent": p["idempotent"],
                "keys": p["keys"],
                "results": dict(p["results"]),
                "retries": p["retries_done"],
                "duplicates": p["duplicates"],
                "inflight": len(p["inflight"]) + len(p["retry"]),
                "sticky_partition": p["sticky"].get("partition"),
                "recent": p["recent"][-8:],
            }
            for p in s["producers"].values()
        ]
        groups = []
        for g in s["groups"].values():
            members = [
                {
                    "id": cid,
                    "status": m["status"],
                    "assigned": [p for _, p in m["assigned"]],
                    "consumed": m["consumed"],
                }
                for cid, m in sorted(g["members"].items(), key=lambda kv: int(kv[0][1:]))
                if m["status"] != "left"
            ][-12:]
            groups.append(
                {
                    "id": g["id"],
                    "topic": g["topic"],
                    "assignor": g["assignor"],
                    "commit": g["commit"],
                    "state": g["state"],
                    "generation": g["generation"],
                    "members": members,
                    "lag": {k.split("/")[1]: v for k, v in lag(s, g).items()},
                    "committed": {k.split("/")[1]: v for k, v in g["committed"].items()},
                    "consumed": g["consumed"],
                    "duplicates": g["duplicates"],
                    "failed_commits": g["failed_commits"],
                    "rebalances": g["rebalances"][-3:],
                }
            )
        return {
            "t": s["now"],
            "brokers": [
                {
                    "id": b["id"],
                    "status": b["status"],
                    "fenced": b["fenced"],
                    "slow_ms": b["fetch_delay_ms"],
                }
                for b in cluster["brokers"]
            ],
            "topics": topics,
            "producers": producers,
            "groups": groups,
            "counters": dict(s["counters"]),
            "tail": tail,
        }

    def objectives(self) -> list[dict[str, Any]]:
        return evaluate(self.state, record=False)

    def summary(self) -> dict[str, Any]:
        s = self.state
        c = s["counters"]
        return {
            "acked": sum(p["results"]["acked"] for p in s["producers"].values()),
            "lost_acked": c["lost_acked"],
            "duplicates_written": sum(p["duplicates"] for p in s["producers"].values()),
            "consumed": sum(g["consumed"] for g in s["groups"].values()),
            "redelivered": sum(g["duplicates"] for g in s["groups"].values()),
            "leader_elections": c["leader_elections"],
            "isr_shrinks": c["isr_shrinks"],
            "objectives_met": sorted(s["met"]),
        }

    # -- checkpoints --------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        body = {k: v for k, v in self.state.items() if k != "rng_obj"}
        body = json.loads(json.dumps(body))
        # Followers are usually plain copies of their leader: store their records once.
        for topic in body["cluster"]["topics"].values():
            for part in topic["partitions"]:
                source = str(part["leader"] if part["leader"] >= 0 else part["replicas"][0])
                for b, log in part["logs"].items():
                    if b != source:
                        packed = klog.pack_copy(log, part["logs"][source])
                        if packed is not None:
                            part["logs"][b] = packed
        return {"state": body, "rng": self.rng.dump_state()}

    @classmethod
    def load(cls, state: dict[str, Any]) -> KafkaEngine:
        body = json.loads(json.dumps(state["state"]))
        for topic in body["cluster"]["topics"].values():
            for part in topic["partitions"]:
                source = str(part["leader"] if part["leader"] >= 0 else part["replicas"][0])
                for b, log in part["logs"].items():
                    if log.get("copy_of_leader"):
                        part["logs"][b] = klog.unpack_copy(log, part["logs"][source])
        return cls(body, SeededRandom.from_state(state["rng"]))

    # -- helpers for tests and the visualiser ----------------------------------------------
    def group_owners(self, group_id: str) -> dict[str, list[str]]:
        return owners(self.state["groups"][group_id])
