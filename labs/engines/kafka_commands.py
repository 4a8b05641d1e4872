"""The learner's commands for the Kafka lab: the schema the UI renders, validation and effects.

Every handler validates first (raising CommandError) and only then changes the state.
"""

from __future__ import annotations

from typing import Any

from labs.engines import CommandError
from labs.engines import kafka_cluster as kc
from labs.engines import kafka_groups as kg
from labs.engines.kafka_cluster import new_partition, place_replicas
from labs.engines.kafka_producers import send_record

__all__ = ["COMMAND_SCHEMA", "apply_command"]


def _num(name: str, label: str, lo: int, hi: int, default: int, step: int = 1) -> dict:
    return {
        "name": name,
        "kind": "number",
        "label": label,
        "min": lo,
        "max": hi,
        "step": step,
        "default": default,
    }


def _text(name: str, label: str, default: str) -> dict:
    return {"name": name, "kind": "text", "label": label, "default": default}


def _select(name: str, label: str, choices: list, default: str) -> dict:
    return {"name": name, "kind": "select", "label": label, "choices": choices, "default": default}


_BROKER = _num("broker", "broker id", 0, 8, 0)
_PRODUCER = _text("producer", "producer", "p1")
_TOPIC = _text("topic", "topic", "orders")
_GROUP = _text("group", "group", "g1")
_CONSUMER = _text("consumer", "consumer (empty: the newest)", "")
_ASSIGNORS = [
    ["range", "range (eager)"],
    ["roundrobin", "roundrobin (eager)"],
    ["cooperative-sticky", "cooperative-sticky"],
]

COMMAND_SCHEMA: list[dict[str, Any]] = [
    {"type": "stop_broker", "label": "Crash broker", "group": "Brokers", "fields": [_BROKER]},
    {
        "type": "start_broker",
        "label": "Start / reconnect broker",
        "group": "Brokers",
        "fields": [_BROKER],
    },
    {
        "type": "isolate_broker",
        "label": "Cut broker off the network",
        "group": "Brokers",
        "fields": [_BROKER],
    },
    {
        "type": "slow_follower",
        "label": "Slow down a broker's replica fetching",
        "group": "Brokers",
        "fields": [
            _BROKER,
            _num("delay_ms", "lag behind leader (ms, 0 = normal)", 0, 120000, 15000, 500),
        ],
    },
    {
        "type": "set_rate",
        "label": "Producer rate",
        "group": "Producers",
        "fields": [_PRODUCER, _num("rate", "records/s", 0, 500, 10)],
    },
    {
        "type": "set_acks",
        "label": "Producer acks and idempotence",
        "group": "Producers",
        "fields": [
            _PRODUCER,
            _select("acks", "acks", [["0", "0"], ["1", "1"], ["all", "all"]], "all"),
            {"name": "idempotent", "kind": "bool", "label": "enable.idempotence", "default": True},
        ],
    },
    {
        "type": "set_keys",
        "label": "Producer keys",
        "group": "Producers",
        "fields": [_PRODUCER, _num("keys", "distinct keys (0 = no key)", 0, 50, 8)],
    },
    {
        "type": "produce_record",
        "label": "Send one record",
        "group": "Producers",
        "fields": [
            _PRODUCER,
            _text("key", "key (empty: none)", "k1"),
            _text("value", "value", "hello"),
            {
                "name": "tombstone",
                "kind": "bool",
                "label": "tombstone (null value)",
                "default": False,
            },
        ],
    },
    {
        "type": "set_min_insync",
        "label": "min.insync.replicas",
        "group": "Topics",
        "fields": [_TOPIC, _num("value", "min.insync.replicas", 1, 9, 2)],
    },
    {
        "type": "set_unclean",
        "label": "unclean.leader.election.enable",
        "group": "Topics",
        "fields": [
            _TOPIC,
            {
                "name": "enabled",
                "kind": "bool",
                "label": "allow unclean election",
                "default": False,
            },
        ],
    },
    {
        "type": "add_partitions",
        "label": "Increase partition count",
        "group": "Topics",
        "fields": [_TOPIC, _num("count", "new partition count", 1, 32, 8)],
    },
    {
        "type": "set_retention",
        "label": "Retention",
        "group": "Topics",
        "fields": [
            _TOPIC,
            _num("retention_ms", "retention.ms (-1 = forever)", -1, 10**9, 60000, 1000),
            _num("retention_bytes", "retention.bytes (-1 = no limit)", -1, 10**9, -1, 100),
        ],
    },
    {"type": "add_consumer", "label": "Start a consumer", "group": "Consumers", "fields": [_GROUP]},
    {
        "type": "remove_consumer",
        "label": "Close a consumer (leaves the group)",
        "group": "Consumers",
        "fields": [_GROUP, _CONSUMER],
    },
    {
        "type": "crash_consumer",
        "label": "Kill a consumer (no leave, no commit)",
        "group": "Consumers",
        "fields": [_GROUP, _CONSUMER],
    },
    {
        "type": "stall_consumer",
        "label": "Stall a consumer (stops polling)",
        "group": "Consumers",
        "fields": [_GROUP, _CONSUMER],
    },
    {
        "type": "resume_consumer",
        "label": "Resume a stalled consumer",
        "group": "Consumers",
        "fields": [_GROUP, _CONSUMER],
    },
    {
        "type": "set_assignor",
        "label": "Assignor (rolled out to all consumers)",
        "group": "Consumers",
        "fields": [_GROUP, _select("assignor", "assignor", _ASSIGNORS, "range")],
    },
    {
        "type": "set_commit",
        "label": "Offset commits",
        "group": "Consumers",
        "fields": [
            _GROUP,
            _select(
                "mode", "commits", [["auto", "auto-commit"], ["manual", "after every poll"]], "auto"
            ),
        ],
    },
    {
        "type": "set_consumer_rate",
        "label": "Consumer speed",
        "group": "Consumers",
        "fields": [_GROUP, _num("rate", "records/s per consumer", 1, 1000, 50)],
    },
]
_FIELDS = {c["type"]: c["fields"] for c in COMMAND_SCHEMA}


def _clean(command: Any) -> dict[str, Any]:
    if not isinstance(command, dict) or not isinstance(command.get("type"), str):
        raise CommandError("a command needs a type")
    ctype = command["type"]
    if ctype not in _FIELDS:
        raise CommandError(f"unknown command {ctype!r}")
    out: dict[str, Any] = {"type": ctype}
    known = {f["name"] for f in _FIELDS[ctype]}
    extra = sorted(set(command) - known - {"type"})
    if extra:
        raise CommandError(f"unknown field {extra[0]!r} for {ctype}")
    for f in _FIELDS[ctype]:
        v = command.get(f["name"], f["default"])
        kind = f["kind"]
        if kind == "number":
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            if isinstance(v, bool) or not isinstance(v, int):
                raise CommandError(f"{f['label']} must be a whole number")
            if not f["min"] <= v <= f["max"]:
                raise CommandError(f"{f['label']} must be between {f['min']} and {f['max']}")
        elif kind == "bool":
            if not isinstance(v, bool):
                raise CommandError(f"{f['label']} must be true or false")
        elif kind == "select":
            if v not in [c[0] for c in f["choices"]]:
                raise CommandError(
                    f"{f['label']} must be one of " + ", ".join(c[0] for c in f["choices"])
                )
        else:
            if not isinstance(v, str) or len(v) > 40:
                raise CommandError(f"{f['label']} must be text of at most 40 characters")
        out[f["name"]] = v
    return out


def _broker(state: dict, b: int) -> dict:
    brokers = state["cluster"]["brokers"]
    if b >= len(brokers):
        raise CommandError(f"there is no broker {b} (brokers 0..{len(brokers) - 1})")
    return brokers[b]


def _get(state: dict, kind: str, key: str, label: str) -> dict:
    items = state[kind] if kind != "topics" else state["cluster"]["topics"]
    if key not in items:
        raise CommandError(f"unknown {label} {key!r}; known: {', '.join(sorted(items)) or 'none'}")
    return items[key]


def _member(group: dict, cid: str, statuses: tuple[str, ...]) -> str:
    if not cid:
        live = [c for c, m in group["members"].items() if m["status"] in statuses]
        if not live:
            raise CommandError("no consumer in a suitable state")
        return max(live, key=lambda c: int(c[1:]))
    m = group["members"].get(cid)
    if m is None or m["status"] not in statuses:
        raise CommandError(f"consumer {cid!r} is not {' or '.join(statuses)}")
    return cid


def apply_command(state: dict, raw: Any, now: int) -> tuple[dict[str, Any], list[dict]]:
    """Validate and apply; returns (the cleaned command, events to emit with the tick)."""
    cmd = _clean(raw)
    ctype = cmd["type"]
    cluster = state["cluster"]
    events: list[dict] = []
    if ctype in ("stop_broker", "start_broker", "isolate_broker"):
        br = _broker(state, cmd["broker"])
        target = {"stop_broker": "down", "start_broker": "up", "isolate_broker": "isolated"}[ctype]
        if br["status"] == target:
            raise CommandError(f"broker {br['id']} is already {target}")
        br["status"], br["since_ms"] = target, now
        if target == "up" and br["fenced"]:
            events += kc.unfence_broker(cluster, br["id"], now)
        return cmd, events
    if ctype == "slow_follower":
        _broker(state, cmd["broker"])["fetch_delay_ms"] = cmd["delay_ms"]
        return cmd, events
    if ctype in ("set_rate", "set_acks", "set_keys", "produce_record"):
        prod = _get(state, "producers", cmd["producer"], "producer")
        if ctype == "set_rate":
            prod["rate"] = cmd["rate"]
        elif ctype == "set_acks":
            if cmd["idempotent"] and cmd["acks"] != "all":
                raise CommandError("idempotence needs acks=all (Kafka refuses the combination)")
            prod["acks"], prod["idempotent"] = cmd["acks"], cmd["idempotent"]
        elif ctype == "set_keys":
            prod["keys"] = cmd["keys"]
        else:
            key = cmd["key"] or None
            value = None if cmd["tombstone"] else cmd["value"]
            if value is None and key is None:
                raise CommandError("a tombstone needs a key")
            rec = send_record(state, prod, key, value, now)
            rec["manual"] = True
            if value is None:
                state["track"]["tombstones"].append(rec["rid"])
                del state["track"]["tombstones"][:-50]
        return cmd, events
    if ctype in ("set_min_insync", "set_unclean", "add_partitions", "set_retention"):
        topic = _get(state, "topics", cmd["topic"], "topic")
        cfg = topic["config"]
        if ctype == "set_min_insync":
            if cmd["value"] > cfg["replication_factor"]:
                raise CommandError(
                    "min.insync.replicas cannot exceed the replication factor "
                    f"({cfg['replication_factor']})"
                )
            cfg["min_insync_replicas"] = cmd["value"]
        elif ctype == "set_unclean":
            cfg["unclean_leader_election"] = cmd["enabled"]
        elif ctype == "set_retention":
            cfg["retention_ms"], cfg["retention_bytes"] = (
                cmd["retention_ms"],
                cmd["retention_bytes"],
            )
        else:
            have = len(topic["partitions"])
            if cmd["count"] <= have:
                raise CommandError(f"Kafka can only add partitions: the topic has {have}")
            brokers = [b["id"] for b in cluster["brokers"]]
            placement = place_replicas(
                brokers, cmd["count"], cfg["replication_factor"], state["rng_obj"]
            )
            for p in range(have, cmd["count"]):
                part = new_partition(p, placement[p])
                for b in part["replicas"]:
                    part["caught_up_ms"][str(b)] = now
                live = [b for b in part["replicas"] if kc.broker_reachable(cluster["brokers"], b)]
                part["leader"] = live[0] if live else -1
                part["isr"] = live or part["isr"][:1]
                topic["partitions"].append(part)
            state["counters"]["partitions_added"] += cmd["count"] - have
            for group in state["groups"].values():
                if group["topic"] == cmd["topic"] and group["state"] != "Empty":
                    events += kg.trigger_rebalance(group, "partitions added", now)
        return cmd, events
    group = _get(state, "groups", cmd["group"], "group")
    if ctype == "add_consumer":
        live = sum(1 for m in group["members"].values() if m["status"] != "left")
        if live >= 12:
            raise CommandError("at most 12 consumers per group in this lab")
        cid = kg.new_member(group, now)
        events += kg.trigger_rebalance(group, f"{cid} joined", now)
    elif ctype == "remove_consumer":
        cid = _member(group, cmd["consumer"], ("active", "joining"))
        m = group["members"][cid]
        kg.commit_member(group, m)
        m["status"], m["assigned"] = "left", []
        events += kg.trigger_rebalance(group, f"{cid} left", now)
    elif ctype == "crash_consumer":
        cid = _member(group, cmd["consumer"], ("active", "joining", "stalled"))
        m = group["members"][cid]
        m["status"], m["since_ms"] = "crashed", now
    elif ctype == "stall_consumer":
        cid = _member(group, cmd["consumer"], ("active",))
        group["members"][cid]["status"] = "stalled"
    elif ctype == "resume_consumer":
        cid = _member(group, cmd["consumer"], ("stalled", "evicted"))
        m = group["members"][cid]
        if m["status"] == "stalled":
            m["status"], m["last_poll_ms"] = "active", now
        else:
            # Its commit fails (CommitFailedException); it rejoins and gets a fresh assignment.
            group["failed_commits"] += 1
            m["status"], m["positions"], m["last_poll_ms"] = "joining", {}, now
            events += kg.trigger_rebalance(group, f"{cid} rejoined", now)
    elif ctype == "set_assignor":
        if cmd["assignor"] == group["assignor"]:
            raise CommandError(f"the group already uses {cmd['assignor']}")
        group["assignor"] = cmd["assignor"]
    elif ctype == "set_commit":
        group["commit"], group["auto_commit"] = cmd["mode"], cmd["mode"] == "auto"
    elif ctype == "set_consumer_rate":
        group["consumer_rate"] = cmd["rate"]
    return cmd, events
