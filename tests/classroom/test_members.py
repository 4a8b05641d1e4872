"""Removing a learner from a cohort (its instructors) and leaving one (the learner).

Only the membership goes: progress and attempts stay, and the cohort's instructors stop
teaching the learner (services.teaches, the drill-down page, the learner's lab runs)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from playwright.sync_api import expect

from classroom import services
from classroom.models import Cohort, Membership
from tests.classroom.conftest import add_activity

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(cohort, make_user):
    user = make_user("remy")
    user.first_name, user.last_name = "Remy", "Learner"
    user.save()
    Membership.objects.create(cohort=cohort, user=user)
    add_activity(user, cohort.course, lessons_done=2, score=80, objectives=["a"])
    return user


def remove_url(cohort, user) -> str:
    return reverse("classroom:remove_member", args=[cohort.pk, user.pk])


def leave_url(cohort) -> str:
    return reverse("classroom:leave", args=[cohort.pk])


def kept_data(user) -> tuple[int, int, int]:
    from labs.models import LabRun
    from lessons.models import LessonProgress
    from quizzes.models import Attempt

    return (
        LessonProgress.objects.filter(user=user).count(),
        Attempt.objects.filter(user=user).count(),
        LabRun.objects.filter(owner=user).count(),
    )


def test_instructor_confirms_then_removes(client, cohort, instructor, member):
    client.force_login(instructor)
    before = kept_data(member)
    assert before == (2, 1, 1)
    assert services.teaches(instructor, member.pk)
    manage = client.get(reverse("classroom:manage", args=[cohort.pk])).content.decode()
    assert f'href="{remove_url(cohort, member)}"' in manage
    confirm = client.get(remove_url(cohort, member))
    assert confirm.status_code == 200
    assert "Remove Remy Learner from Spring?" in confirm.content.decode()
    # a POST without the confirmation (e.g. a stray form) removes nothing
    unconfirmed = client.post(remove_url(cohort, member), {})
    assert unconfirmed.status_code == 400
    assert Membership.objects.filter(cohort=cohort, user=member).exists()
    done = client.post(remove_url(cohort, member), {"confirm": "remove"}, follow=True)
    assert done.redirect_chain == [(reverse("classroom:manage", args=[cohort.pk]), 302)]
    page = done.content.decode()
    assert "Remy Learner was removed from Spring." in page
    assert "No learners yet." in page
    assert not Membership.objects.filter(cohort=cohort, user=member).exists()
    assert kept_data(member) == before
    assert not services.teaches(instructor, member.pk)
    drill = reverse("classroom:learner", args=[cohort.pk, member.pk])
    assert client.get(drill).status_code == 404
    # a second removal of the same learner: nothing to remove, 404 (not a 500)
    assert client.post(remove_url(cohort, member), {"confirm": "remove"}).status_code == 404


def test_instructor_reads_a_members_attempt_review_until_removed(
    client, cohort, instructor, member, make_user
):
    from quizzes.models import Attempt

    attempt = Attempt.objects.get(user=member)
    review = reverse("quizzes:review", args=[attempt.pk])
    client.force_login(instructor)
    learner_page = client.get(reverse("classroom:learner", args=[cohort.pk, member.pk]))
    assert f'href="{review}"' in learner_page.content.decode()
    page = client.get(review)
    assert page.status_code == 200
    assert "Review of attempt 1 by Remy Learner" in page.content.decode()
    client.force_login(make_user("not-theirs", instructor=True))
    assert client.get(review).status_code == 404
    client.force_login(make_user("classmate"))
    assert client.get(review).status_code == 404
    services.remove_member(cohort, member.pk)
    client.force_login(instructor)
    assert client.get(review).status_code == 404
    client.force_login(member)  # still the learner's own
    page = client.get(review)
    assert page.status_code == 200 and "Review of attempt 1</h1>" in page.content.decode()


def test_removed_learners_lab_run_is_hidden_from_the_instructor(cohort, instructor, member):
    from django.http import Http404

    from labs.models import LabRun
    from labs.services import visible_run

    run = LabRun.objects.get(owner=member)
    assert visible_run(instructor, run.pk) == run
    services.remove_member(cohort, member.pk)
    with pytest.raises(Http404):
        visible_run(instructor, run.pk)
    assert visible_run(member, run.pk) == run  # still the learner's own


def test_co_instructor_may_remove(client, cohort, member, make_user):
    co = make_user("co-teacher", instructor=True)
    cohort.instructors.add(co)
    client.force_login(co)
    response = client.post(remove_url(cohort, member), {"confirm": "remove"})
    assert response.status_code == 302
    assert not cohort.memberships.filter(user=member).exists()


def test_other_instructor_learner_and_anonymous_are_refused(client, cohort, member, make_user):
    other = make_user("elsewhere", instructor=True)
    mine = Cohort.objects.create(course=cohort.course, name="Theirs")
    mine.instructors.add(other)
    url = remove_url(cohort, member)
    client.force_login(other)
    assert client.get(url).status_code == 404
    assert client.post(url, {"confirm": "remove"}).status_code == 404
    # their own cohort's pk with a learner who is not in it: 404 too
    assert client.post(remove_url(mine, member), {"confirm": "remove"}).status_code == 404
    client.force_login(member)  # a learner, even the one concerned
    assert client.get(url).status_code == 403
    assert client.post(url, {"confirm": "remove"}).status_code == 403
    client.logout()
    response = client.post(url, {"confirm": "remove"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert cohort.memberships.filter(user=member).exists()


def test_remove_needs_a_csrf_token(cohort, instructor, member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(instructor)
    assert client.post(remove_url(cohort, member), {"confirm": "remove"}).status_code == 403
    assert cohort.memberships.filter(user=member).exists()


def test_teaches_stays_true_through_another_shared_cohort(cohort, instructor, member):
    other = Cohort.objects.create(course=cohort.course, name="Evening")
    other.instructors.add(instructor)
    Membership.objects.create(cohort=other, user=member)
    services.remove_member(cohort, member.pk)
    assert services.teaches(instructor, member.pk)
    services.remove_member(other, member.pk)
    assert not services.teaches(instructor, member.pk)


# --- a learner leaves --------------------------------------------------------------------------


def test_learner_leaves_a_cohort(client, cohort, instructor, member):
    client.force_login(member)
    before = kept_data(member)
    join_page = client.get(reverse("classroom:join", args=[cohort.join_code])).content.decode()
    assert f'href="{leave_url(cohort)}"' in join_page
    assert client.get(leave_url(cohort)).status_code == 200
    assert client.post(leave_url(cohort), {}).status_code == 400
    assert cohort.memberships.filter(user=member).exists()
    done = client.post(leave_url(cohort), {"confirm": "leave"}, follow=True)
    assert done.redirect_chain[0] == (cohort.course.get_absolute_url(), 302)
    assert "You left Spring." in done.content.decode()
    assert not cohort.memberships.filter(user=member).exists()
    assert kept_data(member) == before
    assert not services.teaches(instructor, member.pk)
    assert client.get(leave_url(cohort)).status_code == 404  # no longer a member


def test_leave_refuses_non_members_and_anonymous(client, cohort, instructor, member, make_user):
    outsider = make_user("outsider")
    for user in (outsider, instructor):  # the instructor teaches it but is not a member
        client.force_login(user)
        assert client.get(leave_url(cohort)).status_code == 404
        assert client.post(leave_url(cohort), {"confirm": "leave"}).status_code == 404
    client.logout()
    response = client.post(leave_url(cohort), {"confirm": "leave"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert cohort.memberships.filter(user=member).exists()
    bad = reverse("classroom:leave", args=[999999])
    client.force_login(member)
    assert client.get(bad).status_code == 404


# --- in Chromium -----------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_remove_a_member_in_chromium(asgi_server, page, login_as, cohort, instructor, member):
    login_as(page, instructor)
    page.goto(f"{asgi_server}/classroom/{cohort.pk}/manage/")
    page.get_by_role("link", name="Remove Remy Learner from the cohort").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Remove Remy Learner from Spring?")
    page.get_by_role("button", name="Remove from cohort").click()
    expect(page.locator(".messages")).to_contain_text("Remy Learner was removed from Spring.")
    expect(page.locator(".member-list")).to_contain_text("No learners yet.")
    assert not Membership.objects.filter(cohort=cohort, user=member).exists()
    assert not services.teaches(instructor, member.pk)
