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


def test_two_tabs_submitting_at_once_give_one_result(make_user, settings):
    """Two threads (two tabs) submit the same attempt concurrently: one grading, one result."""
    import threading

    from django.db import connection

    from quizzes import services
    from tests.quizzes.app_fixtures import FIXTURE_SITE

    settings.SITE_CONTENT_DIR = FIXTURE_SITE
    settings.QUIZ_EXTRA_CONTENT_DIR = None
    user = make_user("twotabs")
    attempt = services.start_attempt(user, "t-exam")
    results: list[bool] = []
    barrier = threading.Barrier(2)

    def tab() -> None:
        try:
            barrier.wait()
            _, did = services.submit(Attempt.objects.get(pk=attempt.pk))
            results.append(did)
        finally:
            connection.close()

    threads = [threading.Thread(target=tab) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [False, True]
    attempt.refresh_from_db()
    assert attempt.state == Attempt.SUBMITTED and attempt.score == 0.0
