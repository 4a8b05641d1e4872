# ruff: noqa: F811  (pytest fixtures imported from app_fixtures)
"""The auto-submit task runs in the real Celery worker and closes an expired attempt."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from quizzes.models import Attempt, Response

pytestmark = pytest.mark.django_db(transaction=True)


def test_worker_submits_expired_attempt(celery_worker, make_user):
    from quizzes.tasks import submit_expired_attempts

    user = make_user("sleepy")
    past = timezone.now() - timedelta(minutes=20)
    attempt = Attempt.objects.create(
        user=user,
        quiz_slug="gone-quiz",
        number=1,
        mode="exam",
        started_at=past,
        deadline=past + timedelta(minutes=10),
        question_ids=["missing-q"],
        seed="s",
    )
    Response.objects.create(attempt=attempt, qid="missing-q", position=0)
    # 1, or 0 when the worker's embedded beat got there first
    assert submit_expired_attempts.delay().get(timeout=30) in (0, 1)
    attempt.refresh_from_db()
    assert attempt.state == Attempt.SUBMITTED and attempt.auto_submitted
    assert attempt.score == 0.0
