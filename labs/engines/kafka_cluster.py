"""Brokers, replica placement, replication, the ISR, the high watermark and leader election.

Kafka 3.7+ in KRaft mode, simplified to what a learner can see:
- Replica placement is the rack-unaware `assignReplicasToBrokersRackUnaware` (AdminUtils, now
  ReplicaAssignment/StripedReplicaPlacer's predecessor): a random start broker and a random
  shift for the second replica, increased every time the partition id wraps the broker count.
- Followers fetch from the leader every tick; a "slow" follower only sees records older than
  its delay. The leader keeps Kafka's `lastCaughtUpTimeMs` rule (Replica.updateFetchState) and
  drops a follower from the ISR once it has not caught up for replica.lag.time.max.ms; a
  follower rejoins when its log end reaches the high watermark.
- The high watermark is the smallest log end offset in the ISR (never moving back).
- A crashed or cut-off broker is fenced by the controller after broker.session.timeout.ms: it
  leaves every ISR (except the last member, as KRaft keeps it) and its leaderships move to the
  first live replica in the ISR, in replica order; with none, the partition goes offline unless
  unclean.leader.election.enable lets an out-of-sync replica lead (and lose records).
"""

from __future__ import annotations

from typing import Any

from labs.engines import kafka_log as klog

__all__ = [
    "place_replicas",
    "new_partition",
    "prune_acked",
    "broker_reachable",
    "leader_log",
    "tick_cluster",
    "elect_leader",
    "fence_broker",
    "unfence_broker",
]

FETCH_MAX_RECORDS = 500  # records a follower copies per fetch (replica.fetch.max.bytes)


def place_replicas(brokers: list[int], n_partitions: int, rf: int, rng: Any) -> list[list[int]]:
    """assignReplicasToBrokersRackUnaware with a random start index and replica shift."""
    n = len(brokers)
    if rf > n:
        raise ValueError("replication factor larger than the number of brokers")
    start = rng.randrange(n)
    shift = rng.randrange(n)
    out: list[list[int]] = []
    for p in range(n_partitions):
        if p > 0 and p % n == 0:
            shift += 1
        first = (p + start) % n
        replicas = [brokers[first]]
        for j in range(rf - 1):
            replicas.append(brokers[(first + 1 + (shift + j) % (n - 1)) % n])
        out.append(replicas)
    return out


def new_partition(p: int, replicas: list[int]) -> dict[str, Any]:
    return {
        "p": p,
        "replicas": list(replicas),
        "leader": replicas[0],
        "epoch": 0,
        "epoch_start": 0,  # the leader's log end when it became leader (leaderEpochStartOffset)
        "isr": list(replicas),
        "hw": 0,
        "logs": {str(b): klog.new_log() for b in replicas},
        # The leader's view of each follower (Replica.updateFetchState).
        "caught_up_ms": {str(b): 0 for b in replicas},
        "last_fetch_ms": {str(b): 0 for b in replicas},
        "last_fetch_leo": {str(b): 0 for b in replicas},
        "follower_epoch": {str(b): 0 for b in replicas},
        "acked": [],  # [[offset, rid]] acknowledged records still expected in the log
        "lost_acked": 0,
        "offline_since": None,
    }


def broker_reachable(brokers: list[dict], b: int) -> bool:
    """Up, not cut off and not fenced: clients and other brokers can talk to it."""
    br = brokers[b]
    return br["status"] == "up" and not br["fenced"]


def leader_log(part: dict) -> dict | None:
    return part["logs"][str(part["leader"])] if part["leader"] >= 0 else None


def _check_lost(part: dict) -> int:
    """Count acknowledged records the (new) leader's log no longer holds."""
    log = leader_log(part)
    if log is None or not part["acked"]:
        return 0
    lost = 0
    keep = []
    for off, rid in part["acked"]:
        if off < log["lso"]:
            continue  # deleted by retention: expected, not lost
        rec = klog.record_at(log, off) if off < log["leo"] else None
        if rec is None or rec[klog.RID] != rid:
            lost += 1
        else:
            keep.append([off, rid])
    part["acked"] = keep
    part["lost_acked"] += lost
    return lost


def prune_acked(part: dict) -> None:
    """Forget acknowledgements no failure can lose any more: below every replica's log end,
    once all replicas follow the current leader epoch (their logs agree with the leader's)."""
    if not part["acked"] or any(
        part["follower_epoch"][str(b)] != part["epoch"] for b in part["replicas"]
    ):
        return
    safe = min(part["logs"][str(b)]["leo"] for b in part["replicas"])
    if part["acked"][0][0] < safe:
        part["acked"] = [a for a in part["acked"] if a[0] >= safe]


def elect_leader(part: dict, brokers: list[dict], unclean: bool, now: int) -> dict | None:
    """Elect a leader for a partition whose leader is gone; returns an event body or None."""
    live = [b for b in part["replicas"] if broker_reachable(brokers, b)]
    candidates = [b for b in part["replicas"] if b in part["isr"] and b in live]
    how = "clean"
    if not candidates and unclean and live:
        candidates, how = live, "unclean"
    old = part["leader"]
    if not candidates:
        if old >= 0:
            part["leader"] = -1
            part["offline_since"] = now
            return {"type": "partition_offline", "old_leader": old}
        return None
    new = candidates[0]
    part["leader"] = new
    part["epoch"] += 1
    part["offline_since"] = None
    log = part["logs"][str(new)]
    part["epoch_start"] = log["leo"]
    if how == "unclean":
        part["isr"] = [new]
    # The new leader's high watermark cannot pass its own log end.
    part["hw"] = min(part["hw"], log["leo"])
    for b in part["replicas"]:
        part["caught_up_ms"][str(b)] = now
        part["last_fetch_ms"][str(b)] = now
        part["last_fetch_leo"][str(b)] = 0
    part["follower_epoch"][str(new)] = part["epoch"]
    lost = _check_lost(part)
    return {"type": "leader_elected", "old_leader": old, "leader": new, "how": how, "lost": lost}


def fence_broker(cluster: dict, b: int, now: int) -> list[dict]:
    """The controller stops trusting broker b: shrink ISRs and move its leaderships."""
    brokers = cluster["brokers"]
    brokers[b]["fenced"] = True
    events: list[dict] = [{"type": "broker_fenced", "broker": b}]
    for name, topic in cluster["topics"].items():
        for part in topic["partitions"]:
            if b not in part["replicas"]:
                continue
            if b in part["isr"] and len(part["isr"]) > 1:
                part["isr"].remove(b)
                events.append({"type": "isr_shrink", "topic": name, "p": part["p"], "broker": b})
            if part["leader"] == b:
                ev = elect_leader(part, brokers, topic["config"]["unclean_leader_election"], now)
                if ev:
                    events.append({**ev, "topic": name, "p": part["p"]})
    return events


def unfence_broker(cluster: dict, b: int, now: int) -> list[dict]:
    """The broker is back: offline partitions it can lead come back online."""
    cluster["brokers"][b]["fenced"] = False
    events: list[dict] = [{"type": "broker_unfenced", "broker": b}]
    for name, topic in cluster["topics"].items():
        for part in topic["partitions"]:
            if part["leader"] < 0 and b in part["replicas"]:
                unclean = topic["config"]["unclean_leader_election"]
                ev = elect_leader(part, cluster["brokers"], unclean, now)
                if ev and ev["type"] == "leader_elected":
                    events.append({**ev, "topic": name, "p": part["p"]})
    return events


def _reconcile(part: dict, fid: str, leader: dict) -> None:
    """A follower that saw an older leader epoch truncates to where it agrees with the leader
    (Kafka does this with OffsetsForLeaderEpoch; comparing record identities is equivalent)."""
    flog = part["logs"][fid]
    end = min(flog["leo"], leader["leo"])
    while end > flog["lso"]:
        mine = klog.record_at(flog, end - 1)
        theirs = klog.record_at(leader, end - 1)
        if mine is None and theirs is None:
            end -= 1
            continue
        if mine is not None and theirs is not None and mine[klog.RID] == theirs[klog.RID]:
            break
        end -= 1
    klog.truncate_to(flog, end)
    if flog["lso"] < leader["lso"]:
        klog.advance_start(flog, leader["lso"])
    part["follower_epoch"][fid] = part["epoch"]


def _replicate(part: dict, topic_cfg: dict, brokers: list[dict], now: int) -> None:
    leader = part["leader"]
    llog = part["logs"][str(leader)]
    for b in part["replicas"]:
        if b == leader or not broker_reachable(brokers, b):
            continue
        fid = str(b)
        if part["follower_epoch"][fid] != part["epoch"]:
            _reconcile(part, fid, llog)
        flog = part["logs"][fid]
        if flog["leo"] < llog["lso"]:
            # Too far behind: start again from the leader's log start offset.
            klog.truncate_to(flog, flog["lso"])
            flog["segs"], flog["lso"], flog["leo"] = [], llog["lso"], llog["lso"]
        delay = brokers[b]["fetch_delay_ms"]
        recs = klog.read(llog, flog["leo"], llog["leo"], FETCH_MAX_RECORDS)
        for r in recs:
            if delay and r[klog.TS] > now - delay:
                break
            klog.append(flog, r, topic_cfg["segment_bytes"], topic_cfg["segment_ms"])
        if flog["lso"] < llog["lso"]:
            klog.advance_start(flog, llog["lso"])
        # Replica.updateFetchState: caught up if the fetch reached the leader's end now, or the
        # end the leader had at the previous fetch.
        if flog["leo"] >= llog["leo"]:
            part["caught_up_ms"][fid] = now
        elif flog["leo"] >= part["last_fetch_leo"][fid]:
            part["caught_up_ms"][fid] = part["last_fetch_ms"][fid]
        part["last_fetch_leo"][fid] = llog["leo"]
        part["last_fetch_ms"][fid] = now


def _maintain_isr(part: dict, name: str, lag_max_ms: int, brokers: list, now: int) -> list[dict]:
    events: list[dict] = []
    leader = part["leader"]
    llog = part["logs"][str(leader)]
    for b in list(part["isr"]):
        if b != leader and now - part["caught_up_ms"][str(b)] > lag_max_ms:
            part["isr"].remove(b)
            events.append({"type": "isr_shrink", "topic": name, "p": part["p"], "broker": b})
    for b in part["replicas"]:
        if b in part["isr"] or not broker_reachable(brokers, b):
            continue
        flog = part["logs"][str(b)]
        current = part["follower_epoch"][str(b)] == part["epoch"]
        # Partition.isFollowerInSync: caught up to the HW and into the current leader epoch.
        reached = flog["leo"] >= max(part["hw"], part["epoch_start"], llog["lso"])
        if current and reached and now - part["caught_up_ms"][str(b)] <= lag_max_ms:
            part["isr"].append(b)
            part["isr"].sort(key=part["replicas"].index)
            events.append({"type": "isr_expand", "topic": name, "p": part["p"], "broker": b})
    hw = min(part["logs"][str(b)]["leo"] for b in part["isr"])
    if hw > part["hw"]:
        part["hw"] = hw
    return events


def tick_cluster(cluster: dict, now: int) -> list[dict]:
    """One replication round: controller fencing, follower fetches, ISR changes, HW."""
    events: list[dict] = []
    brokers = cluster["brokers"]
    session = cluster["config"]["broker_session_timeout_ms"]
    for br in brokers:
        if br["status"] != "up" and not br["fenced"] and now - br["since_ms"] >= session:
            events += fence_broker(cluster, br["id"], now)
    lag_max = cluster["config"]["replica_lag_time_max_ms"]
    for name, topic in cluster["topics"].items():
        cfg = topic["config"]
        for part in topic["partitions"]:
            leader = part["leader"]
            if leader < 0:
                ev = elect_leader(part, brokers, cfg["unclean_leader_election"], now)
                if ev and ev["type"] == "leader_elected":
                    events.append({**ev, "topic": name, "p": part["p"]})
                continue
            if brokers[leader]["status"] != "up":
                continue  # a crashed or cut-off leader does nothing until fenced
            _replicate(part, cfg, brokers, now)
            events += _maintain_isr(part, name, lag_max, brokers, now)
    return events
