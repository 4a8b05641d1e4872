"""A breaker run driven by the real Celery worker: ticks every second, commands applied."""

from __future__ import annotations

import json
import time

import pytest

from labs import driver, services
from labs.models import LabRun

pytestmark = pytest.mark.django_db(transaction=True)
LAB, SCENARIO = "circuit-breaker", "outage-and-recovery"


def entries(redis_client, run) -> list[dict]:
    return [json.loads(f["data"]) for _i, f in redis_client.xrange(driver.events_key(run.pk))]


def wait_for(predicate, timeout: float = 20.0, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not reached in time")


def test_worker_ticks_a_run_and_applies_commands(celery_worker, make_user, redis_client):
    run = services.start_run(make_user("worker-fan"), LAB, SCENARIO, seed=11)
    wait_for(lambda: [e for e in entries(redis_client, run) if e["type"] == "tick"][2:])
    run.refresh_from_db()
    assert run.status == LabRun.Status.RUNNING and run.tick_seq >= 1
    assert driver.read_checkpoint(run.pk)["sim_ms"] >= 3000

    services.set_speed(run, 2)
    services.enqueue_command(run, {"type": "start_outage", "mode": "error"})
    ack = wait_for(
        lambda: [e for e in entries(redis_client, run) if e["type"] == "command_applied"]
    )
    assert ack[0]["command"] == {"type": "start_outage", "mode": "error"}
    # The breaker opens within a few simulated seconds of the outage.
    wait_for(
        lambda: [
            e
            for e in entries(redis_client, run)
            if e["type"] == "tick" and e["snapshot"]["breaker"]["state"] == "OPEN"
        ]
    )
    seqs = [e["seq"] for e in entries(redis_client, run) if e["type"] == "tick"]
    assert seqs == list(range(1, len(seqs) + 1)), "one tick per seq, in order, none repeated"

    run.refresh_from_db()
    services.stop_run(run)
    run.refresh_from_db()
    assert run.status == LabRun.Status.FINISHED
    assert run.command_log[0]["command"]["type"] == "start_outage"
    assert "breaker_opens" in run.objectives_met
    time.sleep(1.5)  # a tick still in flight is a no-op after the end
    assert entries(redis_client, run)[-1]["type"] == "end"
