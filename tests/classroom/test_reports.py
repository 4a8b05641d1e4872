"""Quiz report (item analysis, flags with source file:line) and lab report."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from classroom import services
from classroom.models import Membership
from tests.classroom.conftest import submitted_attempt

pytestmark = pytest.mark.django_db

# Marks per learner for q-easy (everyone right), q-good (tracks ability), q-odd (noise).
MARKS = [(1, 1, 1), (1, 1, 1), (1, 0, 0), (1, 1, 0), (1, 0, 0), (1, 0, 1)]


@pytest.fixture
def answered(cohort, make_user):
    from lessons.models import BankQuestion
    from quizzes.models import Response

    for i, qid in enumerate(["q-easy", "q-good", "q-odd"]):
        BankQuestion.objects.create(
            qid=qid,
            course=cohort.course,
            type="single",
            data={"id": qid, "text": f"Question {qid}"},
            difficulty="easy",
            source_path="site/demo/m0/questions.yaml",
            source_line=10 * (i + 1),
        )
    now = timezone.now()
    for n, marks in enumerate(MARKS):
        user = make_user(f"l{n}")
        Membership.objects.create(cohort=cohort, user=user)
        attempt = submitted_attempt(
            user, when=now, question_ids=["q-easy", "q-good", "q-odd"], score=100 * sum(marks) / 3
        )
        for pos, (qid, mark) in enumerate(zip(["q-easy", "q-good", "q-odd"], marks, strict=True)):
            Response.objects.create(
                attempt=attempt, qid=qid, position=pos, response=[mark], fraction=float(mark)
            )
    return cohort


def test_quiz_report_statistics_and_flags(answered):
    report = services.quiz_report(answered, "quiz-0")
    assert report["learners"] == 6
    by_id = {q["qid"]: q for q in report["questions"]}
    assert by_id["q-easy"]["facility"] == 100
    assert any("facility" in f for f in by_id["q-easy"]["flags"])
    assert by_id["q-good"]["facility"] == pytest.approx(50)
    assert by_id["q-good"]["discriminative_efficiency"] > 15
    assert not by_id["q-good"]["flags"]
    assert (by_id["q-easy"]["source_path"], by_id["q-easy"]["source_line"]) == (
        "site/demo/m0/questions.yaml",
        10,
    )
    assert dict(by_id["q-good"]["options"]) == {"1": 3, "0": 3}
    labels = services._option_label([0, 2], {"options": [{"text": "Yes"}, {}, {"text": "No"}]})
    assert labels == "A. Yes + C. No"
    assert services._option_label(None, {}) == "(no answer)"
    assert report["quiz"]["cronbach_alpha"] is not None
    assert sum(n for _, n in report["histogram"]) == 6


def test_quiz_report_page(client, answered, instructor):
    client.force_login(instructor)
    html = client.get(reverse("classroom:quiz_report", args=[answered.pk, "quiz-0"])).content
    html = html.decode()
    assert "site/demo/m0/questions.yaml:10" in html
    assert "Cronbach" in html and "Questions to look at" in html and "chart-bar" in html
    missing = reverse("classroom:quiz_report", args=[answered.pk, "not-a-quiz"])
    assert client.get(missing).status_code == 404


def test_lab_report(cohort, make_user, client, instructor):
    from labs.models import LabRun

    start = timezone.now() - timedelta(hours=1)
    for n, (objectives, minutes) in enumerate([(["a", "b"], 4), (["a", "b"], 10), (["a"], 3)]):
        user = make_user(f"r{n}")
        Membership.objects.create(cohort=cohort, user=user)
        LabRun.objects.create(
            owner=user,
            lab="breaker",
            scenario_slug="s0",
            status="finished",
            objectives_met=objectives,
            started_at=start,
            finished_at=start + timedelta(minutes=minutes),
        )
    outsider = make_user("outsider")
    LabRun.objects.create(owner=outsider, lab="breaker", scenario_slug="s0", status="finished")
    [row] = services.lab_report(cohort)
    assert row["runs"] == 3 and row["learners"] == 3
    assert row["completion_rate"] == 67
    assert row["missed"] == [("b", 1)]
    assert row["median_minutes"] == 7.0
    client.force_login(instructor)
    html = client.get(reverse("classroom:lab_report", args=[cohort.pk])).content.decode()
    assert "breaker/s0" in html and "67%" in html and "7.0 min" in html


def test_learner_page_links_reviews_and_replays_and_edits_accommodation(
    client, answered, instructor
):
    from labs.models import LabRun
    from quizzes.models import Accommodation, Attempt

    attempt = Attempt.objects.filter(quiz_slug="quiz-0").first()
    user = attempt.user
    run = LabRun.objects.create(owner=user, lab="breaker", scenario_slug="s0", objectives_met=["a"])
    client.force_login(instructor)
    url = reverse("classroom:learner", args=[answered.pk, user.pk])
    html = client.get(url).content.decode()
    assert reverse("quizzes:review", args=[attempt.pk]) in html
    assert reverse("labs:run_replay", args=[run.pk]) in html
    assert "Submitted quiz-0" in html
    response = client.post(url, {"time_multiplier": "1.5", "extra_attempts": "2", "note": "DSA"})
    assert response.status_code == 302
    acc = Accommodation.objects.get(user=user)
    assert (acc.time_multiplier, acc.extra_attempts, acc.note) == (1.5, 2, "DSA")
    bad = client.post(url, {"time_multiplier": "0.2", "extra_attempts": "-1"})
    assert bad.status_code == 400 and "field-errors" in bad.content.decode()


def test_random_draws_count_each_question_over_the_attempts_that_saw_it(cohort, make_user):
    from quizzes.models import Response

    now = timezone.now()
    dealt = [["qa", "qb"], ["qa", "qc"], ["qa", "qb"], ["qa", "qc"]]
    for n, qids in enumerate(dealt):
        user = make_user(f"d{n}")
        Membership.objects.create(cohort=cohort, user=user)
        attempt = submitted_attempt(user, when=now, mode="practice", question_ids=qids, score=100)
        for pos, qid in enumerate(qids):
            Response.objects.create(attempt=attempt, qid=qid, position=pos, fraction=1.0)
    by_id = {q["qid"]: q for q in services.quiz_report(cohort, "quiz-0")["questions"]}
    assert (by_id["qb"]["seen"], by_id["qb"]["facility"]) == (2, 100)
    assert (by_id["qa"]["seen"], by_id["qa"]["facility"]) == (4, 100)


def test_flagged_question_links_to_its_source_when_configured(
    client, answered, instructor, settings
):
    settings.CONTENT_SOURCE_URL = "https://git.example/decoupled/blob/main/"
    client.force_login(instructor)
    html = client.get(reverse("classroom:quiz_report", args=[answered.pk, "quiz-0"])).content
    assert 'href="https://git.example/decoupled/blob/main/site/demo/m0/questions.yaml#L10"' in (
        html.decode()
    )
