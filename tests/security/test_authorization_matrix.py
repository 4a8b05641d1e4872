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

import pytest
from django.conf import settings

from config.permissions import INSTRUCTOR, PUBLIC, RULES, STAFF
from tests.security.routes import Route, all_routes, build_url, client_for

ROUTES = all_routes()
ROLES = ("anonymous", "other", "teacher", "teacher2", "staff", "owner")  # owner last: it mutates
PRIVILEGE = {"anonymous": 0, "owner": 1, "other": 1, "teacher": 2, "teacher2": 2, "staff": 3}
NEEDS = {PUBLIC: 0, "learner": 1, INSTRUCTOR: 2, STAFF: 3}
# objects that belong to the owner; classroom: the owner's membership (classroom:leave), the
# other classroom routes are INSTRUCTOR-only, where a learner gets 403 anyway
OWNED_PARAMS = {"quizzes": {"pk"}, "labs": {"run_id"}, "classroom": {"pk"}}
COHORT_PARAMS = {"pk", "cohort", "cohort_id", "cohort_pk"}
DENIED = {401, 403, 404, 405}


def _route_ids(routes: list[Route]) -> list[str]:
    return [r.id for r in routes]


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
