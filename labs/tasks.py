"""Celery tasks of the lab platform: the slice pump and the watchdog (labs/pump.py explains)."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import redis
from celery import shared_task
from django.utils import timezone

from config.celery import app
from labs import driver
from labs import pump as pumps
from labs.models import LabRun

log = logging.getLogger(__name__)

STALE_AFTER_S = 5.0  # the watchdog re-schedules a running run whose last slice is older
PAUSED_EXPIRE_AFTER = timedelta(hours=24)
WATCHDOG_EVERY_S = 5.0
START_GRACE = timedelta(seconds=30)  # a queued run this young may not have its checkpoint yet

app.conf.beat_schedule = {
    **(app.conf.beat_schedule or {}),
    "labs-watchdog": {"task": "labs.watchdog", "schedule": WATCHDOG_EVERY_S},
}


@shared_task(name="labs.pump", ignore_result=True, acks_late=True)
def pump(queue: str | None, lane: int, token: str) -> dict[str, int]:
    """Advance every due run of `queue` by one slice for about a second (one lane)."""
    return pumps.run_lane(queue, lane, token)


@shared_task(name="labs.watchdog", ignore_result=True)
def watchdog() -> dict[str, int]:
    """Re-schedule running runs whose slice went missing, restart dead pump lanes, fail runs
    whose state is gone and expire long-paused runs."""
    kicked = failed = 0
    now = time.time()
    running = LabRun.objects.filter(status__in=(LabRun.Status.RUNNING, LabRun.Status.QUEUED))
    for run in running.only("id", "status", "created_at"):
        try:
            checkpoint = driver.read_checkpoint(run.pk)
        except redis.RedisError as exc:
            driver.mark_failed(run.pk, f"Redis unavailable: {exc}")
            failed += 1
            continue
        if checkpoint is None:
            if run.status == LabRun.Status.QUEUED and run.created_at > timezone.now() - START_GRACE:
                continue  # start_run writes the row first, then the checkpoint: not lost, new
            driver.mark_failed(run.pk, "the run's checkpoint was lost (Redis restarted?)")
            failed += 1
            continue
        if checkpoint.get("ended"):
            continue
        stale = now - checkpoint.get("at", 0) > STALE_AFTER_S
        # NX: a slice still waiting its turn in the due set is not added twice
        if stale and pumps.schedule(run.pk, checkpoint["seq"], queue=checkpoint.get("queue")):
            kicked += 1
    try:
        pumps.revive_lanes()
    except redis.RedisError as exc:
        log.warning("watchdog could not check the pump lanes: %s", exc)
    expired = LabRun.objects.filter(
        status=LabRun.Status.PAUSED, created_at__lt=timezone.now() - PAUSED_EXPIRE_AFTER
    ).update(status=LabRun.Status.EXPIRED, finished_at=timezone.now())
    return {"kicked": kicked, "failed": failed, "expired": expired}
