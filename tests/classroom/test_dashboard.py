"""The dashboard: grid numbers, the at-risk rule, sorting and filtering, and a query count
that does not grow with the cohort."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from classroom import services
from classroom.models import Membership
from tests.classroom.conftest import add_activity, fill

pytestmark = pytest.mark.django_db


def enrol(cohort, user):
    Membership.objects.create(cohort=cohort, user=user)
    return user


def test_grid_numbers(cohort, make_user):
    ann = enrol(cohort, make_user("ann"))
    add_activity(ann, cohort.course, lessons_done=3, score=80, objectives=["a", "b"], days=1)
    board = services.dashboard(cohort)
    row = board.rows[0]
    assert [m["title"] for m in board.modules] == ["Module 0", "Module 1", "Module 2"]
    assert row.completion == 50  # 3 of 6 lessons
    assert [c.completion for c in row.cells] == [100, 50, 0]
    assert row.cells[0].quiz == 80 and row.cells[1].quiz is None
    assert (row.cells[0].objectives, row.cells[0].objectives_total) == (2, 2)
    assert row.days_inactive == 1
    assert board.averages["completion"] == 50


def test_at_risk_rule_and_thresholds(cohort, make_user):
    stale = enrol(cohort, make_user("stale"))  # 1 of 6 done (17%), 8 days ago
    add_activity(stale, cohort.course, lessons_done=1, score=None, days=8)
    fresh = enrol(cohort, make_user("fresh"))  # 17% but active yesterday
    add_activity(fresh, cohort.course, lessons_done=1, score=None, days=1)
    keen = enrol(cohort, make_user("keen"))  # 50%, 30 days ago
    add_activity(keen, cohort.course, lessons_done=3, score=None, days=30)
    enrol(cohort, make_user("ghost"))  # never active
    names = {r.username for r in services.dashboard(cohort).at_risk}
    assert names == {"stale", "ghost"}
    names = {r.username for r in services.dashboard(cohort, risk_days=1).at_risk}
    assert names == {"stale", "ghost", "fresh"}
    names = {r.username for r in services.dashboard(cohort, risk_completion=60).at_risk}
    assert names == {"stale", "ghost", "keen"}


def test_is_at_risk_boundaries():
    row = services.LearnerRow(1, "a", "a", [], 24, None, 0, timezone.now(), 7)
    assert services.is_at_risk(row)
    row.completion = 25
    assert not services.is_at_risk(row)
    row.completion, row.days_inactive = 0, 6
    assert not services.is_at_risk(row)


def test_risk_params_are_clamped():
    assert services.risk_params({"risk_completion": "500", "risk_days": "x"}) == (100, 7)


def test_sort_and_filter_through_the_page(client, cohort, instructor, make_user):
    fill(cohort, make_user, 6)
    client.force_login(instructor)
    url = reverse("classroom:dashboard", args=[cohort.pk])
    rows = client.get(url, {"sort": "-completion"}).context["board"].rows
    assert [r.completion for r in rows] == sorted((r.completion for r in rows), reverse=True)
    rows = client.get(url, {"sort": "name"}).context["board"].rows
    assert [r.username for r in rows] == sorted(r.username for r in rows)
    filtered = client.get(url, {"q": "learner3"})
    assert [r.username for r in filtered.context["board"].rows] == ["learner3"]
    partial = client.get(
        url, {"q": "learner3"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="progress-grid"
    )
    html = partial.content.decode()
    assert html.lstrip().startswith('<div id="progress-grid"') and "learner3" in html
    html = client.get(url).content.decode()
    assert 'class="chart-bar"' in html and "<caption>Learners by course completion" in html
    assert client.get(url, {"sort": "drop table"}).status_code == 200


def _dashboard_queries(client, cohort) -> int:
    url = reverse("classroom:dashboard", args=[cohort.pk])
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("n", [5, 50])
def test_query_count_does_not_grow_with_learners(
    n, client, cohort, instructor, make_user, django_assert_max_num_queries
):
    fill(cohort, make_user, n)
    client.force_login(instructor)
    url = reverse("classroom:dashboard", args=[cohort.pk])
    client.get(url)  # warm caches (content source) outside the count
    with django_assert_max_num_queries(20):
        response = client.get(url)
    assert len(response.context["board"].rows) == n


def test_query_count_is_the_same_for_5_and_50(client, cohort, instructor, make_user, course):
    from classroom.models import Cohort

    small = cohort
    fill(small, make_user, 5, prefix="s")
    big = Cohort.objects.create(course=course, name="Big")
    big.instructors.add(instructor)
    fill(big, make_user, 50, prefix="b")
    client.force_login(instructor)
    _dashboard_queries(client, small)
    assert _dashboard_queries(client, small) == _dashboard_queries(client, big)


def test_last_activity_uses_the_latest_of_lessons_quizzes_and_labs(cohort, make_user):
    ann = enrol(cohort, make_user("ann"))
    add_activity(ann, cohort.course, lessons_done=1, score=None, days=20)
    add_activity(ann, cohort.course, lessons_done=0, score=None, objectives=["a"], days=2)
    row = services.dashboard(cohort).rows[0]
    assert row.days_inactive == 2
    assert timezone.now() - row.last_activity < timedelta(days=3)


def test_grid_escapes_learner_names(client, cohort, instructor, make_user):
    user = enrol(cohort, make_user("mallory"))
    user.first_name = "<script>alert(1)</script>"
    user.save()
    client.force_login(instructor)
    html = client.get(reverse("classroom:dashboard", args=[cohort.pk])).content.decode()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert f'href="/classroom/{cohort.pk}/learners/{user.pk}/"' in html
