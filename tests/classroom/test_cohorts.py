"""Creating cohorts, joining by link, CSV enrolment with a per-row report, co-instructors."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from classroom import services
from classroom.models import Cohort, Membership

pytestmark = pytest.mark.django_db


def test_instructor_creates_a_cohort_with_a_unique_code(client, course, instructor):
    client.force_login(instructor)
    response = client.post(reverse("classroom:list"), {"course": course.pk, "name": "Spring 27"})
    cohort = Cohort.objects.get(name="Spring 27")
    assert response.status_code == 302
    assert list(cohort.instructors.all()) == [instructor]
    assert len(cohort.join_code) == 10
    other = Cohort.objects.create(course=course, name="Other")
    assert other.join_code != cohort.join_code


def test_create_form_errors_are_inline(client, course, instructor):
    client.force_login(instructor)
    response = client.post(reverse("classroom:list"), {"course": "", "name": "x"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "field-errors" in html and "at least 3 characters" in html
    assert not Cohort.objects.exists()


def test_learner_joins_by_link_and_twice_is_harmless(client, cohort, make_user):
    learner = make_user("ann")
    client.force_login(learner)
    url = reverse("classroom:join", args=[cohort.join_code])
    page = client.get(url)
    assert page.status_code == 200 and "Join Spring" in page.content.decode()
    assert client.post(url).status_code == 302
    assert client.post(url).status_code == 302
    assert Membership.objects.filter(cohort=cohort, user=learner).count() == 1


def test_learner_may_be_in_several_cohorts(cohort, course, make_user):
    learner = make_user("ann")
    second = Cohort.objects.create(course=course, name="Evening")
    assert services.join(learner, cohort.join_code)[1]
    assert services.join(learner, second.join_code.lower())[1]
    assert learner.cohort_memberships.count() == 2


def test_bad_join_code_says_so(client, make_user):
    client.force_login(make_user("ann"))
    response = client.get(reverse("classroom:join", args=["NOPE"]))
    assert response.status_code == 404
    assert "join link does not work" in response.content.decode()


def test_csv_enrol_reports_each_row(client, cohort, instructor, make_user):
    make_user("ann")
    bob = make_user("bob")
    make_user("cat")
    Membership.objects.create(cohort=cohort, user=bob)
    raw = (
        b"username\n"
        b"ann\n"
        b"BOB@example.com\n"  # e-mail, any case; already a member
        b"cat@example.com\n"
        b"ghost\n"
        b"two,cells\n"
        b"\n"
        b"has space\n"
        b"ann\n"  # repeated in the file
    )
    client.force_login(instructor)
    upload = SimpleUploadedFile("people.csv", raw, content_type="text/csv")
    response = client.post(reverse("classroom:manage", args=[cohort.pk]), {"file": upload})
    assert response.status_code == 200
    report = [(r.line, r.value, r.outcome) for r in response.context["report"]]
    assert report == [
        (2, "ann", "enrolled"),
        (3, "BOB@example.com", "already a member"),
        (4, "cat@example.com", "enrolled"),
        (5, "ghost", "unknown user"),
        (6, "two", "invalid row"),
        (8, "has space", "invalid row"),
        (9, "ann", "already a member"),
    ]
    assert set(cohort.memberships.values_list("user__username", flat=True)) == {"ann", "bob", "cat"}
    assert "unknown user" in response.content.decode()


def test_csv_too_large_or_not_text_is_refused(client, cohort, instructor):
    client.force_login(instructor)
    url = reverse("classroom:manage", args=[cohort.pk])
    big = SimpleUploadedFile("big.csv", b"a\n" * (600 * 1024), content_type="text/csv")
    response = client.post(url, {"file": big})
    assert response.status_code == 400 and "larger than 1 MB" in response.content.decode()
    binary = SimpleUploadedFile("x.csv", b"\xff\xfe\x00bad", content_type="text/csv")
    response = client.post(url, {"file": binary})
    assert response.status_code == 400 and "not UTF-8" in response.content.decode()
    assert not cohort.memberships.exists()


def test_add_co_instructor_by_username(client, cohort, instructor, make_user):
    make_user("helper", instructor=True)
    make_user("pupil")
    client.force_login(instructor)
    url = reverse("classroom:manage", args=[cohort.pk])
    assert client.post(url, {"username": "helper"}).status_code == 302
    assert cohort.instructors.filter(username="helper").exists()
    response = client.post(url, {"username": "pupil"})
    assert response.status_code == 400 and "not an instructor" in response.content.decode()
    response = client.post(url, {"username": "nobody"})
    assert response.status_code == 400 and "No account" in response.content.decode()
