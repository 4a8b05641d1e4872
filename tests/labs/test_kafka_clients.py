"""Kafka's partitioner and assignors against the vectors and cases of Kafka's own unit tests."""

from __future__ import annotations

import pytest

from labs.engines import SeededRandom
from labs.engines.kafka import (
    assign,
    cooperative_sticky,
    murmur2,
    partition_for_key,
    place_replicas,
    to_positive,
)
from labs.engines.kafka_partitioner import sticky_partition

# UtilsTest.testMurmur2 (apache/kafka clients/src/test/java/.../common/utils/UtilsTest.java).
MURMUR2_CASES = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize(("data", "expected"), MURMUR2_CASES.items())
def test_murmur2_matches_kafka_utils_test(data, expected):
    assert murmur2(data) == expected


def test_murmur2_is_a_signed_32_bit_int_for_every_tail_length():
    for n in range(12):
        h = murmur2(bytes(range(n)))
        assert -(2**31) <= h < 2**31


def test_partition_for_key_is_to_positive_mod_n():
    assert to_positive(-1) == 0x7FFFFFFF
    assert to_positive(-(2**31)) == 0
    assert partition_for_key(b"foobar", 16) == (-790332482 & 0x7FFFFFFF) % 16
    for key in MURMUR2_CASES:
        for n in (1, 3, 7, 32):
            assert partition_for_key(key, n) == (MURMUR2_CASES[key] & 0x7FFFFFFF) % n


def test_sticky_partitioner_sticks_for_a_batch_then_moves_on():
    sticky: dict = {"partition": None, "count": 0}
    rng = SeededRandom(1)
    first = [sticky_partition(sticky, [0, 1, 2, 3], 4, rng, 5) for _ in range(5)]
    assert len(set(first)) == 1
    nxt = sticky_partition(sticky, [0, 1, 2, 3], 4, rng, 5)
    assert nxt != first[0]
    # A partition whose leader is gone is left at once.
    assert sticky_partition(sticky, [p for p in range(4) if p != nxt], 4, rng, 5) != nxt


# RangeAssignorTest and RoundRobinAssignorTest (apache/kafka clients/.../consumer/).
T1, T2 = "topic1", "topic2"


def tps(*pairs):
    return [tuple(p) for p in pairs]


@pytest.mark.parametrize("strategy", ["range", "roundrobin"])
def test_common_cases(strategy):
    assert assign(strategy, {"consumer1": []}, {}) == {"consumer1": []}
    assert assign(strategy, {"consumer1": [T1]}, {}) == {"consumer1": []}
    assert assign(strategy, {"consumer1": [T1]}, {T1: 3}) == {
        "consumer1": tps((T1, 0), (T1, 1), (T1, 2))
    }
    assert assign(strategy, {"consumer1": [T1]}, {T1: 3, "other": 3}) == {
        "consumer1": tps((T1, 0), (T1, 1), (T1, 2))
    }
    got = assign(strategy, {"consumer1": [T1, T2]}, {T1: 1, T2: 2})
    assert sorted(got["consumer1"]) == tps((T1, 0), (T2, 0), (T2, 1))
    got = assign(strategy, {"consumer1": [T1], "consumer2": [T1]}, {T1: 1})
    assert got == {"consumer1": [(T1, 0)], "consumer2": []}
    got = assign(strategy, {"consumer1": [T1], "consumer2": [T1]}, {T1: 2})
    assert got == {"consumer1": [(T1, 0)], "consumer2": [(T1, 1)]}
    subs = {"consumer1": [T1], "consumer2": [T1, T2], "consumer3": [T1]}
    got = assign(strategy, subs, {T1: 3, T2: 2})
    assert sorted(got["consumer1"]) == [(T1, 0)]
    assert sorted(got["consumer2"]) == tps((T1, 1), (T2, 0), (T2, 1))
    assert sorted(got["consumer3"]) == [(T1, 2)]


def test_range_two_consumers_two_topics_six_partitions():
    subs = {"consumer1": [T1, T2], "consumer2": [T1, T2]}
    got = assign("range", subs, {T1: 3, T2: 3})
    assert sorted(got["consumer1"]) == tps((T1, 0), (T1, 1), (T2, 0), (T2, 1))
    assert sorted(got["consumer2"]) == tps((T1, 2), (T2, 2))


@pytest.mark.parametrize(
    "static", [{"consumer-b": "instance1", "consumer-a": "instance2"}, {"consumer-b": "instance1"}]
)
def test_range_static_members_rank_by_instance_id(static):
    subs = {"consumer-b": [T1, T2], "consumer-a": [T1, T2]}
    got = assign("range", subs, {T1: 3, T2: 3}, static)
    assert sorted(got["consumer-b"]) == tps((T1, 0), (T1, 1), (T2, 0), (T2, 1))
    assert sorted(got["consumer-a"]) == tps((T1, 2), (T2, 2))


def test_range_static_assignment_persistent():
    static = {"consumer1": "instance1", "consumer2": "instance2", "consumer3": "instance3"}
    subs = {m: [T1, T2] for m in [*static, "consumer4"]}
    expected = {
        "consumer1": tps((T1, 0), (T1, 1), (T2, 0)),
        "consumer2": tps((T1, 2), (T2, 1)),
        "consumer3": tps((T1, 3), (T2, 2)),
        "consumer4": tps((T1, 4), (T2, 3)),
    }
    assert assign("range", subs, {T1: 5, T2: 4}, static) == expected
    subs.pop("consumer4")
    subs["consumer5"] = [T1, T2]
    expected["consumer5"] = expected.pop("consumer4")
    assert assign("range", subs, {T1: 5, T2: 4}, static) == expected


def test_range_static_assignment_survives_member_id_changes():
    def by_instance(static):
        got = assign("range", {m: [T1, T2] for m in static}, {T1: 5, T2: 5}, static)
        return {static[m]: sorted(v) for m, v in got.items()}

    first = by_instance(
        {"consumer1": "instance1", "consumer2": "instance2", "consumer3": "instance3"}
    )
    assert first == {
        "instance1": tps((T1, 0), (T1, 1), (T2, 0), (T2, 1)),
        "instance2": tps((T1, 2), (T1, 3), (T2, 2), (T2, 3)),
        "instance3": tps((T1, 4), (T2, 4)),
    }
    swapped = by_instance(
        {"consumer1": "instance1", "consumer5": "instance2", "consumer4": "instance3"}
    )
    assert swapped == first


def test_range_uniform_three_topics_non_rack_aware():
    subs = {"c1": ["t1", "t2", "t3"], "c2": ["t1", "t2", "t3"], "c3": ["t1", "t3"]}
    got = assign("range", subs, {"t1": 6, "t2": 7, "t3": 2})
    assert sorted(got["c1"]) == tps(
        ("t1", 0), ("t1", 1), ("t2", 0), ("t2", 1), ("t2", 2), ("t2", 3), ("t3", 0)
    )
    assert sorted(got["c2"]) == tps(
        ("t1", 2), ("t1", 3), ("t2", 4), ("t2", 5), ("t2", 6), ("t3", 1)
    )
    assert sorted(got["c3"]) == tps(("t1", 4), ("t1", 5))


def test_roundrobin_two_consumers_two_topics_six_partitions():
    subs = {"consumer1": [T1, T2], "consumer2": [T1, T2]}
    got = assign("roundrobin", subs, {T1: 3, T2: 3})
    assert got["consumer1"] == tps((T1, 0), (T1, 2), (T2, 1))
    assert got["consumer2"] == tps((T1, 1), (T2, 0), (T2, 2))


@pytest.mark.parametrize(
    "static", [{"consumer-b": "instance1", "consumer-a": "instance2"}, {"consumer-b": "instance1"}]
)
def test_roundrobin_static_members_first(static):
    subs = {"consumer-b": [T1, T2], "consumer-a": [T1, T2]}
    got = assign("roundrobin", subs, {T1: 3, T2: 3}, static)
    assert got["consumer-b"] == tps((T1, 0), (T1, 2), (T2, 1))
    assert got["consumer-a"] == tps((T1, 1), (T2, 0), (T2, 2))


def test_roundrobin_static_assignment_persistent():
    static = {"consumer1": "instance1", "consumer2": "instance2", "consumer3": "instance3"}
    subs = {m: [T1, T2] for m in [*static, "consumer4"]}
    expected = {
        "consumer1": tps((T1, 0), (T2, 1)),
        "consumer2": tps((T1, 1), (T2, 2)),
        "consumer3": [(T1, 2)],
        "consumer4": [(T2, 0)],
    }
    assert assign("roundrobin", subs, {T1: 3, T2: 3}, static) == expected
    subs.pop("consumer4")
    subs["consumer5"] = [T1, T2]
    expected["consumer5"] = expected.pop("consumer4")
    assert assign("roundrobin", subs, {T1: 3, T2: 3}, static) == expected


def test_roundrobin_static_assignment_survives_member_id_changes():
    def by_instance(order, static):
        got = assign("roundrobin", {m: [T1, T2] for m in static}, {T1: 3, T2: 3}, static)
        assert {static[m]: got[m] for m in order} == {
            static[m]: [(T1, i), (T2, i)] for i, m in enumerate(order)
        }
        return {static[m]: got[m] for m in static}

    a = by_instance(
        ["consumer1", "consumer2", "consumer3"],
        {"consumer1": "instance1", "consumer2": "instance2", "consumer3": "instance3"},
    )
    b = by_instance(
        ["consumer4", "consumer5", "consumer1"],
        {"consumer4": "instance1", "consumer5": "instance2", "consumer1": "instance3"},
    )
    assert a == b


def test_unknown_strategy_is_refused():
    with pytest.raises(ValueError):
        assign("sticky", {"c1": [T1]}, {T1: 1})


def test_cooperative_sticky_only_moves_what_it_must():
    all_tps = [(T1, p) for p in range(6)]
    owned = {"c1": all_tps[:2], "c2": all_tps[2:4], "c3": all_tps[4:]}
    target, generation = cooperative_sticky(["c1", "c2", "c3", "c4"], all_tps, owned)
    moved = [tp for m, tps_ in target.items() for tp in tps_ if tp not in owned.get(m, [])]
    # Quotas 2, 2, 1, 1: exactly one partition has to move, to the newcomer.
    assert len(moved) == 1 and sorted(len(v) for v in target.values()) == [1, 1, 2, 2]
    assert target["c4"] == moved
    assert generation["c4"] == []  # the moving partition waits for the second rebalance
    assert sum(len(v) for v in generation.values()) == 5
    # The follow-up rebalance (owners revoked) hands them over.
    owned2 = {m: v for m, v in generation.items()}
    target2, generation2 = cooperative_sticky(["c1", "c2", "c3", "c4"], all_tps, owned2)
    assert generation2 == target2 == target


def test_replica_placement_is_kafkas_rack_unaware_layout():
    class Fixed:
        def __init__(self, values):
            self.values = list(values)

        def randrange(self, n):
            return self.values.pop(0) % n

    # AdminUtils with fixedStartIndex=0 and shift 0 over 5 brokers, 10 partitions, rf 3.
    got = place_replicas([0, 1, 2, 3, 4], 10, 3, Fixed([0, 0]))
    assert got[:5] == [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 0], [4, 0, 1]]
    assert got[5:] == [[0, 2, 3], [1, 3, 4], [2, 4, 0], [3, 0, 1], [4, 1, 2]]
    for replicas in place_replicas(list(range(4)), 32, 3, SeededRandom(5)):
        assert len(set(replicas)) == 3
