"""Gradebook CSV, responses CSV, xAPI statements; the Celery path with its progress page."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest
from django.urls import reverse

from classroom import exports
from classroom.models import Export, Membership
from tests.classroom.conftest import fill


@pytest.mark.django_db
def test_gradebook_has_a_row_per_learner_and_columns_per_module_quiz_lab(
    client, cohort, instructor, make_user
):
    users = fill(cohort, make_user, 4)
    users[0].username = "=HYPERLINK(1)"
    users[0].save()
    client.force_login(instructor)
    response = client.get(reverse("classroom:export", args=[cohort.pk, "gradebook"]))
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    header, body = rows[0], rows[1:]
    assert len(body) == 4
    assert "module: Module 0 %" in header and "quiz: quiz-0 best %" in header
    assert "lab: breaker/s0 objectives" in header
    by_name = {r[0]: dict(zip(header, r, strict=True)) for r in body}
    assert "'=HYPERLINK(1)" in by_name  # spreadsheet formulas are neutralised
    assert by_name["learner3"]["quiz: quiz-0 best %"] == "39"
    assert by_name["learner3"]["lab: breaker/s0 objectives"] == "1"
    assert by_name["learner3"]["completion %"] == "50"


@pytest.mark.django_db
def test_responses_csv_and_xapi(cohort, make_user):
    from quizzes.models import Attempt, Response

    fill(cohort, make_user, 2)
    attempt = Attempt.objects.filter(user__username="learner1").get()
    Response.objects.create(attempt=attempt, qid="q1", position=0, response=[2], fraction=1.0)
    rows = list(csv.reader(io.StringIO(exports.responses_csv(cohort))))
    assert rows[0][0] == "username" and rows[1][:2] == ["learner1", "quiz-0"]
    assert rows[1][4:] == ["q1", "[2]", "1"]

    statements = exports.xapi_statements(cohort)
    verbs = {s["verb"]["id"] for s in statements}
    assert "http://adlnet.gov/expapi/verbs/completed" in verbs
    assert "http://adlnet.gov/expapi/verbs/experienced" in verbs
    assert "http://adlnet.gov/expapi/verbs/answered" in verbs
    assert verbs & {
        "http://adlnet.gov/expapi/verbs/passed",
        "http://adlnet.gov/expapi/verbs/failed",
    }
    for s in statements:
        assert {"actor", "verb", "object", "timestamp"} <= set(s)
        assert s["actor"]["account"]["name"] in {"learner0", "learner1"}
    quiz = next(s for s in statements if s["object"]["id"].endswith("/quizzes/quiz-0/"))
    assert 0 <= quiz["result"]["score"]["scaled"] <= 1
    json.dumps(statements)  # serialisable


@pytest.mark.django_db
def test_large_cohort_export_asks_for_a_background_job(client, cohort, instructor, monkeypatch):
    monkeypatch.setattr(exports, "DIRECT_LIMIT", -1)
    client.force_login(instructor)
    page = client.get(reverse("classroom:export", args=[cohort.pk, "xapi"]))
    assert page.status_code == 200 and "Build the export" in page.content.decode()


@pytest.mark.django_db(transaction=True)
def test_celery_export_reports_progress_and_downloads(
    client, celery_worker, course, make_user, redis_client
):
    from classroom.models import Cohort

    teacher = make_user("teacher", instructor=True)
    cohort = Cohort.objects.create(course=course, name="Big")
    cohort.instructors.add(teacher)
    fill(cohort, make_user, 3)
    client.force_login(teacher)
    response = client.post(reverse("classroom:export", args=[cohort.pk, "gradebook"]))
    assert response.status_code == 302
    job = Export.objects.get(cohort=cohort)
    status_url = reverse("classroom:export_status", args=[cohort.pk, job.pk])
    assert response["Location"] == status_url
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        partial = client.get(status_url, HTTP_HX_REQUEST="true").content.decode()
        if "Download" in partial:
            break
        assert 'hx-trigger="every 1s"' in partial or "failed" not in partial
        time.sleep(0.3)
    assert "Download" in partial
    download = client.get(reverse("classroom:export_download", args=[cohort.pk, job.pk]))
    rows = list(csv.reader(io.StringIO(download.content.decode())))
    assert len(rows) == 1 + Membership.objects.filter(cohort=cohort).count()
