"""Scenario validation and the initial state of the Kafka lab.

A scenario is a dict: cluster settings, `topics`, `producers`, `groups` and `objectives`.
Each list entry is validated against a spec of (type, min, max, default); unknown keys,
wrong types and out-of-range values raise ScenarioError naming the path.
"""

from __future__ import annotations

from typing import Any

from labs.engines import ScenarioError
from labs.engines.kafka_cluster import new_partition, place_replicas
from labs.engines.kafka_log import RECORD_BYTES
from labs.engines.kafka_objectives import OBJECTIVES

__all__ = ["DEFAULT_SCENARIO", "validate", "build_state", "TOPIC_SPEC", "PRODUCER_SPEC"]

# name: (type, min, max, default); choices given as a tuple in place of min with max None.
CLUSTER_SPEC: dict[str, tuple] = {
    "brokers": (int, 1, 9, 3),
    "broker_session_timeout_ms": (int, 1000, 60000, 9000),
    "replica_lag_time_max_ms": (int, 1000, 120000, 30000),
    "log_check_interval_ms": (int, 500, 300000, 5000),
}
TOPIC_SPEC: dict[str, tuple] = {
    "name": (str, 1, 40, "orders"),
    "partitions": (int, 1, 32, 6),
    "replication_factor": (int, 1, 9, 3),
    "min_insync_replicas": (int, 1, 9, 1),
    "cleanup_policy": (str, ("delete", "compact"), None, "delete"),
    "retention_ms": (int, -1, 10**10, 604_800_000),
    "retention_bytes": (int, -1, 10**9, -1),
    "segment_bytes": (int, RECORD_BYTES, 10**8, 100_000),
    "segment_ms": (int, 1000, 10**9, 604_800_000),
    "delete_retention_ms": (int, 0, 10**9, 86_400_000),
    "unclean_leader_election": (bool, None, None, False),
}
PRODUCER_SPEC: dict[str, tuple] = {
    "id": (str, 1, 20, "p1"),
    "topic": (str, 1, 40, "orders"),
    "rate": (int, 0, 500, 10),
    "keys": (int, 0, 50, 8),
    "key_prefix": (str, 0, 20, "k"),
    "acks": (str, ("0", "1", "all"), None, "all"),
    "idempotent": (bool, None, None, True),
    "retries": (int, 0, 2_147_483_647, 2_147_483_647),
    "batch_size": (int, RECORD_BYTES, 10**6, 16384),
    "request_timeout_ms": (int, 500, 120000, 30000),
    "delivery_timeout_ms": (int, 500, 600000, 120000),
    "retry_backoff_ms": (int, 10, 10000, 100),
}
GROUP_SPEC: dict[str, tuple] = {
    "id": (str, 1, 20, "g1"),
    "topic": (str, 1, 40, "orders"),
    "consumers": (int, 0, 12, 1),
    "assignor": (str, ("range", "roundrobin", "cooperative-sticky"), None, "range"),
    "commit": (str, ("auto", "manual"), None, "auto"),
    "auto_commit_interval_ms": (int, 100, 60000, 5000),
    "max_poll_interval_ms": (int, 1000, 600000, 300000),
    "session_timeout_ms": (int, 1000, 300000, 45000),
    "rebalance_ms": (int, 100, 30000, 1000),
    "consumer_rate": (int, 1, 1000, 50),
}

DEFAULT_SCENARIO: dict[str, Any] = {
    "brokers": 3,
    "broker_session_timeout_ms": 6000,
    "replica_lag_time_max_ms": 10000,
    "topics": [
        {
            "name": "orders",
            "partitions": 6,
            "replication_factor": 3,
            "min_insync_replicas": 2,
            # Bounded logs keep checkpoints small: about 500 records per partition.
            "retention_bytes": 50_000,
            "segment_bytes": 10_000,
        }
    ],
    "producers": [{"id": "p1", "topic": "orders", "rate": 10, "keys": 8, "acks": "all"}],
    "groups": [{"id": "g1", "topic": "orders", "consumers": 2, "consumer_rate": 20}],
    "objectives": ["keys_stick", "isr_shrunk", "safe_failover"],
}


def _check(value: Any, spec: dict[str, tuple], path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ScenarioError("must be a mapping", path)
    unknown = sorted(set(value) - set(spec))
    if unknown:
        raise ScenarioError(f"unknown key {unknown[0]!r}", f"{path}.{unknown[0]}".lstrip("."))
    out: dict[str, Any] = {}
    for key, (kind, lo, hi, default) in spec.items():
        where = f"{path}.{key}".lstrip(".")
        v = value.get(key, default)
        if kind is int and (isinstance(v, bool) or not isinstance(v, int)):
            raise ScenarioError("must be an integer", where)
        if kind is bool and not isinstance(v, bool):
            raise ScenarioError("must be true or false", where)
        if kind is str:
            if key == "acks" and isinstance(v, int) and not isinstance(v, bool):
                v = str(v)  # YAML reads acks: 1 as a number
            if not isinstance(v, str):
                raise ScenarioError("must be a string", where)
            if isinstance(lo, tuple):
                if v not in lo:
                    raise ScenarioError(f"must be one of {', '.join(lo)}", where)
            elif not lo <= len(v) <= hi:
                raise ScenarioError(f"length must be {lo}..{hi}", where)
        elif kind is int and not lo <= v <= hi:
            raise ScenarioError(f"must be between {lo} and {hi}", where)
        out[key] = v
    return out


def validate(scenario: dict[str, Any]) -> dict[str, Any]:
    """Return a normalised copy of the scenario (defaults filled in) or raise ScenarioError."""
    if not isinstance(scenario, dict):
        raise ScenarioError("scenario must be a mapping")
    extra = {"topics", "producers", "groups", "objectives", "duration_s"}
    unknown = sorted(set(scenario) - set(CLUSTER_SPEC) - extra)
    if unknown:
        raise ScenarioError(f"unknown key {unknown[0]!r}", unknown[0])
    if "duration_s" in scenario:  # the run length belongs to the platform; only its type here
        d = scenario["duration_s"]
        if isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= 86_400:
            raise ScenarioError("must be an integer between 1 and 86400", "duration_s")
    out = _check({k: v for k, v in scenario.items() if k in CLUSTER_SPEC}, CLUSTER_SPEC, "")
    for key, spec in (("topics", TOPIC_SPEC), ("producers", PRODUCER_SPEC), ("groups", GROUP_SPEC)):
        items = scenario.get(key, [])
        if not isinstance(items, list):
            raise ScenarioError("must be a list", key)
        if len(items) > 4:
            raise ScenarioError("at most 4 entries", key)
        out[key] = [_check(item, spec, f"{key}[{i}]") for i, item in enumerate(items)]
    if not out["topics"]:
        raise ScenarioError("at least one topic is needed", "topics")
    names = [t["name"] for t in out["topics"]]
    if len(set(names)) != len(names):
        raise ScenarioError("topic names must be unique", "topics")
    for i, t in enumerate(out["topics"]):
        if t["replication_factor"] > out["brokers"]:
            raise ScenarioError(
                "larger than the number of brokers", f"topics[{i}].replication_factor"
            )
        if t["min_insync_replicas"] > t["replication_factor"]:
            raise ScenarioError(
                "larger than the replication factor", f"topics[{i}].min_insync_replicas"
            )
    for key in ("producers", "groups"):
        ids = [x["id"] for x in out[key]]
        if len(set(ids)) != len(ids):
            raise ScenarioError("ids must be unique", key)
        for i, x in enumerate(out[key]):
            if x["topic"] not in names:
                raise ScenarioError(f"unknown topic {x['topic']!r}", f"{key}[{i}].topic")
    for i, prod in enumerate(out["producers"]):
        if prod["idempotent"] and prod["acks"] != "all":
            # KafkaProducer refuses enable.idempotence=true with acks other than all.
            raise ScenarioError("idempotence needs acks=all", f"producers[{i}].idempotent")
    objectives = scenario.get("objectives", DEFAULT_SCENARIO["objectives"])
    if not isinstance(objectives, list) or not all(isinstance(o, str) for o in objectives):
        raise ScenarioError("must be a list of objective ids", "objectives")
    for o in objectives:
        if o not in OBJECTIVES:
            raise ScenarioError(f"unknown objective {o!r}", "objectives")
    out["objectives"] = list(objectives)
    return out


def new_producer(cfg: dict[str, Any]) -> dict[str, Any]:
    return {
        **cfg,
        "batch_records": max(1, cfg["batch_size"] // RECORD_BYTES),
        "seq": 0,
        "acc": 0,
        "sticky": {"partition": None, "count": 0},
        "queue": [],
        "inflight": [],
        "retry": [],
        "results": {"acked": 0, "sent": 0, "not_enough_replicas": 0, "timeout": 0},
        "recent": [],
        "retries_done": 0,
        "duplicates": 0,
    }


def new_group(cfg: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": cfg["id"],
        "topic": cfg["topic"],
        "assignor": cfg["assignor"],
        "commit": cfg["commit"],
        "auto_commit": cfg["commit"] == "auto",
        "auto_commit_ms": cfg["auto_commit_interval_ms"],
        "max_poll_interval_ms": cfg["max_poll_interval_ms"],
        "session_timeout_ms": cfg["session_timeout_ms"],
        "rebalance_ms": cfg["rebalance_ms"],
        "consumer_rate": cfg["consumer_rate"],
        "state": "Empty",
        "generation": 0,
        "rebalance_at": 0,
        "episode": None,
        "members": {},
        "next_member": 0,
        "committed": {},
        "processed_high": {},
        "consumed": 0,
        "duplicates": 0,
        "failed_commits": 0,
        "rebalances": [],
        "last_auto_commit_ms": 0,
    }


def new_topic(cfg: dict[str, Any], brokers: list[int], rng: Any) -> dict[str, Any]:
    placement = place_replicas(brokers, cfg["partitions"], cfg["replication_factor"], rng)
    config = {k: v for k, v in cfg.items() if k not in ("name", "partitions")}
    return {
        "name": cfg["name"],
        "config": config,
        "partitions": [new_partition(p, r) for p, r in enumerate(placement)],
    }


def build_state(sc: dict[str, Any], rng: Any) -> dict[str, Any]:
    brokers = list(range(sc["brokers"]))
    cluster = {
        "config": {k: sc[k] for k in CLUSTER_SPEC if k != "brokers"},
        "brokers": [
            {"id": b, "status": "up", "fenced": False, "since_ms": 0, "fetch_delay_ms": 0}
            for b in brokers
        ],
        "topics": {t["name"]: new_topic(t, brokers, rng) for t in sc["topics"]},
    }
    return {
        "now": 0,
        "cluster": cluster,
        "producers": {p["id"]: new_producer(p) for p in sc["producers"]},
        "groups": {g["id"]: new_group(g) for g in sc["groups"]},
        "objective_ids": sc["objectives"],
        "met": {},
        "next_rid": 0,
        "counters": {
            "not_enough_replicas_errors": 0,
            "request_timeouts": 0,
            "isr_shrinks": 0,
            "isr_expands": 0,
            "leader_elections": 0,
            "unclean_elections": 0,
            "lost_acked": 0,
            "lost_acked_acks1": 0,
            "segments_deleted": 0,
            "compacted_records": 0,
            "tombstones_removed": 0,
            "partitions_added": 0,
        },
        "track": {
            "key_partitions": {},
            "keyless_partitions": [],
            "tombstones": [],
            "max_lag": 0,
            "idle_seen": False,
            "safe": None,
        },
        "second": {"acked": 0, "consumed": 0, "produced": 0},
    }
