"""One permission helper for every view.

Every view is wrapped in `@permission(RULE)`; tests walk the URL configuration and fail when a
view carries no rule, so a new view cannot ship without a decision about who may see it.

Rules:
- PUBLIC: anyone, signed in or not.
- LEARNER: any signed-in account (learners, instructors and staff all learn).
- INSTRUCTOR: members of the "instructor" group, and staff.
- STAFF: is_staff accounts only.
Object-level checks (only the owner controls a lab run, an instructor sees only their cohorts)
are made inside the view's service call and answer 404, so they do not reveal what exists.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

PUBLIC = "public"
LEARNER = "learner"
INSTRUCTOR = "instructor"
STAFF = "staff"
RULES = (PUBLIC, LEARNER, INSTRUCTOR, STAFF)
INSTRUCTOR_GROUP = "instructor"


def is_instructor(user: Any) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_staff:
        return True
    cached = getattr(user, "_is_instructor", None)
    if cached is None:
        cached = user.groups.filter(name=INSTRUCTOR_GROUP).exists()
        user._is_instructor = cached
    return cached


def role_of(user: Any) -> str:
    if not getattr(user, "is_authenticated", False):
        return "anonymous"
    if user.is_staff:
        return STAFF
    return INSTRUCTOR if is_instructor(user) else LEARNER


def allows(rule: str, user: Any) -> bool:
    if rule == PUBLIC:
        return True
    if not getattr(user, "is_authenticated", False):
        return False
    if rule == LEARNER:
        return True
    if rule == INSTRUCTOR:
        return is_instructor(user)
    return bool(user.is_staff)


def _deny(request: HttpRequest) -> Any:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    raise PermissionDenied


def permission(rule: str) -> Callable[[Callable], Callable]:
    """Wrap a view (sync or async) so it runs only for users the rule allows."""
    if rule not in RULES:
        raise ValueError(f"unknown permission rule {rule!r}; use one of {RULES}")

    def decorate(view: Callable) -> Callable:
        if inspect.iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                user = await request.auser()
                if not await _allows_async(rule, user):
                    if not user.is_authenticated:
                        return redirect_to_login(request.get_full_path())
                    raise PermissionDenied
                return await view(request, *args, **kwargs)

            async_wrapper.permission_rule = rule
            return async_wrapper

        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if not allows(rule, request.user):
                return _deny(request)
            return view(request, *args, **kwargs)

        wrapper.permission_rule = rule
        return wrapper

    return decorate


async def _allows_async(rule: str, user: Any) -> bool:
    from asgiref.sync import sync_to_async

    return await sync_to_async(allows)(rule, user)
