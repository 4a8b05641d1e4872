"""Faults survived: a SIGKILLed worker loses no slice once a worker is back; Redis down fails runs."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid

import pytest

from config import processes
from labs import driver, services
from labs.models import LabRun
from tests.conftest import ARTIFACTS, _wait_for_worker, child_env

pytestmark = pytest.mark.django_db(transaction=True)
LAB, SCENARIO = "circuit-breaker", "outage-and-recovery"


def ticks(redis_client, run) -> list[dict]:
    entries = redis_client.xrange(driver.events_key(run.pk))
    return [d for d in (json.loads(f["data"]) for _i, f in entries) if d["type"] == "tick"]


def wait_for(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")


QUEUE = "lab-fault-test"  # the run's ticks go only to the workers this test starts and kills


def own_worker():
    from config.celery import app

    ARTIFACTS.mkdir(exist_ok=True)
    name = f"fault-{uuid.uuid4().hex[:6]}"
    args = [processes.python(), "-m", "celery", "-A", "config", "worker", "--pool=threads"]
    args += ["--concurrency=2", "--loglevel=INFO", "-n", f"{name}@%h", "-Q", QUEUE]
    args += ["--without-gossip", "--without-mingle"]
    process = processes._spawn(args, child_env(), ARTIFACTS / "celery-fault-worker.log")
    _wait_for_worker(app, process)
    return process


def test_sigkilled_worker_loses_no_slice(live_db, make_user, redis_client):
    first = own_worker()
    try:
        run = services.start_run(make_user("survivor"), LAB, SCENARIO, seed=9, queue=QUEUE)
        wait_for(lambda: len(ticks(redis_client, run)) >= 2)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        at_kill = len(ticks(redis_client, run))
        time.sleep(2)
        assert len(ticks(redis_client, run)) <= at_kill + 1, "nothing ticks without a worker"
    finally:
        processes.stop(first)
    second = own_worker()
    try:
        # The killed tick's message comes back after the broker's visibility timeout, or the
        # watchdog re-enqueues the run sooner; either way the chain resumes.
        from labs import tasks

        tasks.watchdog()
        wait_for(lambda: len(ticks(redis_client, run)) >= at_kill + 3, timeout=45)
    finally:
        services.stop_run(LabRun.objects.get(pk=run.pk))
        processes.stop(second)
    seen = ticks(redis_client, run)
    assert [t["seq"] for t in seen] == list(range(1, len(seen) + 1)), "no gap, no duplicate"
    assert [t["t"] for t in seen] == [1000 * t["seq"] for t in seen], "every slice computed once"


def test_redis_down_fails_the_run_with_a_reason(make_user, redis_client, settings):
    run = services.start_run(make_user("unlucky"), LAB, SCENARIO, enqueue=False)
    other = services.start_run(make_user("unlucky2"), LAB, SCENARIO, enqueue=False)
    LabRun.objects.filter(pk=other.pk).update(status=LabRun.Status.RUNNING)
    settings.REDIS_URL = f"redis://127.0.0.1:{processes.free_port()}/0"  # nothing listens there
    assert driver.advance_slice(run.pk, 0) == "failed"
    run.refresh_from_db()
    assert run.status == LabRun.Status.FAILED and "Redis unavailable" in run.failure_reason
    from labs import tasks

    assert tasks.watchdog()["failed"] == 1
    other.refresh_from_db()
    assert other.status == LabRun.Status.FAILED and other.failure_reason


def test_redis_restart_interrupts_streams_and_fails_runs(
    live_db, make_user, settings, tmp_path, redis_client
):
    """A private Redis and uvicorn: killing Redis ends the open stream with `interrupted`; once
    Redis is back (empty), the watchdog fails the run whose checkpoint was lost."""
    import httpx
    from django.test import Client

    from labs import tasks

    redis_process, url = processes.start_redis(tmp_path / "redis")
    port = processes.free_port()
    server = processes.start_uvicorn(
        child_env({"REDIS_URL": url}), port, log_path=ARTIFACTS / "uvicorn-fault.log"
    )
    try:
        settings.REDIS_URL = url
        owner = make_user("restarted")
        run = services.start_run(owner, LAB, SCENARIO, enqueue=False)
        driver.advance_slice(run.pk, 0)
        # paused while streaming, so no other worker's watchdog (on the main Redis) touches it
        LabRun.objects.filter(pk=run.pk).update(status=LabRun.Status.PAUSED)
        client = Client()
        client.force_login(owner)
        base = f"http://127.0.0.1:{port}"
        processes.wait_for_http(base + "/healthz", server)
        cookies = {"sessionid": client.cookies["sessionid"].value}
        with httpx.stream(
            "GET", f"{base}/labs/runs/{run.pk}/events", cookies=cookies, timeout=30
        ) as response:
            lines = response.iter_lines()
            assert next(lines) == "event: snapshot"
            processes.stop(redis_process)
            rest = list(lines)  # the server ends the stream itself
        assert "event: interrupted" in rest
        port_number = int(url.rsplit(":", 1)[1].split("/")[0])
        redis_process, _url = processes.start_redis(tmp_path / "redis2", port=port_number)
        processes.wait_for_redis(url, redis_process)
        LabRun.objects.filter(pk=run.pk).update(status=LabRun.Status.RUNNING)
        tasks.watchdog()
        run.refresh_from_db()
        assert run.status == LabRun.Status.FAILED and "lost" in run.failure_reason
    finally:
        processes.stop(server)
        processes.stop(redis_process)
