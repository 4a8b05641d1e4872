from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from config.permissions import is_instructor, role_of


def site(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    return {
        "user_role": role_of(user),
        "user_is_instructor": is_instructor(user),
    }
