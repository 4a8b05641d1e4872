"""Producers: partitioning, batching per tick, acks, min.insync.replicas, retries, idempotence.

A producer sends the records it created during a tick as one request per partition (linger.ms
is one tick). The leader answers:
- acks=0: nothing; the record counts as sent (the offset is unknown, -1 in Kafka).
- acks=1: acknowledged as soon as the leader appended it.
- acks=all: NOT_ENOUGH_REPLICAS (nothing appended) when the ISR is smaller than
  min.insync.replicas; else appended and acknowledged once the high watermark passes it, or
  NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank below the minimum meanwhile.
A crashed leader refuses the connection and a partition without a leader has none to send to:
both fail at once. A cut-off leader and slow acknowledgements end in a timeout after
request.timeout.ms; a leader change gives NOT_LEADER_OR_FOLLOWER. All are retriable: the
producer retries after an exponential backoff (retry.backoff.ms doubling up to 1 s, KIP-580)
while it has retries left and delivery.timeout.ms has not passed. A retried
record that the leader had in fact appended is appended again (a duplicate) unless idempotence
is on, in which case the leader recognises (producer id, sequence) and returns the first offset.
"""

from __future__ import annotations

from typing import Any

from labs.engines import kafka_log as klog
from labs.engines.kafka_cluster import broker_reachable, leader_log
from labs.engines.kafka_partitioner import partition_for_key, sticky_partition

__all__ = ["tick_producer", "send_record", "RESULT_KEYS"]

RESULT_KEYS = ("acked", "sent", "not_enough_replicas", "timeout")
RECENT = 12
RETRY_BACKOFF_MAX_MS = 1000


def _result(prod: dict, rec: dict, result: str, offset: int, now: int, out: list) -> None:
    prod["results"][result] += 1
    prod["recent"].append([rec["seq"], rec["key"], rec["p"], result, offset])
    del prod["recent"][:-RECENT]
    if prod["rate"] <= 5 or rec.get("manual"):
        out.append(
            {
                "type": "record_result",
                "t": now,
                "producer": prod["id"],
                "topic": prod["topic"],
                "p": rec["p"],
                "key": rec["key"],
                "result": result,
                "offset": offset,
            }
        )


def send_record(state: dict, prod: dict, key: str | None, value: str | None, now: int) -> dict:
    """Create one record (partitioned now) and queue it for this tick's request."""
    topic = state["cluster"]["topics"][prod["topic"]]
    n = len(topic["partitions"])
    if key is not None:
        p = partition_for_key(key.encode(), n)
    else:
        brokers = state["cluster"]["brokers"]
        available = [
            part["p"]
            for part in topic["partitions"]
            if part["leader"] >= 0 and broker_reachable(brokers, part["leader"])
        ]
        p = sticky_partition(prod["sticky"], available, n, state["rng_obj"], prod["batch_records"])
    track = state["track"]
    if key is not None and (key in track["key_partitions"] or len(track["key_partitions"]) < 200):
        seen = track["key_partitions"].setdefault(key, [])
        if p not in seen:
            seen.append(p)
    elif p not in track["keyless_partitions"]:
        track["keyless_partitions"].append(p)
    prod["seq"] += 1
    state["next_rid"] += 1
    rec = {
        "rid": state["next_rid"],
        "seq": prod["seq"],
        "key": key,
        "value": value,
        "p": p,
        "ts": now,
        "first_ms": now,
        "attempts": 0,
        "appended": [],  # [epoch, offset] of each append this record got
    }
    prod["queue"].append(rec)
    return rec


def _next_key(prod: dict, rng: Any) -> str | None:
    if prod["keys"] == 0:
        return None
    return f"{prod['key_prefix']}{rng.randrange(prod['keys'])}"


def _fail_or_retry(prod: dict, rec: dict, error: str, now: int, out: list) -> None:
    # KIP-580 (3.7): the backoff doubles per attempt up to retry.backoff.max.ms (1 s); the
    # lab leaves out the 20 % jitter.
    backoff = min(
        prod["retry_backoff_ms"] * 2 ** (rec["attempts"] - 1),
        max(RETRY_BACKOFF_MAX_MS, prod["retry_backoff_ms"]),
    )
    if (
        rec["attempts"] <= prod["retries"]
        and now + backoff - rec["first_ms"] < prod["delivery_timeout_ms"]
    ):
        rec["retry_at"] = now + backoff
        prod["retry"].append(rec)
        prod["retries_done"] += 1
    else:
        result = "not_enough_replicas" if error.startswith("not_enough") else "timeout"
        _result(prod, rec, result, -1, now, out)


def _append(part: dict, topic_cfg: dict, prod: dict, rec: dict, now: int) -> int:
    """Leader appends; returns the offset (existing one for an idempotent duplicate)."""
    log = leader_log(part)
    if prod["idempotent"]:
        for epoch_off in rec["appended"]:
            existing = klog.record_at(log, epoch_off[1])
            if existing is not None and existing[klog.RID] == rec["rid"]:
                return epoch_off[1]
    elif any(
        (r := klog.record_at(log, eo[1])) is not None and r[klog.RID] == rec["rid"]
        for eo in rec["appended"]
    ):
        prod["duplicates"] += 1
    off = log["leo"]
    row = [off, rec["key"], rec["value"], now, rec["rid"]]
    klog.append(log, row, topic_cfg["segment_bytes"], topic_cfg["segment_ms"])
    rec["appended"].append([part["epoch"], off])
    return off


def _dispatch(state: dict, prod: dict, batch: list[dict], now: int, out: list) -> None:
    cluster = state["cluster"]
    topic = cluster["topics"][prod["topic"]]
    cfg = topic["config"]
    brokers = cluster["brokers"]
    for rec in batch:
        rec["attempts"] += 1
        if rec["p"] >= len(topic["partitions"]):
            rec["p"] = rec["p"] % len(topic["partitions"])
        part = topic["partitions"][rec["p"]]
        leader = part["leader"]
        reachable = leader >= 0 and broker_reachable(brokers, leader)
        if prod["acks"] == "0":
            if reachable:
                _append(part, cfg, prod, rec, now)
            _result(prod, rec, "sent", -1, now, out)
            continue
        if leader < 0 or brokers[leader]["status"] == "down":
            # No leader in the metadata, or the connection to a dead broker is refused: a
            # quick retriable error, then the retry finds the leader after a metadata refresh.
            _fail_or_retry(prod, rec, "leader_not_available", now, out)
            continue
        if not reachable:
            # A cut-off broker never answers: the request times out.
            rec["timeout_at"] = now + prod["request_timeout_ms"]
            rec["epoch"] = -1
            prod["inflight"].append(rec)
            continue
        if prod["acks"] == "all" and len(part["isr"]) < cfg["min_insync_replicas"]:
            state["counters"]["not_enough_replicas_errors"] += 1
            _fail_or_retry(prod, rec, "not_enough_replicas", now, out)
            continue
        off = _append(part, cfg, prod, rec, now)
        if prod["acks"] == "1":
            part["acked"].append([off, rec["rid"]])
            _result(prod, rec, "acked", off, now, out)
            continue
        rec["offset"], rec["epoch"] = off, part["epoch"]
        rec["timeout_at"] = now + prod["request_timeout_ms"]
        prod["inflight"].append(rec)


def _check_inflight(state: dict, prod: dict, now: int, out: list) -> None:
    topic = state["cluster"]["topics"][prod["topic"]]
    cfg = topic["config"]
    waiting = []
    for rec in prod["inflight"]:
        part = topic["partitions"][rec["p"]]
        if rec["epoch"] >= 0 and rec["epoch"] != part["epoch"]:
            _fail_or_retry(prod, rec, "not_leader_or_follower", now, out)
        elif rec["epoch"] >= 0 and part["hw"] > rec["offset"]:
            if len(part["isr"]) < cfg["min_insync_replicas"]:
                state["counters"]["not_enough_replicas_errors"] += 1
                _fail_or_retry(prod, rec, "not_enough_replicas_after_append", now, out)
            else:
                part["acked"].append([rec["offset"], rec["rid"]])
                _result(prod, rec, "acked", rec["offset"], now, out)
        elif now >= rec["timeout_at"]:
            state["counters"]["request_timeouts"] += 1
            _fail_or_retry(prod, rec, "timeout", now, out)
        else:
            waiting.append(rec)
    prod["inflight"] = waiting


def tick_producer(state: dict, prod: dict, now: int, tick_ms: int) -> list[dict]:
    out: list[dict] = []
    _check_inflight(state, prod, now, out)
    prod["acc"] += prod["rate"] * tick_ms
    count, prod["acc"] = divmod(prod["acc"], 1000)
    rng = state["rng_obj"]
    for _ in range(count):
        send_record(state, prod, _next_key(prod, rng), "", now)  # values are not shown
    due = [r for r in prod["retry"] if r["retry_at"] <= now]
    prod["retry"] = [r for r in prod["retry"] if r["retry_at"] > now]
    batch, prod["queue"] = due + prod["queue"], []
    _dispatch(state, prod, batch, now, out)
    return out
