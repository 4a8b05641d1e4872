# ruff: noqa: F811  (pytest fixtures imported from app_fixtures)
"""Quiz rules: attempt limits, deadlines, idempotent submit, grading methods, draws, penalties."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from quizzes import services, source
from quizzes.grading import InvalidResponse, public_view, to_display
from quizzes.models import Accommodation, Attempt, Response, ReviewCard
from tests.quizzes.app_fixtures import learner, test_bank  # noqa: F401

pytestmark = pytest.mark.django_db


def display(attempt, qid, bank_response):
    q = source.get_question(qid)
    quiz = services.get_quiz(attempt.quiz_slug)
    return to_display(q, bank_response, attempt.seed, shuffle=quiz["shuffle"])


def test_source_reads_fixture_bank(test_bank):
    assert source.get_question("tq-single")["_module"] == "basics"
    assert {q["id"] for q in source.questions_matching(difficulty="hard")} == {"tq-num", "tq-short"}
    assert {q["id"] for q in source.questions_matching(topics=["T02"])} == {"tq-order", "tq-match"}
    assert source.get_quiz_spec("t-exam")["mode"] == "exam"
    assert source.lesson_url(source.get_question("tq-tf")) == "/courses/testcourse/intro/#sky"


def test_start_resumes_open_attempt_and_limits_attempts(learner):
    a1 = services.start_attempt(learner, "t-exam")
    assert services.start_attempt(learner, "t-exam").pk == a1.pk  # resume, not a new one
    assert a1.question_ids == ["tq-single", "tq-order", "tq-match"]
    assert a1.responses.count() == 3
    services.submit(a1)
    a2 = services.start_attempt(learner, "t-exam")
    assert a2.number == 2
    services.submit(a2)
    with pytest.raises(services.NoAttemptsLeft):
        services.start_attempt(learner, "t-exam")
    Accommodation.objects.create(user=learner, extra_attempts=1)
    assert services.start_attempt(learner, "t-exam").number == 3


def test_deadline_uses_time_multiplier_and_refuses_late_answers(learner):
    Accommodation.objects.create(user=learner, time_multiplier=1.5)
    now = timezone.now()
    attempt = services.start_attempt(learner, "t-exam", now=now)
    assert attempt.deadline == now + timedelta(minutes=15)
    services.save_answer(attempt, "tq-single", display(attempt, "tq-single", 0), now=now)
    late = now + timedelta(minutes=16)
    with pytest.raises(services.AttemptClosed, match="Time is up"):
        services.save_answer(attempt, "tq-single", display(attempt, "tq-single", 1), now=late)
    attempt.refresh_from_db()
    assert attempt.state == Attempt.SUBMITTED and attempt.auto_submitted
    assert Response.objects.get(attempt=attempt, qid="tq-single").response == 0  # kept
    assert attempt.score == pytest.approx(100 / 3, abs=0.01)


def test_expired_attempts_are_submitted_by_the_task_and_on_next_visit(learner, make_user):
    now = timezone.now()
    a = services.start_attempt(learner, "t-exam", now=now)
    other = make_user("olga")
    b = services.start_attempt(other, "t-exam", now=now)
    assert services.submit_expired(now + timedelta(minutes=5)) == 0
    from quizzes.tasks import submit_expired_attempts

    Attempt.objects.filter(pk=a.pk).update(deadline=now - timedelta(seconds=1))
    assert submit_expired_attempts() == 1
    a.refresh_from_db()
    assert a.state == Attempt.SUBMITTED
    # next visit: the open attempt is past its deadline, so a new start submits it first
    assert services.current_attempt(other, "t-exam", now + timedelta(minutes=11)) is None
    b.refresh_from_db()
    assert b.state == Attempt.SUBMITTED


def test_beat_schedule_registered():
    from config.celery import app
    from quizzes import tasks  # noqa: F401

    assert app.conf.beat_schedule["quizzes-submit-expired"]["task"] == "quizzes.submit_expired"


def test_submit_is_idempotent(learner):
    attempt = services.start_attempt(learner, "t-exam")
    services.save_answer(attempt, "tq-single", display(attempt, "tq-single", 0))
    first, did1 = services.submit(attempt)
    second, did2 = services.submit(Attempt.objects.get(pk=attempt.pk))
    assert (did1, did2) == (True, False)
    assert first.score == second.score == pytest.approx(33.33, abs=0.01)
    assert first.submitted_at == second.submitted_at
    with pytest.raises(services.AttemptClosed):
        services.save_answer(attempt, "tq-single", display(attempt, "tq-single", 1))


def test_exam_defers_grading_until_submit(learner):
    attempt = services.start_attempt(learner, "t-exam")
    r = services.save_answer(attempt, "tq-single", display(attempt, "tq-single", 1), check=True)
    assert not r.checked and r.response.grade is None and r.response.fraction is None
    services.save_answer(attempt, "tq-order", display(attempt, "tq-order", [0, 1, 2]))
    services.save_answer(attempt, "tq-match", display(attempt, "tq-match", {0: "woof", 1: "woof"}))
    attempt, _ = services.submit(attempt)
    assert attempt.score == pytest.approx(100 * (0 + 1 + 0.5) / 3, abs=0.01)
    assert attempt.passed is True
    assert ReviewCard.objects.filter(user=learner).count() == 2  # single wrong, match partial


def test_practice_penalty_and_tries(learner):
    attempt = services.start_attempt(learner, "t-practice")
    wrong, right = display(attempt, "tq-single", 1), display(attempt, "tq-single", 0)
    r = services.save_answer(attempt, "tq-single", wrong, check=True)
    assert r.checked and r.response.tries == 1 and r.response.fraction == 0
    assert not r.response.finished
    assert ReviewCard.objects.filter(user=learner, qid="tq-single").exists()
    r = services.save_answer(attempt, "tq-single", right, check=True)
    assert r.response.tries == 2 and r.response.finished
    assert r.response.fraction == pytest.approx(0.75)
    with pytest.raises(services.QuestionFinished):
        services.save_answer(attempt, "tq-single", wrong, check=True)
    # unchecked tf answered right: graded at submit as one more try (the first)
    services.save_answer(attempt, "tq-tf", "true")
    attempt, _ = services.submit(attempt)
    assert attempt.score == pytest.approx(100 * (0.75 + 1) / 2)


def test_practice_runs_out_of_tries(learner):
    attempt = services.start_attempt(learner, "t-practice")
    for _ in range(3):
        r = services.save_answer(attempt, "tq-tf", "false", check=True)
    assert r.response.finished and r.response.tries == 3
    with pytest.raises(services.QuestionFinished):
        services.save_answer(attempt, "tq-tf", "true", check=True)


def test_invalid_response_is_refused(learner):
    attempt = services.start_attempt(learner, "t-practice")
    with pytest.raises(InvalidResponse):
        services.save_answer(attempt, "tq-single", "99")
    with pytest.raises(services.QuizError):
        services.save_answer(attempt, "tq-num", "7")


@pytest.mark.parametrize(
    ("method", "expected"),
    [("highest", 100.0), ("latest", 50.0), ("first", 0.0), ("average", 50.0)],
)
def test_grading_methods(learner, method, expected):
    for score in (0.0, 100.0, 50.0):
        n = Attempt.objects.filter(user=learner).count() + 1
        Attempt.objects.create(
            user=learner,
            quiz_slug="t-exam",
            number=n,
            mode="exam",
            started_at=timezone.now(),
            state=Attempt.SUBMITTED,
            score=score,
            seed="s",
        )
    assert services.quiz_grade(learner, "t-exam", method) == expected
    assert services.quiz_grade(learner, "t-practice", method) is None


def test_draws_prefer_unseen_questions(learner):
    pool = {"tq-order", "tq-match", "tq-num", "tq-short"}
    a1 = services.start_attempt(learner, "t-draw")
    assert len(a1.question_ids) == 2 and set(a1.question_ids) <= pool
    services.submit(a1)
    a2 = services.start_attempt(learner, "t-draw")
    assert set(a2.question_ids) == pool - set(a1.question_ids)  # the two unseen ones
    services.submit(a2)
    a3 = services.start_attempt(learner, "t-draw")
    assert len(set(a3.question_ids)) == 2 and set(a3.question_ids) <= pool


def test_shuffle_is_stable_per_attempt(learner):
    a = services.start_attempt(learner, "t-exam")
    q = source.get_question("tq-order")
    assert public_view(q, a.seed) == public_view(q, a.seed)


def test_events_published(learner, redis_client):
    import json

    attempt = services.start_attempt(learner, "t-practice")
    services.save_answer(attempt, "tq-tf", "true", check=True)
    services.submit(attempt)
    kinds = [json.loads(f["data"])["type"] for _, f in redis_client.xrange("learning:events")]
    assert kinds.count("question_answered") == 1 and kinds[-1] == "quiz_submitted"


def test_quiz_statistics_per_slot(learner, make_user):
    assert services.quiz_statistics("t-exam") is None
    for name, right in (("s1", True), ("s2", False), ("s3", True)):
        user = make_user(name)
        attempt = services.start_attempt(user, "t-exam")
        services.save_answer(attempt, "tq-single", display(attempt, "tq-single", 0 if right else 1))
        services.submit(attempt)
    stats = services.quiz_statistics("t-exam")
    assert stats["attempts"] == 3
    assert stats["slots"][0] == ["tq-single"]
    assert stats["questions"][0]["facility"] == pytest.approx(200 / 3)
    assert stats["questions"][1]["facility"] == 0
