"""The slice pump (labs/pump.py), driven in-process on a queue no worker listens to, so every
pump message it hands over stays in Redis where the test can look at it."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from config.metrics import TICK_LAG_KEY
from labs import driver, pump, services

pytestmark = pytest.mark.django_db
LAB, SCENARIO = "circuit-breaker", "outage-and-recovery"


@pytest.fixture
def queue(redis_client) -> str:
    return f"pump-test-{uuid.uuid4().hex[:6]}"


def start_runs(make_user, n: int, queue: str):
    runs = []
    for i in range(n):
        run = services.start_run(make_user(f"pumped{i}"), LAB, SCENARIO, seed=i, enqueue=False)
        pump.schedule(run.pk, 0, queue=queue)
        runs.append(run)
    return runs


def pump_messages(redis_client, queue: str) -> list[dict]:
    return [json.loads(raw) for raw in redis_client.lrange(queue, 0, -1)]


def test_a_lane_advances_every_due_run_once_and_hands_over(make_user, redis_client, queue):
    runs = start_runs(make_user, 5, queue)
    started = pump_messages(redis_client, queue)
    assert [m["headers"]["task"] for m in started] == ["labs.pump"] * pump.lanes()
    token = redis_client.get(pump.lane_key(queue, 0))

    before = time.time()
    outcomes = pump.run_lane(queue, 0, token)

    assert outcomes == {"advanced": 5}
    for run in runs:
        assert driver.read_checkpoint(run.pk)["seq"] == 1
    due = dict(redis_client.zrange(pump.due_key(queue), 0, -1, withscores=True))
    assert sorted(due) == sorted(f"{run.pk}:1" for run in runs)
    # the next slice is due a second after this one was (the run's own clock)
    assert all(before < at <= time.time() + 1.0 for at in due.values())
    first = {m["headers"]["id"] for m in started}
    handed_over = [m for m in pump_messages(redis_client, queue) if m["headers"]["id"] not in first]
    assert len(handed_over) == 1
    assert handed_over[0]["headers"]["argsrepr"] == repr((queue, 0, token))
    assert handed_over[0]["headers"]["eta"], "the next pump waits for the next due slice"
    assert redis_client.hget(TICK_LAG_KEY, pump.lane_key(queue, 0)) is not None
    assert redis_client.exists(pump.alive_key(queue)), "a serving pump says so (back-pressure)"


def test_a_pump_with_a_stale_token_does_nothing(make_user, redis_client, queue):
    (run,) = start_runs(make_user, 1, queue)
    assert pump.run_lane(queue, 0, "not-the-lane-token") == {"superseded": 1}
    assert driver.read_checkpoint(run.pk)["seq"] == 0
    assert redis_client.zrange(pump.due_key(queue), 0, -1) == [f"{run.pk}:0"]


def test_an_idle_lane_lets_go_and_a_new_slice_restarts_it(make_user, redis_client, queue):
    (run,) = start_runs(make_user, 1, queue)
    token = redis_client.get(pump.lane_key(queue, 0))
    driver.end_run(run, "finished", "test over")
    assert pump.run_lane(queue, 0, token) == {"inactive": 1}  # an ended run is dropped
    assert redis_client.get(pump.lane_key(queue, 0)) is None
    assert redis_client.zcard(pump.due_key(queue)) == 0

    other = services.start_run(make_user("later"), LAB, SCENARIO, enqueue=False)
    assert pump.schedule(other.pk, 0, queue=queue)
    assert redis_client.get(pump.lane_key(queue, 0)) not in (None, token)


def test_the_same_slice_is_never_due_twice(make_user, redis_client, queue):
    (run,) = start_runs(make_user, 1, queue)
    assert pump.schedule(run.pk, 0, queue=queue) is False
    assert redis_client.zcard(pump.due_key(queue)) == 1
    lanes_before = len(pump_messages(redis_client, queue))
    assert pump.ensure_lanes(queue) == 0, "live lanes are not started twice"
    assert len(pump_messages(redis_client, queue)) == lanes_before


def test_the_watchdog_restarts_a_lane_whose_worker_died(make_user, redis_client, queue):
    from labs import tasks

    start_runs(make_user, 1, queue)
    redis_client.delete(pump.lane_key(queue, 1))  # its key expired: the pump is gone
    before = len(pump_messages(redis_client, queue))
    tasks.watchdog()
    assert len(pump_messages(redis_client, queue)) == before + 1
    assert redis_client.get(pump.lane_key(queue, 1))


def test_late_slices_start_an_extra_lane_which_ends_once_on_time(make_user, redis_client, queue):
    runs = start_runs(make_user, 3, queue)
    late = time.time() - 1.0  # the workers fell a second behind
    redis_client.zadd(pump.due_key(queue), {f"{run.pk}:0": late for run in runs}, xx=True)
    extra = pump.lanes()
    assert redis_client.get(pump.lane_key(queue, extra)) is None

    pump.run_lane(queue, 0, redis_client.get(pump.lane_key(queue, 0)))

    token = redis_client.get(pump.lane_key(queue, extra))
    assert token, "a lane whose slices started a second late adds a lane"
    assert int(redis_client.hget(TICK_LAG_KEY, pump.lane_key(queue, 0))) >= 1000
    sent = [m["headers"]["argsrepr"] for m in pump_messages(redis_client, queue)]
    assert repr((queue, extra, token)) in sent

    # every run's next slice is now a second away: the extra lane finds nothing late and ends
    assert pump.run_lane(queue, extra, token) == {}
    assert redis_client.get(pump.lane_key(queue, extra)) is None
    assert sent == [m["headers"]["argsrepr"] for m in pump_messages(redis_client, queue)]
