"""Every classroom URL: anonymous -> log-in, learner -> 403, other instructor -> 404, staff and
the cohort's own instructors -> 200."""

from __future__ import annotations

import pytest
from django.urls import reverse

from classroom.models import Cohort, Export, Membership
from tests.classroom.conftest import fill

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(cohort, instructor, make_user):
    learners = fill(cohort, make_user, 2)
    job = Export.objects.create(
        cohort=cohort, requested_by=instructor, kind="gradebook", status="done", content="a,b\n"
    )
    return {
        "learner": learners[0],
        "other": make_user("stranger", instructor=True),
        "staff": make_user("boss", staff=True),
        "job": job,
    }


def cohort_urls(cohort, world):
    pk, uid, job = cohort.pk, world["learner"].pk, world["job"].pk
    return {
        "dashboard": reverse("classroom:dashboard", args=[pk]),
        "manage": reverse("classroom:manage", args=[pk]),
        "learner": reverse("classroom:learner", args=[pk, uid]),
        "remove_member": reverse("classroom:remove_member", args=[pk, uid]),
        "quiz_report": reverse("classroom:quiz_report", args=[pk, "quiz-0"]),
        "lab_report": reverse("classroom:lab_report", args=[pk]),
        "live": reverse("classroom:live", args=[pk]),
        "export_gradebook": reverse("classroom:export", args=[pk, "gradebook"]),
        "export_responses": reverse("classroom:export", args=[pk, "responses"]),
        "export_xapi": reverse("classroom:export", args=[pk, "xapi"]),
        "export_status": reverse("classroom:export_status", args=[pk, job]),
        "export_download": reverse("classroom:export_download", args=[pk, job]),
    }


SSE = "activity"


def all_urls(cohort, world):
    return {
        **cohort_urls(cohort, world),
        "list": reverse("classroom:list"),
        SSE: reverse("classroom:activity", args=[cohort.pk]),
    }


def test_every_classroom_url_is_covered(cohort, world):
    from classroom.urls import urlpatterns

    names = {p.name for p in urlpatterns}
    covered = {"list", "join", "leave", SSE, "export_status", "export_download", "export"}
    covered |= {n for n in cohort_urls(cohort, world) if not n.startswith("export")}
    assert names <= covered


def test_anonymous_is_sent_to_login(client, cohort, world):
    urls = {**all_urls(cohort, world), "join": reverse("classroom:join", args=[cohort.join_code])}
    for name, url in urls.items():
        response = client.get(url)
        assert response.status_code == 302, name
        assert response["Location"].startswith("/accounts/login/"), name
        assert client.post(url).status_code == 302, name


def test_learner_gets_403_even_in_their_own_cohort(client, cohort, world):
    client.force_login(world["learner"])
    for name, url in all_urls(cohort, world).items():
        assert client.get(url).status_code == 403, name


def test_other_instructor_gets_404_and_an_empty_list(client, cohort, world):
    client.force_login(world["other"])
    for name, url in cohort_urls(cohort, world).items():
        assert client.get(url).status_code == 404, name
        assert client.post(url).status_code == 404, name
    assert client.get(reverse("classroom:activity", args=[cohort.pk])).status_code == 404
    page = client.get(reverse("classroom:list"))
    assert page.status_code == 200 and "Spring" not in page.content.decode()


def test_staff_and_own_instructor_see_everything(client, cohort, world, instructor):
    for user in (world["staff"], instructor):
        client.force_login(user)
        for name, url in cohort_urls(cohort, world).items():
            assert client.get(url).status_code == 200, (user.username, name)
        assert "Spring" in client.get(reverse("classroom:list")).content.decode()


def test_learner_not_in_cohort_is_404_on_drill_down(client, cohort, world, instructor, make_user):
    outsider = make_user("outsider")
    client.force_login(instructor)
    url = reverse("classroom:learner", args=[cohort.pk, outsider.pk])
    assert client.get(url).status_code == 404


def test_co_instructor_sees_the_cohort(client, cohort, world):
    cohort.instructors.add(world["other"])
    client.force_login(world["other"])
    assert client.get(reverse("classroom:dashboard", args=[cohort.pk])).status_code == 200


def test_unknown_export_kind_and_other_cohorts_job_are_404(client, cohort, world, instructor):
    client.force_login(instructor)
    assert client.get(reverse("classroom:export", args=[cohort.pk, "nope"])).status_code == 404
    mine = Cohort.objects.create(course=cohort.course, name="Autumn")
    mine.instructors.add(instructor)
    url = reverse("classroom:export_status", args=[mine.pk, world["job"].pk])
    assert client.get(url).status_code == 404
    assert Membership.objects.filter(cohort=cohort).count() == 2
