"""`review_due`: how many review-queue cards are due, for the header badge.

Register "quizzes.context_processors.review_due" in TEMPLATES' context_processors; the badge
markup is templates/quizzes/partials/review_badge.html (include it in `header_badges`).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def review_due(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"review_due_count": 0}
    from django.utils.functional import SimpleLazyObject

    def count() -> int:
        from quizzes.review import due_count

        try:
            return due_count(user)
        except Exception:  # the header must never break a page
            return 0

    return {"review_due_count": SimpleLazyObject(count)}  # queried only when shown
