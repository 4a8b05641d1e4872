"""Authorisation matrix generated from the URL configuration at collection time.

Every route (admin excepted) x anonymous, learner (owner), other learner, instructor, other
instructor and staff, by GET and by an empty POST. A new view appears as its own cases, so a
view without `@permission(...)`, a page that leaks to the wrong role or a 500 fails the suite.

Rules checked:
- every view carries `permission_rule` (config/permissions.py);
- anonymous on a non-PUBLIC route: 302 to the log-in page, 401, 403 (or 405), never 200;
- a learner on an INSTRUCTOR/STAFF route, an instructor on a STAFF route: 403/404 (or 405);
- another learner on the owner's objects (attempt, lab run): never 200;
- another instructor on an instructor's cohort: never 200;
- nobody, on any route, by GET or POST, ever gets a 500;
- a POST without a CSRF token is refused with 403 (Client(enforce_csrf_checks=True)).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from config.permissions import INSTRUCTOR, INSTRUCTOR_GROUP, PUBLIC, RULES, STAFF
from tests.security.routes import Route, all_routes, build_url

ROUTES = all_routes()
ROLES = ("anonymous", "other", "teacher", "teacher2", "staff", "owner")  # owner last: it mutates
PRIVILEGE = {"anonymous": 0, "owner": 1, "other": 1, "teacher": 2, "teacher2": 2, "staff": 3}
NEEDS = {PUBLIC: 0, "learner": 1, INSTRUCTOR: 2, STAFF: 3}
OWNED_PARAMS = {"quizzes": {"pk"}, "labs": {"run_id"}}  # objects that belong to the owner
COHORT_PARAMS = {"pk", "cohort", "cohort_id", "cohort_pk"}
DENIED = {401, 403, 404, 405}


def _route_ids(routes: list[Route]) -> list[str]:
    return [r.id for r in routes]


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Real content, people and objects owned by them, committed for the whole module."""
    from classroom.models import Cohort, Membership
    from labs import services as lab_services
    from labs.scenarios import list_scenarios
    from lessons.loader import load
    from lessons.models import BankQuestion, Course
    from quizzes import services as quiz_services

    with django_db_blocker.unblock():
        problems, _ = load(settings.SITE_CONTENT_DIR)
        assert problems == [], problems
        users = get_user_model().objects
        group, _ = Group.objects.get_or_create(name=INSTRUCTOR_GROUP)
        people = {
            "owner": users.create_user("mx-owner", "mx-owner@example.com", "pw-Owner-1X"),
            "other": users.create_user("mx-other", "mx-other@example.com", "pw-Other-1X"),
            "teacher": users.create_user("mx-teach", "mx-teach@example.com", "pw-Teach-1X"),
            "teacher2": users.create_user("mx-teach2", "mx-teach2@example.com", "pw-Teach-1X"),
            "staff": users.create_user("mx-staff", "mx-staff@example.com", "pw-Staff-1X"),
        }
        people["staff"].is_staff = True
        people["staff"].save()
        people["teacher"].groups.add(group)
        people["teacher2"].groups.add(group)

        course = Course.objects.filter(published=True).order_by("position").first()
        lesson = course.lessons.filter(published=True).order_by("position").first()
        question = BankQuestion.objects.filter(published=True).first()
        quiz = quiz_services.list_quizzes()[0]
        attempt = quiz_services.start_attempt(people["owner"], quiz["slug"])
        scenario = list_scenarios()[0]
        run = lab_services.start_run(
            people["owner"], scenario.lab, scenario.slug, seed=1, enqueue=False
        )
        cohort = Cohort.objects.create(course=course, name="Matrix cohort")
        cohort.instructors.add(people["teacher"])
        Membership.objects.create(cohort=cohort, user=people["owner"])
        asset = next(
            (
                p.relative_to(course.source_dir).as_posix()
                for p in sorted(Path(course.source_dir).rglob("*"))
                if p.suffix.lower() in {".svg", ".png", ".jpg", ".jpeg", ".gif", ".webp"}
            ),
            "missing.png",
        )
        values = {
            "lessons": {
                "course": course.slug,
                "slug": lesson.slug,
                "rel": asset,
                "qid": question.qid if question else "x",
            },
            "quizzes": {"pk": attempt.pk, "slug": quiz["slug"], "qid": attempt.question_ids[0]},
            "labs": {
                "run_id": run.pk,
                "action": "pause",
                "lab": scenario.lab,
                "scenario": scenario.slug,
            },
            "classroom": {
                "pk": cohort.pk,
                "cohort": cohort.pk,
                "cohort_id": cohort.pk,
                "cohort_pk": cohort.pk,
                "code": cohort.join_code,
                "join_code": cohort.join_code,
                "course": course.slug,
                "user_id": people["owner"].pk,
            },
        }
        try:
            yield {"people": people, "values": values}
        finally:
            for user in people.values():
                user.delete()
            Cohort.objects.filter(pk=cohort.pk).delete()
            Course.objects.all().delete()


def client_for(world, role: str, **kwargs) -> Client:
    client = Client(raise_request_exception=False, **kwargs)
    if role != "anonymous":
        client.force_login(world["people"][role])
    return client


def _login_redirect(response) -> bool:
    return response.status_code == 302 and settings.LOGIN_URL in response.get("Location", "")


def _explain(response) -> str:
    exc = getattr(response, "exc_info", None)
    return (
        f"{response.status_code} ({exc[0].__name__}: {exc[1]})"
        if exc
        else str(response.status_code)
    )


def _owned(route: Route, exact: bool) -> bool:
    names = {name for _conv, name in route.params}
    return exact and bool(names & OWNED_PARAMS.get(route.namespace, set()))


def check_response(route: Route, role: str, method: str, response, exact: bool) -> str | None:
    """A problem description, or None when the answer is acceptable for this role."""
    code = response.status_code
    rule = route.rule
    if code >= 500 and (code != 503 or getattr(response, "exc_info", None)):
        # 503 is a deliberate answer (health check, lab service unavailable); a crash is not.
        return f"{method} as {role}: {_explain(response)}"
    if rule not in RULES:
        return None  # reported by test_every_route_declares_a_permission_rule
    if role == "anonymous" and rule != PUBLIC:
        if not (_login_redirect(response) or code in DENIED):
            return f"{method} as anonymous on a {rule} route answered {code}"
    elif PRIVILEGE[role] < NEEDS[rule] and code not in DENIED:
        return f"{method} as {role} on a {rule} route answered {code} (expected 403/404)"
    if role == "other" and _owned(route, exact) and code == 200:
        return f"{method} as another learner on the owner's object answered 200"
    if (
        role == "teacher2"
        and route.namespace == "classroom"
        and exact
        and {n for _c, n in route.params} & COHORT_PARAMS
        and code == 200
    ):
        return f"{method} as another instructor on a colleague's cohort answered 200"
    return None


@pytest.mark.parametrize("route", ROUTES, ids=_route_ids(ROUTES))
def test_every_route_declares_a_permission_rule(route: Route):
    assert route.rule in RULES, (
        f"{route.id} ({route.view.__module__}.{route.view.__name__}) has no @permission(...)"
    )


@pytest.mark.django_db
@pytest.mark.parametrize("route", ROUTES, ids=_route_ids(ROUTES))
def test_get_as_every_role(route: Route, world, redis_client):
    url, exact = build_url(route, world["values"])
    problems = []
    for role in ROLES:
        response = client_for(world, role).get(url)
        problem = check_response(route, role, "GET", response, exact)
        if problem:
            problems.append(problem)
    assert not problems, f"{url}: " + "; ".join(problems)


@pytest.mark.django_db
@pytest.mark.parametrize("route", ROUTES, ids=_route_ids(ROUTES))
def test_empty_post_as_every_role(route: Route, world, redis_client):
    url, exact = build_url(route, world["values"])
    problems = []
    for role in ROLES:
        response = client_for(world, role).post(url, {})
        problem = check_response(route, role, "POST", response, exact)
        if problem:
            problems.append(problem)
    assert not problems, f"{url}: " + "; ".join(problems)


@pytest.mark.django_db
@pytest.mark.parametrize("route", ROUTES, ids=_route_ids(ROUTES))
def test_post_without_csrf_token_is_refused(route: Route, world, redis_client):
    url, _exact = build_url(route, world["values"])
    for role in ("anonymous", "owner"):
        response = client_for(world, role, enforce_csrf_checks=True).post(url, {})
        if getattr(route.view, "csrf_exempt", False):
            # An exempt view must not accept a state-changing POST at all.
            assert response.status_code in (401, 403, 405), (url, role, response.status_code)
        else:
            assert response.status_code == 403, (
                f"{url}: POST without CSRF token as {role} answered {_explain(response)}"
            )


def test_the_matrix_sees_every_app():
    """The walk reaches each app's URLs (a broken include would silently shrink the matrix)."""
    namespaces = {r.namespace for r in ROUTES}
    assert {"", "lessons", "quizzes", "labs"} <= namespaces, namespaces
    assert not any(r.namespace == "admin" for r in ROUTES)
