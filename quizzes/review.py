"""The review queue: questions answered wrong come back on an FSRS-6 schedule (`fsrs`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from fsrs import Card, Rating, Scheduler

from quizzes.models import ReviewCard


def scheduler() -> Scheduler:
    """Fuzzing off when settings.QUIZ_REVIEW_FUZZ is False (the tests), on otherwise."""
    return Scheduler(enable_fuzzing=getattr(settings, "QUIZ_REVIEW_FUZZ", True))


def schedule_wrong(user: Any, qid: str, now: datetime | None = None) -> ReviewCard:
    """Put a wrongly answered question in the learner's queue (a new card is due now).

    An existing card is rated Again, so it comes back soon.
    """
    now = now or timezone.now()
    existing = ReviewCard.objects.filter(user=user, qid=qid).first()
    if existing:
        return rate(existing, right=False, now=now)
    card = Card(due=now)
    try:
        with transaction.atomic():
            return ReviewCard.objects.create(user=user, qid=qid, card=card.to_dict(), due=card.due)
    except IntegrityError:  # created meanwhile by a concurrent answer
        return ReviewCard.objects.get(user=user, qid=qid)


def rate(row: ReviewCard, *, right: bool, now: datetime | None = None) -> ReviewCard:
    now = now or timezone.now()
    card = Card.from_dict(row.card)
    card, _log = scheduler().review_card(card, Rating.Good if right else Rating.Again, now)
    row.card = card.to_dict()
    row.due = card.due
    row.reviews += 1
    row.lapses += 0 if right else 1
    row.save(update_fields=["card", "due", "reviews", "lapses"])
    return row


def due_cards(user: Any, now: datetime | None = None):
    return ReviewCard.objects.filter(user=user, due__lte=now or timezone.now()).order_by("due")


def due_count(user: Any, now: datetime | None = None) -> int:
    if not getattr(user, "is_authenticated", False):
        return 0
    return due_cards(user, now).count()
