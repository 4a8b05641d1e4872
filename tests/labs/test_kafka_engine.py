"""The Kafka lab engine: contract, commands, replication, durability, groups, retention."""

from __future__ import annotations

import json
import time

import pytest

from labs.engines import CommandError, ScenarioError, get_engine
from labs.engines import kafka_log as klog
from labs.engines.kafka import KafkaEngine
from tests.labs.engine_contract import assert_contract, run


def scenario(**overrides) -> dict:
    base = {
        "brokers": 3,
        "broker_session_timeout_ms": 3000,
        "replica_lag_time_max_ms": 30000,
        "topics": [
            {"name": "orders", "partitions": 3, "replication_factor": 3, "min_insync_replicas": 2}
        ],
        "producers": [{"id": "p1", "topic": "orders", "rate": 20, "keys": 8, "acks": "all"}],
        "groups": [{"id": "g1", "topic": "orders", "consumers": 2}],
        "objectives": [],
    }
    base.update(overrides)
    return base


def topic_of(engine: KafkaEngine, name: str = "orders") -> dict:
    return engine.state["cluster"]["topics"][name]


def test_registered_under_its_slug():
    assert get_engine("kafka") is KafkaEngine


def test_contract_default_scenario_with_every_kind_of_command():
    commands = [
        (2_000, {"type": "slow_follower", "broker": 1, "delay_ms": 4000}),
        (3_000, {"type": "add_consumer", "group": "g1"}),
        (4_500, {"type": "produce_record", "producer": "p1", "key": "k1", "value": "x"}),
        (5_000, {"type": "stop_broker", "broker": 0}),
        (6_000, {"type": "set_keys", "producer": "p1", "keys": 0}),
        (7_000, {"type": "set_assignor", "group": "g1", "assignor": "cooperative-sticky"}),
        (8_000, {"type": "crash_consumer", "group": "g1", "consumer": ""}),
        (12_000, {"type": "start_broker", "broker": 0}),
        (13_000, {"type": "isolate_broker", "broker": 2}),
        (14_000, {"type": "add_partitions", "topic": "orders", "count": 8}),
        (16_000, {"type": "stall_consumer", "group": "g1", "consumer": ""}),
        (18_000, {"type": "set_acks", "producer": "p1", "acks": "1", "idempotent": False}),
    ]
    events = assert_contract(KafkaEngine, None, 11, 24_000, commands)
    kinds = {e["type"] for e in events}
    assert {"stats", "leader_elected", "rebalance_done", "broker_fenced"} <= kinds


def test_duration_is_accepted_and_left_to_the_platform():
    engine = KafkaEngine.create(scenario(duration_s=120), 1)
    assert engine.advance(1000) and not engine.finished


def test_same_seed_same_placement_other_seed_other_placement():
    def layout(seed):
        return [p["replicas"] for p in topic_of(KafkaEngine.create(None, seed))["partitions"]]

    assert layout(1) == layout(1)
    assert any(layout(1) != layout(s) for s in range(2, 6))


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"colour": 1}, "colour"),
        ({"brokers": 10}, "brokers"),
        ({"brokers": "3"}, "brokers"),
        ({"topics": [{"name": "a", "partitions": 33}]}, "topics[0].partitions"),
        ({"topics": [{"name": "a", "replication_factor": 4}]}, "topics[0].replication_factor"),
        ({"topics": [{"name": "a", "size": 4}]}, "topics[0].size"),
        ({"producers": [{"id": "p", "topic": "nope"}]}, "producers[0].topic"),
        ({"producers": [{"id": "p", "topic": "orders", "acks": "1"}]}, "producers[0].idempotent"),
        ({"groups": [{"id": "g", "topic": "orders", "assignor": "sticky"}]}, "groups[0].assignor"),
        ({"objectives": ["win"]}, "objectives"),
        ({"duration_s": 0}, "duration_s"),
    ],
)
def test_invalid_scenarios_name_the_offending_key(change, path):
    with pytest.raises(ScenarioError) as err:
        KafkaEngine.create(scenario(**change))
    assert err.value.path == path


@pytest.mark.parametrize(
    "command",
    [
        {"type": "fly"},
        {"type": "stop_broker", "broker": 7},
        {"type": "stop_broker", "broker": "0"},
        {"type": "start_broker", "broker": 0},  # already up
        {"type": "set_acks", "producer": "p1", "acks": "1", "idempotent": True},
        {"type": "set_min_insync", "topic": "orders", "value": 4},
        {"type": "add_partitions", "topic": "orders", "count": 2},
        {"type": "set_rate", "producer": "nobody", "rate": 3},
        {"type": "set_rate", "producer": "p1", "rate": 501},
        {"type": "set_rate", "producer": "p1", "rate": 3, "burst": 1},
        {"type": "resume_consumer", "group": "g1", "consumer": "c1"},
        {"type": "produce_record", "producer": "p1", "key": "", "value": "", "tombstone": True},
    ],
)
def test_invalid_commands_are_refused_and_change_nothing(command):
    engine = KafkaEngine.create(scenario(), 1)
    engine.advance(3000)
    before = engine.dump()
    with pytest.raises(CommandError):
        engine.apply(command)
    assert engine.dump() == before


def test_command_schema_shape():
    kinds = {"number", "select", "bool", "text"}
    for c in KafkaEngine.command_schema():
        assert {"type", "label", "fields"} <= set(c)
        for f in c["fields"]:
            assert f["kind"] in kinds and "default" in f
    json.dumps(KafkaEngine.command_schema())


def _check_invariants(engine: KafkaEngine) -> None:
    for topic in engine.state["cluster"]["topics"].values():
        for part in topic["partitions"]:
            for b in part["isr"]:
                assert part["hw"] <= part["logs"][str(b)]["leo"], (part["p"], b, part["isr"])


def test_acks_1_loses_acknowledged_records_when_the_leader_dies():
    engine = KafkaEngine.create(
        scenario(
            topics=[
                {
                    "name": "orders",
                    "partitions": 1,
                    "replication_factor": 3,
                    "min_insync_replicas": 1,
                }
            ],
            producers=[
                {"id": "p1", "topic": "orders", "rate": 20, "acks": "1", "idempotent": False}
            ],
        ),
        2,
    )
    part = topic_of(engine)["partitions"][0]
    leader = part["leader"]
    followers = [b for b in part["replicas"] if b != leader]
    cmds = [(1000, {"type": "slow_follower", "broker": b, "delay_ms": 5000}) for b in followers]
    cmds.append((10_000, {"type": "stop_broker", "broker": leader}))
    events = run(engine, 20_000, 500, cmds)
    elected = [e for e in events if e["type"] == "leader_elected"]
    assert elected and elected[0]["how"] == "clean" and elected[0]["lost"] > 0
    assert engine.summary()["lost_acked"] == elected[0]["lost"]
    _check_invariants(engine)


def test_acks_all_with_min_isr_2_loses_nothing_in_the_same_failure():
    engine = KafkaEngine.create(
        scenario(
            topics=[
                {
                    "name": "orders",
                    "partitions": 1,
                    "replication_factor": 3,
                    "min_insync_replicas": 2,
                }
            ]
        ),
        2,
    )
    part = topic_of(engine)["partitions"][0]
    leader = part["leader"]
    followers = [b for b in part["replicas"] if b != leader]
    cmds = [(1000, {"type": "slow_follower", "broker": b, "delay_ms": 5000}) for b in followers]
    cmds.append((10_000, {"type": "stop_broker", "broker": leader}))
    events = run(engine, 40_000, 500, cmds)
    assert any(e["type"] == "leader_elected" for e in events)
    assert engine.summary()["lost_acked"] == 0
    assert engine.summary()["acked"] > 100


def test_unclean_election_can_lose_acknowledged_records():
    engine = KafkaEngine.create(
        scenario(
            replica_lag_time_max_ms=3000,
            topics=[
                {
                    "name": "orders",
                    "partitions": 1,
                    "replication_factor": 2,
                    "min_insync_replicas": 1,
                    "unclean_leader_election": True,
                }
            ],
            producers=[{"id": "p1", "topic": "orders", "rate": 20, "acks": "all"}],
        ),
        4,
    )
    part = topic_of(engine)["partitions"][0]
    leader, follower = part["leader"], [b for b in part["replicas"] if b != part["leader"]][0]
    cmds = [
        (1000, {"type": "stop_broker", "broker": follower}),
        (10_000, {"type": "stop_broker", "broker": leader}),
        (11_000, {"type": "start_broker", "broker": follower}),
    ]
    events = run(engine, 20_000, 1000, cmds)
    assert any(e["type"] == "isr_shrink" for e in events)
    unclean = [e for e in events if e["type"] == "leader_elected" and e["how"] == "unclean"]
    assert unclean and unclean[0]["lost"] > 0


def test_without_unclean_election_the_partition_stays_offline():
    engine = KafkaEngine.create(
        scenario(
            replica_lag_time_max_ms=3000,
            topics=[
                {
                    "name": "orders",
                    "partitions": 1,
                    "replication_factor": 2,
                    "min_insync_replicas": 1,
                }
            ],
        ),
        4,
    )
    part = topic_of(engine)["partitions"][0]
    leader, follower = part["leader"], [b for b in part["replicas"] if b != part["leader"]][0]
    cmds = [
        (1000, {"type": "stop_broker", "broker": follower}),
        (10_000, {"type": "stop_broker", "broker": leader}),
        (11_000, {"type": "start_broker", "broker": follower}),
    ]
    events = run(engine, 20_000, 1000, cmds)
    assert part is not None
    part = topic_of(engine)["partitions"][0]
    assert part["leader"] == -1 and any(e["type"] == "partition_offline" for e in events)
    assert engine.summary()["lost_acked"] == 0
    engine.apply({"type": "start_broker", "broker": leader})
    engine.advance(21_000)
    assert topic_of(engine)["partitions"][0]["leader"] == leader


def test_isr_shrinks_after_lag_time_blocks_acks_all_then_grows_back():
    engine = KafkaEngine.create(
        scenario(
            replica_lag_time_max_ms=5000,
            topics=[
                {
                    "name": "orders",
                    "partitions": 1,
                    "replication_factor": 3,
                    "min_insync_replicas": 2,
                }
            ],
            producers=[
                {
                    "id": "p1",
                    "topic": "orders",
                    "rate": 10,
                    "acks": "all",
                    "retries": 1,
                    "request_timeout_ms": 2000,
                    "delivery_timeout_ms": 6000,
                }
            ],
        ),
        1,
    )
    part = topic_of(engine)["partitions"][0]
    followers = [b for b in part["replicas"] if b != part["leader"]]
    cmds = [(1000, {"type": "slow_follower", "broker": b, "delay_ms": 10_000}) for b in followers]
    events = run(engine, 14_000, 1000, cmds)
    shrinks = [e for e in events if e["type"] == "isr_shrink"]
    assert len(shrinks) == 2 and min(e["t"] for e in shrinks) >= 6000
    assert topic_of(engine)["partitions"][0]["isr"] == [part["leader"]]
    assert engine.state["producers"]["p1"]["results"]["not_enough_replicas"] > 0
    # Writes stopped, so the followers catch up and rejoin; without the delay they stay in.
    cmds = [(14_000, {"type": "slow_follower", "broker": b, "delay_ms": 0}) for b in followers]
    events = run(engine, 30_000, 1000, cmds)
    assert sum(e["type"] == "isr_expand" for e in events) == 2
    _check_invariants(engine)


@pytest.mark.parametrize("idempotent", [False, True])
def test_retries_duplicate_records_only_without_idempotence(idempotent):
    engine = KafkaEngine.create(
        scenario(
            topics=[
                {
                    "name": "orders",
                    "partitions": 1,
                    "replication_factor": 3,
                    "min_insync_replicas": 2,
                }
            ],
            producers=[
                {
                    "id": "p1",
                    "topic": "orders",
                    "rate": 10,
                    "acks": "all",
                    "idempotent": idempotent,
                    "request_timeout_ms": 1000,
                }
            ],
        ),
        1,
    )
    part = topic_of(engine)["partitions"][0]
    followers = [b for b in part["replicas"] if b != part["leader"]]
    # Followers stay in the ISR (30 s lag allowed) but replicate 2 s late: acks time out.
    cmds = [(1000, {"type": "slow_follower", "broker": b, "delay_ms": 2000}) for b in followers]
    run(engine, 15_000, 1000, cmds)
    log = part["logs"][str(part["leader"])]
    rids = [r[klog.RID] for r in klog.read(log, 0, log["leo"], 10_000)]
    prod = engine.state["producers"]["p1"]
    assert prod["retries_done"] > 0
    if idempotent:
        assert prod["duplicates"] == 0 and len(rids) == len(set(rids))
    else:
        assert prod["duplicates"] > 0 and len(rids) - len(set(rids)) == prod["duplicates"]


def test_consumers_read_only_up_to_the_high_watermark():
    engine = KafkaEngine.create(
        scenario(
            topics=[
                {
                    "name": "orders",
                    "partitions": 1,
                    "replication_factor": 3,
                    "min_insync_replicas": 1,
                }
            ],
            producers=[
                {"id": "p1", "topic": "orders", "rate": 20, "acks": "1", "idempotent": False}
            ],
            groups=[{"id": "g1", "topic": "orders", "consumers": 1, "consumer_rate": 500}],
        ),
        1,
    )
    part = topic_of(engine)["partitions"][0]
    for b in part["replicas"]:
        if b != part["leader"]:
            engine.apply({"type": "slow_follower", "broker": b, "delay_ms": 3000})
    engine.advance(10_000)
    log = part["logs"][str(part["leader"])]
    group = engine.state["groups"]["g1"]
    assert log["leo"] - part["hw"] >= 40  # three seconds of records not yet replicated
    assert group["consumed"] <= part["hw"]
    assert max(m["positions"].get("orders/0", 0) for m in group["members"].values()) <= part["hw"]


def test_a_consumer_that_dies_before_committing_causes_redelivery():
    engine = KafkaEngine.create(
        scenario(
            groups=[
                {
                    "id": "g1",
                    "topic": "orders",
                    "consumers": 2,
                    "consumer_rate": 100,
                    "auto_commit_interval_ms": 5000,
                    "session_timeout_ms": 6000,
                }
            ]
        ),
        1,
    )
    events = run(
        engine,
        30_000,
        1000,
        [(13_000, {"type": "crash_consumer", "group": "g1", "consumer": "c1"})],
    )
    removed = [e for e in events if e["type"] == "member_removed"]
    assert removed and removed[0]["reason"] == "session_timeout" and removed[0]["t"] >= 19_000
    assert engine.state["groups"]["g1"]["duplicates"] > 0
    assert engine.summary()["redelivered"] == engine.state["groups"]["g1"]["duplicates"]


def test_a_stalled_consumer_is_evicted_after_max_poll_interval_and_its_commit_fails():
    engine = KafkaEngine.create(
        scenario(
            groups=[{"id": "g1", "topic": "orders", "consumers": 2, "max_poll_interval_ms": 5000}]
        ),
        1,
    )
    events = run(
        engine, 20_000, 1000, [(5_000, {"type": "stall_consumer", "group": "g1", "consumer": "c2"})]
    )
    removed = [e for e in events if e["type"] == "member_removed"]
    assert removed == [
        {
            "t": 10_000,
            "type": "member_removed",
            "group": "g1",
            "member": "c2",
            "reason": "max_poll_interval",
        }
    ]
    group = engine.state["groups"]["g1"]
    assert [p for _, p in group["members"]["c1"]["assigned"]] == [0, 1, 2]
    engine.apply({"type": "resume_consumer", "group": "g1", "consumer": "c2"})
    engine.advance(25_000)
    assert group["failed_commits"] == 1 and group["members"]["c2"]["status"] == "active"


def test_more_consumers_than_partitions_leaves_one_idle():
    engine = KafkaEngine.create(
        scenario(groups=[{"id": "g1", "topic": "orders", "consumers": 4}]), 1
    )
    engine.advance(3000)
    assigned = [m["assigned"] for m in engine.state["groups"]["g1"]["members"].values()]
    assert sorted(len(a) for a in assigned) == [0, 1, 1, 1]


def test_eager_rebalance_stops_everything_cooperative_only_what_moves():
    def stopped(assignor):
        engine = KafkaEngine.create(
            scenario(
                topics=[{"name": "orders", "partitions": 6, "replication_factor": 3}],
                groups=[{"id": "g1", "topic": "orders", "consumers": 3, "assignor": assignor}],
            ),
            1,
        )
        run(engine, 10_000, 1000, [(5_000, {"type": "add_consumer", "group": "g1"})])
        return engine.state["groups"]["g1"]["rebalances"][-1]

    eager, coop = stopped("range"), stopped("cooperative-sticky")
    assert eager["stopped"] == 6 and eager["generations"] == 1
    # Quotas 2, 2, 1, 1: one partition moves to the newcomer, the other five keep flowing.
    assert coop["stopped"] == 1 and coop["generations"] == 2


def test_time_retention_deletes_whole_segments_and_moves_log_start():
    engine = KafkaEngine.create(
        scenario(
            log_check_interval_ms=1000,
            topics=[
                {
                    "name": "orders",
                    "partitions": 1,
                    "replication_factor": 2,
                    "retention_ms": 5000,
                    "segment_bytes": 1000,
                }
            ],
            producers=[
                {
                    "id": "p1",
                    "topic": "orders",
                    "rate": 10,
                    "keys": 0,
                    "acks": "1",
                    "idempotent": False,
                }
            ],
        ),
        1,
    )
    run(engine, 30_000, 1000)
    part = topic_of(engine)["partitions"][0]
    log = part["logs"][str(part["leader"])]
    assert log["lso"] > 0 and log["lso"] % 10 == 0  # whole 10-record segments went
    assert all(s["max_ts"] >= 30_000 - 5000 - 1000 for s in log["segs"][:-1])
    for b in part["replicas"]:
        assert part["logs"][str(b)]["lso"] == log["lso"]


def test_size_retention_keeps_the_log_under_retention_bytes():
    engine = KafkaEngine.create(
        scenario(
            log_check_interval_ms=1000,
            topics=[
                {
                    "name": "orders",
                    "partitions": 1,
                    "replication_factor": 1,
                    "min_insync_replicas": 1,
                    "retention_bytes": 3000,
                    "segment_bytes": 1000,
                }
            ],
            producers=[
                {"id": "p1", "topic": "orders", "rate": 10, "acks": "1", "idempotent": False}
            ],
        ),
        1,
    )
    run(engine, 20_000, 1000)
    log = topic_of(engine)["partitions"][0]["logs"]["0"]
    assert log["lso"] > 0 and klog.size_bytes(log) <= 3000 + 1000 + 100 * 10


def test_compaction_keeps_the_latest_value_per_key_and_drops_old_tombstones():
    engine = KafkaEngine.create(
        scenario(
            log_check_interval_ms=1000,
            topics=[
                {
                    "name": "orders",
                    "partitions": 1,
                    "replication_factor": 1,
                    "min_insync_replicas": 1,
                    "cleanup_policy": "compact",
                    "segment_bytes": 500,
                    "delete_retention_ms": 3000,
                }
            ],
            producers=[{"id": "p1", "topic": "orders", "rate": 10, "keys": 3}],
        ),
        1,
    )
    engine.advance(10_000)
    engine.apply(
        {"type": "produce_record", "producer": "p1", "key": "k2", "value": "", "tombstone": True}
    )
    engine.apply({"type": "set_keys", "producer": "p1", "keys": 2})  # only k0, k1 from now
    engine.advance(25_000)
    log = topic_of(engine)["partitions"][0]["logs"]["0"]
    recs = klog.read(log, 0, log["leo"], 10_000)
    active = log["segs"][-1]["base"]
    closed = [r for r in recs if r[klog.OFF] < active]
    keys = [r[klog.KEY] for r in closed]
    assert len(keys) == len(set(keys)), "one record per key below the active segment"
    assert "k2" not in keys and engine.state["counters"]["tombstones_removed"] == 1
    offsets = [r[klog.OFF] for r in recs]
    assert offsets == sorted(offsets) and offsets[-1] == log["leo"] - 1


def test_snapshot_stays_bounded_at_the_largest_cluster():
    topics = [{"name": f"t{i}", "partitions": 32, "replication_factor": 3} for i in range(4)]
    producers = [{"id": f"p{i}", "topic": f"t{i}", "rate": 500, "keys": 50} for i in range(4)]
    engine = KafkaEngine.create(
        scenario(
            brokers=9,
            topics=topics,
            producers=producers,
            groups=[{"id": "g1", "topic": "t0", "consumers": 12}],
        ),
        1,
    )
    engine.advance(5000)
    size = len(json.dumps(engine.snapshot()))
    assert size < 50_000, size


def test_one_simulated_second_costs_a_few_ms_of_cpu():
    engine = KafkaEngine.create(None, 1)
    start = time.process_time()
    engine.advance(60_000)
    per_second_ms = (time.process_time() - start) / 60 * 1000
    assert per_second_ms < 10, per_second_ms


def test_every_command_in_the_schema_can_be_applied():
    engine = KafkaEngine.create(None, 1)
    engine.advance(2000)
    examples = {
        "stop_broker": {"broker": 2},
        "start_broker": {"broker": 2},
        "isolate_broker": {"broker": 1},
        "slow_follower": {"broker": 0, "delay_ms": 3000},
        "set_rate": {"producer": "p1", "rate": 30},
        "set_acks": {"producer": "p1", "acks": "1", "idempotent": False},
        "set_keys": {"producer": "p1", "keys": 0},
        "produce_record": {"producer": "p1", "key": "k1", "value": "", "tombstone": True},
        "set_min_insync": {"topic": "orders", "value": 3},
        "set_unclean": {"topic": "orders", "enabled": True},
        "add_partitions": {"topic": "orders", "count": 8},
        "set_retention": {"topic": "orders", "retention_ms": 60_000, "retention_bytes": -1},
        "add_consumer": {"group": "g1"},
        "remove_consumer": {"group": "g1", "consumer": ""},
        "crash_consumer": {"group": "g1", "consumer": ""},
        "stall_consumer": {"group": "g1", "consumer": "c1"},
        "resume_consumer": {"group": "g1", "consumer": "c1"},
        "set_assignor": {"group": "g1", "assignor": "roundrobin"},
        "set_commit": {"group": "g1", "mode": "manual"},
        "set_consumer_rate": {"group": "g1", "rate": 5},
    }
    assert set(examples) == {c["type"] for c in KafkaEngine.command_schema()}
    for ctype in [c["type"] for c in KafkaEngine.command_schema()]:
        ack = engine.apply({"type": ctype, **examples[ctype]})
        assert ack["type"] == "command_applied" and ack["command"]["type"] == ctype
        assert json.loads(json.dumps(ack)) == ack
        engine.advance(engine.now_ms + 500)
    assert len(topic_of(engine)["partitions"]) == 8
    engine.advance(engine.now_ms + 20_000)
    assert json.loads(json.dumps(engine.snapshot())) == engine.snapshot()
