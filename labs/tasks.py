"""Celery tasks of the lab platform: the per-run tick chain and the watchdog."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

import redis
from celery import shared_task
from django.utils import timezone

from config.celery import app
from labs import driver
from labs.models import LabRun

log = logging.getLogger(__name__)

TICK_INTERVAL_S = 1.0
STALE_AFTER_S = 5.0  # the watchdog re-enqueues a running run whose last slice is older
PAUSED_EXPIRE_AFTER = timedelta(hours=24)
WATCHDOG_EVERY_S = 5.0

app.conf.beat_schedule = {
    **(app.conf.beat_schedule or {}),
    "labs-watchdog": {"task": "labs.watchdog", "schedule": WATCHDOG_EVERY_S},
}


@shared_task(name="labs.tick", ignore_result=True, acks_late=True)
def tick(run_id: str, seq: int) -> str:
    info: dict[str, Any] = {}
    outcome = driver.advance_slice(run_id, seq, info=info)
    if outcome == "advanced":
        due = info.get("due", time.time() + TICK_INTERVAL_S)
        countdown = min(TICK_INTERVAL_S, max(0.0, due - time.time()))
        schedule(run_id, seq + 1, countdown, info.get("queue"))
    return outcome


def schedule(run_id: Any, seq: int, countdown: float = 0.0, queue: str | None = None) -> None:
    options = {"queue": queue} if queue else {}
    tick.apply_async((str(run_id), seq), countdown=countdown, **options)


@shared_task(name="labs.watchdog", ignore_result=True)
def watchdog() -> dict[str, int]:
    """Re-enqueue running runs whose tick went missing; expire long-paused runs."""
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
            driver.mark_failed(run.pk, "the run's checkpoint was lost (Redis restarted?)")
            failed += 1
            continue
        if checkpoint.get("ended"):
            continue
        if now - checkpoint.get("at", 0) > STALE_AFTER_S:
            schedule(run.pk, checkpoint["seq"], queue=checkpoint.get("queue"))
            kicked += 1
    expired = LabRun.objects.filter(
        status=LabRun.Status.PAUSED, created_at__lt=timezone.now() - PAUSED_EXPIRE_AFTER
    ).update(status=LabRun.Status.EXPIRED, finished_at=timezone.now())
    return {"kicked": kicked, "failed": failed, "expired": expired}
