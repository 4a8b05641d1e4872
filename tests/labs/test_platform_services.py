"""Run rules, the tick's atomic slices, typed commands and replay, without a worker."""

from __future__ import annotations

import json
import time

import pytest

from labs import driver, pump, replay, services
from labs.engines import CommandError
from labs.models import LabRun
from labs.scenarios import get_scenario, list_scenarios

pytestmark = pytest.mark.django_db
LAB, SCENARIO = "circuit-breaker", "outage-and-recovery"


def stream(redis_client, run) -> list[dict]:
    return [json.loads(f["data"]) for _id, f in redis_client.xrange(driver.events_key(run.pk))]


def advance(run, slices: int = 1) -> None:
    for _ in range(slices):
        seq = driver.read_checkpoint(run.pk)["seq"]
        assert driver.advance_slice(run.pk, seq) in ("advanced", "ended")


def test_scenarios_read_from_disk():
    found = {(s.lab, s.slug) for s in list_scenarios()}
    assert (LAB, SCENARIO) in found and ("kafka", "durability") in found
    scenario = get_scenario(LAB, SCENARIO)
    assert scenario.duration_s == 300 and "<strong>" in scenario.brief_html
    assert "<script" not in scenario.brief_html
    for bad in [(LAB, "nope"), ("nope", SCENARIO), (LAB, "../x")]:
        with pytest.raises(LookupError):
            get_scenario(*bad)


def test_start_writes_row_and_checkpoint(make_user, redis_client):
    user = make_user("ann")
    run = services.start_run(user, LAB, SCENARIO, seed=7, enqueue=False)
    assert run.status == LabRun.Status.QUEUED and run.seed == 7 and run.duration_s == 300
    checkpoint = driver.read_checkpoint(run.pk)
    assert checkpoint["seq"] == 0 and checkpoint["sim_ms"] == 0
    assert redis_client.ttl(driver.watchers_key(run.pk)) > 0


def test_active_run_limit(make_user, redis_client):
    user = make_user("bob")
    runs = [services.start_run(user, LAB, SCENARIO, enqueue=False) for _ in range(3)]
    with pytest.raises(services.LabError, match="limit is 3"):
        services.start_run(user, LAB, SCENARIO, enqueue=False)
    services.stop_run(runs[0])
    services.start_run(user, LAB, SCENARIO, enqueue=False)  # a slot is free again


def test_unknown_scenario_refused(make_user, redis_client):
    with pytest.raises(services.LabError):
        services.start_run(make_user("cy"), LAB, "no-such-thing", enqueue=False)


def test_back_pressure_when_queue_is_deep(make_user, redis_client):
    redis_client.rpush("celery", *["x"] * (services.MAX_QUEUED_TASKS + 1))
    with pytest.raises(services.LabError, match="saturated"):
        services.start_run(make_user("dee"), LAB, SCENARIO, enqueue=False)


def test_same_seq_twice_is_one_slice(make_user, redis_client):
    run = services.start_run(make_user("eve"), LAB, SCENARIO, seed=1, enqueue=False)
    assert driver.advance_slice(run.pk, 0) == "advanced"
    assert driver.advance_slice(run.pk, 0) == "stale"
    entries = stream(redis_client, run)
    assert [e["type"] for e in entries].count("tick") == 1
    run.refresh_from_db()
    assert run.status == LabRun.Status.RUNNING and run.sim_ms == 1000 and run.tick_seq == 1
    assert all(0 < e["t"] <= 1000 for e in entries)


def test_speed_scales_the_slice(make_user, redis_client):
    run = services.start_run(make_user("fay"), LAB, SCENARIO, enqueue=False)
    advance(run)
    run.refresh_from_db()
    services.set_speed(run, "2.5")
    advance(run)
    assert driver.read_checkpoint(run.pk)["sim_ms"] == 3500
    for bad in ["0.1", "11", "fast"]:
        with pytest.raises(services.LabError):
            services.set_speed(run, bad)


def test_commands_are_typed_validated_and_acknowledged(make_user, redis_client):
    run = services.start_run(make_user("gus"), LAB, SCENARIO, enqueue=False)
    command = services.enqueue_command(run, {"type": "set_rps", "value": "120"})
    assert command == {"type": "set_rps", "value": 120}
    rate = services.coerce_command(LAB, {"type": "set_error_rate", "value": "0.5"})
    assert rate == {"type": "set_error_rate", "value": 0.5}
    with pytest.raises(CommandError, match="not a number"):
        services.enqueue_command(run, {"type": "set_rps", "value": "lots"})
    with pytest.raises(CommandError):
        services.enqueue_command(run, {"type": "set_rps", "value": "-5"})
    with pytest.raises(CommandError, match="unknown command"):
        services.enqueue_command(run, {"type": "format_disk"})
    with pytest.raises(CommandError, match="not one of"):
        services.enqueue_command(run, {"type": "start_outage", "mode": "meteor"})
    assert redis_client.llen(driver.commands_key(run.pk)) == 1  # only the valid one queued
    advance(run)
    acks = [e for e in stream(redis_client, run) if e["type"] == "command_applied"]
    assert acks and acks[0]["t"] == 0 and acks[0]["command"] == command
    run.refresh_from_db()
    assert run.command_log == [{"t": 0, "command": command}]
    assert redis_client.llen(driver.commands_key(run.pk)) == 0


def test_pause_blocks_ticks_and_step_advances(make_user, redis_client):
    run = services.start_run(make_user("hal"), LAB, SCENARIO, enqueue=False)
    advance(run)
    run.refresh_from_db()
    services.pause_run(run)
    assert driver.advance_slice(run.pk, 1) == "inactive"
    services.step_run(run)
    assert driver.read_checkpoint(run.pk)["sim_ms"] == 2000
    with pytest.raises(services.LabError):
        services.pause_run(run)


def test_idle_run_is_paused(make_user, redis_client):
    run = services.start_run(make_user("ida"), LAB, SCENARIO, enqueue=False)
    redis_client.delete(driver.watchers_key(run.pk))
    assert driver.advance_slice(run.pk, 0) == "idle"
    run.refresh_from_db()
    assert run.status == LabRun.Status.PAUSED
    assert stream(redis_client, run)[-1] == {"type": "paused", "t": 0, "reason": "idle"}


def test_run_ends_at_duration(make_user, redis_client):
    run = services.start_run(make_user("jo"), LAB, SCENARIO, enqueue=False)
    LabRun.objects.filter(pk=run.pk).update(duration_s=3, speed=2.0)
    advance(run, 2)
    run.refresh_from_db()
    assert run.status == LabRun.Status.FINISHED and run.sim_ms == 3000 and run.summary
    entries = stream(redis_client, run)
    assert entries[-1]["type"] == "end" and entries[-1]["status"] == "finished"
    assert driver.advance_slice(run.pk, 2) == "inactive"


def test_stop_writes_terminal_event_and_stale_tick_is_noop(make_user, redis_client):
    run = services.start_run(make_user("kim"), LAB, SCENARIO, enqueue=False)
    advance(run)
    run.refresh_from_db()
    services.stop_run(run)
    run.refresh_from_db()
    assert run.status == LabRun.Status.FINISHED and run.finished_at
    LabRun.objects.filter(pk=run.pk).update(status=LabRun.Status.RUNNING)  # a racing tick
    assert driver.advance_slice(run.pk, 1) == "stale"
    assert stream(redis_client, run)[-1]["type"] == "end"


def test_lost_checkpoint_fails_the_run(make_user, redis_client):
    run = services.start_run(make_user("lou"), LAB, SCENARIO, enqueue=False)
    redis_client.delete(driver.state_key(run.pk))
    assert driver.advance_slice(run.pk, 0) == "failed"
    run.refresh_from_db()
    assert run.status == LabRun.Status.FAILED and "checkpoint" in run.failure_reason


def test_watchdog_rekicks_stale_runs_and_fails_lost_ones(make_user, redis_client):
    from labs import tasks

    user = make_user("max")
    stale = services.start_run(user, LAB, SCENARIO, enqueue=False)
    lost = services.start_run(user, LAB, SCENARIO, enqueue=False)
    fresh = services.start_run(user, LAB, SCENARIO, enqueue=False)
    checkpoint = driver.read_checkpoint(stale.pk)
    checkpoint["at"] -= 60
    redis_client.set(driver.state_key(stale.pk), json.dumps(checkpoint))
    redis_client.delete(driver.state_key(lost.pk))
    # a run just created may not have its checkpoint yet (start_run writes the row first)
    assert tasks.watchdog()["failed"] == 0
    assert LabRun.objects.get(pk=lost.pk).status == LabRun.Status.QUEUED
    redis_client.delete(pump.due_key(None), "celery", *redis_client.keys("lab:pump:*"))
    LabRun.objects.filter(pk=lost.pk).update(status=LabRun.Status.RUNNING)  # it had ticked
    assert fresh.pk
    assert tasks.watchdog() == {"kicked": 1, "failed": 1, "expired": 0}
    assert LabRun.objects.get(pk=lost.pk).status == LabRun.Status.FAILED
    # the stale run's slice 0 is due now, and a pump was started for each lane of the queue
    assert redis_client.zrange(pump.due_key(None), 0, -1) == [f"{stale.pk}:0"]
    queued = [json.loads(m) for m in redis_client.lrange("celery", 0, -1)]
    assert sorted(m["headers"]["task"] for m in queued) == ["labs.pump"] * pump.lanes()
    # a slice still waiting for its turn is not kicked again, and no second pump starts
    assert tasks.watchdog() == {"kicked": 0, "failed": 0, "expired": 0}
    assert redis_client.llen("celery") == pump.lanes()


@pytest.mark.parametrize(
    "lab,slug", [(LAB, SCENARIO), ("kafka", "durability"), ("saga", "happy-path")]
)
def test_replay_gives_the_streamed_events(make_user, redis_client, lab, slug):
    run = services.start_run(make_user("ned"), lab, slug, seed=42, enqueue=False)
    advance(run, 2)
    if lab == LAB:
        services.enqueue_command(run, {"type": "start_outage", "mode": "error"})
        advance(run)
        run.refresh_from_db()
        services.set_speed(run, 3)
        advance(run, 2)
        services.enqueue_command(run, {"type": "stop_outage"})
        # A command that passed validation but is refused when the tick applies it is logged.
        redis_client.rpush(driver.commands_key(run.pk), json.dumps({"type": "stop_outage"}))
        advance(run, 2)
    else:
        advance(run, 2)
    run.refresh_from_db()
    services.stop_run(run)
    run.refresh_from_db()
    streamed = replay.engine_events(stream(redis_client, run))
    replayed = replay.engine_events(replay.replay_entries(run))
    assert len(streamed) > 3
    assert replayed == streamed
    if lab == LAB:
        assert any(e["type"] == "command_rejected" for e in streamed)


def test_a_commands_request_id_follows_it_into_the_stream_the_log_and_replay(
    make_user, redis_client
):
    from config import request_id

    run = services.start_run(make_user("tracer"), LAB, SCENARIO, seed=3, enqueue=False)
    with request_id.scope("trace-0001-abcd"):
        services.enqueue_command(run, {"type": "start_outage", "mode": "error"})
    with request_id.scope("trace-0002-abcd"):
        services.enqueue_command(run, {"type": "stop_outage"})
    # valid when queued, refused when applied (the outage is already over): still traced
    refused = {"type": "stop_outage", "_request_id": "trace-0003-abcd"}
    redis_client.rpush(driver.commands_key(run.pk), json.dumps(refused))
    advance(run)

    acks = [e for e in stream(redis_client, run) if "command" in e]
    assert [e.get("request_id") for e in acks] == [
        "trace-0001-abcd",
        "trace-0002-abcd",
        "trace-0003-abcd",
    ]
    assert acks[-1]["type"] == "command_rejected"
    assert all("_request_id" not in e["command"] for e in acks), "not part of the command"
    services.stop_run(run)
    run.refresh_from_db()
    assert [entry.get("request_id") for entry in run.command_log] == [e["request_id"] for e in acks]
    assert [e for e in replay.replay_entries(run) if "command" in e] == acks


def test_control_events_carry_the_request_id(make_user, redis_client):
    from config import request_id

    run = services.start_run(make_user("pauser"), LAB, SCENARIO, enqueue=False)
    with request_id.scope("pause-click-0001"):
        services.pause_run(run)
    paused = [e for e in stream(redis_client, run) if e["type"] == "paused"]
    assert paused == [
        {"type": "paused", "t": 0, "reason": "learner", "request_id": "pause-click-0001"}
    ]


def test_back_pressure_when_slices_wait_for_busy_workers(make_user, redis_client):
    user = make_user("flo")
    running = services.start_run(user, LAB, SCENARIO, enqueue=False)
    # a slice overdue by 3 s while no worker serves the queue: new runs wait, they are not refused
    redis_client.zadd(pump.due_key(None), {f"{running.pk}:0": time.time() - 3})
    assert not pump.saturated()
    second = services.start_run(user, LAB, SCENARIO, enqueue=False)
    # the same wait while pumps are running: the workers are saturated
    redis_client.set(pump.alive_key(None), "1", ex=5)
    assert pump.saturated()
    with pytest.raises(services.LabError, match="saturated"):
        services.start_run(user, LAB, SCENARIO, enqueue=False)
    # slices served on time again: starts are accepted
    redis_client.zadd(pump.due_key(None), {f"{running.pk}:0": time.time() + 1})
    assert services.start_run(user, LAB, SCENARIO, enqueue=False).pk != second.pk
