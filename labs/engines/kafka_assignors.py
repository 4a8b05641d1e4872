"""Kafka's consumer partition assignors (client side, rack-unaware), in pure Python.

- Member order is `AbstractPartitionAssignor.MemberInfo.compareTo`: members with a
  group.instance.id (static members) first, ordered by instance id, then dynamic members ordered
  by member id; plain string (UTF-16 code unit ~ code point for our ids) comparison.
- `range` (RangeAssignor): per topic, the subscribed members in that order; each gets
  partitions // members consecutive partitions and the first partitions % members get one more.
- `roundrobin` (RoundRobinAssignor): all subscribed topic-partitions sorted by topic then
  partition, dealt out over the members in circular order, skipping members that do not
  subscribe to the partition's topic.
- `cooperative_sticky`: the balanced, sticky target assignment of the constrained
  AbstractStickyAssignor path (all members share one subscription in the lab) and the
  cooperative adjustment: a partition that changes owner is left out of this generation's
  assignment, its owner revokes it, and a follow-up rebalance hands it to its new owner.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["assign", "cooperative_sticky", "member_order"]

TP = tuple[str, int]


def member_order(members: list[str], static_ids: Mapping[str, str] | None = None) -> list[str]:
    """MemberInfo ordering: static members by group.instance.id, then dynamic by member id."""
    static_ids = static_ids or {}
    static = sorted((m for m in members if m in static_ids), key=lambda m: static_ids[m])
    dynamic = sorted(m for m in members if m not in static_ids)
    return static + dynamic


def _range(
    subscriptions: Mapping[str, list[str]],
    partitions: Mapping[str, int],
    static_ids: Mapping[str, str] | None,
) -> dict[str, list[TP]]:
    result: dict[str, list[TP]] = {m: [] for m in subscriptions}
    topics = sorted({t for ts in subscriptions.values() for t in ts if t in partitions})
    for topic in topics:
        consumers = member_order([m for m, ts in subscriptions.items() if topic in ts], static_ids)
        n, c = partitions[topic], len(consumers)
        per, extra = divmod(n, c)
        for i, member in enumerate(consumers):
            start = per * i + min(i, extra)
            length = per + (1 if i < extra else 0)
            result[member].extend((topic, p) for p in range(start, start + length))
    return result


def _roundrobin(
    subscriptions: Mapping[str, list[str]],
    partitions: Mapping[str, int],
    static_ids: Mapping[str, str] | None,
) -> dict[str, list[TP]]:
    result: dict[str, list[TP]] = {m: [] for m in subscriptions}
    members = member_order(list(subscriptions), static_ids)
    if not members:
        return result
    topics = sorted({t for ts in subscriptions.values() for t in ts if t in partitions})
    i = 0
    for topic in topics:
        for p in range(partitions[topic]):
            # CircularIterator.peek/next: skip members that do not subscribe to this topic.
            while topic not in subscriptions[members[i % len(members)]]:
                i += 1
            result[members[i % len(members)]].append((topic, p))
            i += 1
    return result


def assign(
    strategy: str,
    subscriptions: Mapping[str, list[str]],
    partitions: Mapping[str, int],
    static_ids: Mapping[str, str] | None = None,
) -> dict[str, list[TP]]:
    """Assign topic-partitions to members with Kafka's "range" or "roundrobin" assignor.

    subscriptions: member id -> subscribed topics; partitions: topic -> partition count;
    static_ids: member id -> group.instance.id. Every member appears in the result."""
    if strategy == "range":
        return _range(subscriptions, partitions, static_ids)
    if strategy == "roundrobin":
        return _roundrobin(subscriptions, partitions, static_ids)
    raise ValueError(f"unknown assignor {strategy!r}; use 'range' or 'roundrobin'")


def cooperative_sticky(
    members: list[str], all_partitions: list[TP], owned: Mapping[str, list[TP]]
) -> tuple[dict[str, list[TP]], dict[str, list[TP]]]:
    """(target, this_generation): the balanced sticky target and the cooperative assignment
    for this generation, which leaves out partitions still owned by another member."""
    members = sorted(members)
    target: dict[str, list[TP]] = {m: [] for m in members}
    if not members:
        return target, {}
    n, m = len(all_partitions), len(members)
    min_q, extra = divmod(n, m)
    max_q = min_q + (1 if extra else 0)
    valid = set(all_partitions)
    claimed: set[TP] = set()
    # Keep what each member owns, up to its quota: the most loaded owners keep max quota first.
    by_load = sorted(members, key=lambda x: (-len(owned.get(x, [])), x))
    at_max = extra
    for member in by_load:
        mine = sorted(tp for tp in owned.get(member, []) if tp in valid and tp not in claimed)
        quota = min_q
        if at_max and len(mine) >= max_q:
            quota, at_max = max_q, at_max - 1
        kept = mine[:quota]
        target[member] = kept
        claimed.update(kept)
    unassigned = [tp for tp in sorted(all_partitions) if tp not in claimed]
    # Fill members below the minimum quota first, then hand out the remaining extras.
    for tp in unassigned:
        below = [x for x in members if len(target[x]) < min_q]
        if below:
            pick = min(below, key=lambda x: (len(target[x]), x))
        else:
            pick = min(
                (x for x in members if len(target[x]) < max_q),
                key=lambda x: (len(target[x]), x),
            )
            at_max -= 1
        target[pick].append(tp)
    previous_owner = {tp: o for o, tps in owned.items() for tp in tps if o in target}
    generation = {
        x: [tp for tp in tps if previous_owner.get(tp, x) == x] for x, tps in target.items()
    }
    return target, generation
