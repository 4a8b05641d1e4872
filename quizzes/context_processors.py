"""`review_due`: how many review-queue cards are due, for the header badge.

Register "quizzes.context_processors.review_due" in TEMPLATES' context_processors; the badge
markup is templates/quizzes/partials/review_badge.html (include it in `header_badges`).
"""

from __future__ import annotations

import functools
from typing import Any

from django.http import HttpRequest


def review_due(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"review_due_count": 0}

    @functools.cache
    def count() -> int:
        from quizzes.review import due_count

        try:
            return due_count(user)
        except Exception:  # the header must never break a page
            return 0

    # Templates call a callable variable: the count is queried only when a page shows it.
    return {"review_due_count": count}
