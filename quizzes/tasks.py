"""Celery tasks: submit attempts whose time ran out, even when the browser is gone."""

from __future__ import annotations

from celery import shared_task

from config.celery import app

AUTO_SUBMIT_EVERY_S = 30.0

app.conf.beat_schedule = {
    **(app.conf.beat_schedule or {}),
    "quizzes-submit-expired": {
        "task": "quizzes.submit_expired",
        "schedule": AUTO_SUBMIT_EVERY_S,
    },
}


@shared_task(name="quizzes.submit_expired")
def submit_expired_attempts() -> int:
    from quizzes.services import submit_expired

    return submit_expired()
