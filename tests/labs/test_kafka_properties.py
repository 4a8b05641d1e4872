"""Property tests of the Kafka engine over random failure and membership schedules."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labs.engines import CommandError
from labs.engines.kafka import KafkaEngine
from labs.engines.kafka_groups import group_partitions, owners, tp_key

BROKER_ACTIONS = ["stop_broker", "isolate_broker", "start_broker", "slow", "fast"]


def durable_scenario(acks: str = "all") -> dict:
    return {
        "brokers": 3,
        "broker_session_timeout_ms": 2000,
        "replica_lag_time_max_ms": 4000,
        "topics": [
            {"name": "orders", "partitions": 3, "replication_factor": 3, "min_insync_replicas": 2}
        ],
        "producers": [
            {
                "id": "p1",
                "topic": "orders",
                "rate": 30,
                "keys": 10,
                "acks": acks,
                "request_timeout_ms": 2000,
                "delivery_timeout_ms": 10000,
            }
        ],
        "groups": [{"id": "g1", "topic": "orders", "consumers": 2}],
        "objectives": [],
    }


def check_hw(engine: KafkaEngine) -> None:
    for topic in engine.state["cluster"]["topics"].values():
        for part in topic["partitions"]:
            for b in part["isr"]:
                leo = part["logs"][str(b)]["leo"]
                assert part["hw"] <= leo, f"HW {part['hw']} passed broker {b}'s LEO {leo}"


broker_steps = st.lists(
    st.tuples(
        st.integers(min_value=200, max_value=6000),
        st.sampled_from(BROKER_ACTIONS),
        st.integers(min_value=0, max_value=2),
        st.integers(min_value=500, max_value=8000),
    ),
    min_size=1,
    max_size=8,
)


def apply_broker_step(
    engine: KafkaEngine, action: str, broker: int, delay: int, one_down: bool
) -> None:
    brokers = engine.state["cluster"]["brokers"]
    down = [b["id"] for b in brokers if b["status"] != "up"]
    if action == "slow":
        engine.apply({"type": "slow_follower", "broker": broker, "delay_ms": delay})
    elif action == "fast":
        engine.apply({"type": "slow_follower", "broker": broker, "delay_ms": 0})
    elif action == "start_broker":
        if down:
            engine.apply({"type": "start_broker", "broker": down[0]})
    elif not (one_down and down) and brokers[broker]["status"] == "up":
        engine.apply({"type": action, "broker": broker})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=broker_steps, seed=st.integers(0, 1000))
def test_no_acknowledged_record_lost_with_acks_all_min_isr_2_one_broker_down(steps, seed):
    engine = KafkaEngine.create(durable_scenario(), seed)
    t = 0
    for wait, action, broker, delay in steps:
        for _ in range(wait // 100):
            t += 100
            engine.advance(t)
            check_hw(engine)
        apply_broker_step(engine, action, broker, delay, one_down=True)
    engine.advance(t + 8000)
    check_hw(engine)
    assert engine.state["counters"]["lost_acked"] == 0
    assert engine.state["counters"]["unclean_elections"] == 0


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=broker_steps, seed=st.integers(0, 1000), unclean=st.booleans())
def test_high_watermark_never_passes_an_isr_members_log_end(steps, seed, unclean):
    scenario = durable_scenario(acks="1")
    scenario["topics"][0].update(min_insync_replicas=1, unclean_leader_election=unclean)
    scenario["producers"][0]["idempotent"] = False
    engine = KafkaEngine.create(scenario, seed)
    t = 0
    for wait, action, broker, delay in steps:
        for _ in range(wait // 100):
            t += 100
            engine.advance(t)
            check_hw(engine)
        apply_broker_step(engine, action, broker, delay, one_down=False)
    for _ in range(50):
        t += 100
        engine.advance(t)
        check_hw(engine)


GROUP_ACTIONS = [
    "add_consumer",
    "remove_consumer",
    "crash_consumer",
    "stall_consumer",
    "resume_consumer",
    "set_assignor",
    "wait",
]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(
        st.tuples(
            st.integers(100, 5000),
            st.sampled_from(GROUP_ACTIONS),
            st.sampled_from(["range", "roundrobin", "cooperative-sticky"]),
        ),
        min_size=1,
        max_size=12,
    ),
    assignor=st.sampled_from(["range", "roundrobin", "cooperative-sticky"]),
    commit=st.sampled_from(["auto", "manual"]),
    seed=st.integers(0, 1000),
)
def test_commits_never_go_back_and_each_rebalance_leaves_one_owner_per_partition(
    steps, assignor, commit, seed
):
    scenario = durable_scenario()
    scenario["topics"][0]["partitions"] = 5
    scenario["groups"] = [
        {
            "id": "g1",
            "topic": "orders",
            "consumers": 2,
            "assignor": assignor,
            "commit": commit,
            "session_timeout_ms": 3000,
            "max_poll_interval_ms": 4000,
            "auto_commit_interval_ms": 1000,
            "consumer_rate": 15,
        }
    ]
    engine = KafkaEngine.create(scenario, seed)
    group = engine.state["groups"]["g1"]
    committed: dict[str, int] = {}
    t = 0
    rebalances_checked = 0

    def step_to(target: int) -> None:
        nonlocal t, rebalances_checked
        while t < target:
            t += 100
            events = engine.advance(t)
            for key, off in group["committed"].items():
                assert off >= committed.get(key, 0), f"commit of {key} went back"
                committed[key] = off
            if any(e["type"] == "rebalance_done" for e in events):
                rebalances_checked += 1
                own = owners(group)
                live = [m for m in group["members"].values() if m["status"] == "active"]
                for tp in group_partitions(engine.state, group):
                    expected = 1 if live else 0
                    assert len(own.get(tp_key(*tp), [])) == expected, (tp, own)

    for wait, action, new_assignor in steps:
        step_to(t + wait)
        if action == "wait":
            continue
        command = {"type": action, "group": "g1"}
        if action == "set_assignor":
            command = {"type": action, "group": "g1", "assignor": new_assignor}
        elif action != "add_consumer":
            command["consumer"] = ""
        with contextlib.suppress(CommandError):  # e.g. nobody to resume: refused, no change
            engine.apply(command)
    step_to(t + 12_000)
    assert rebalances_checked >= 1
