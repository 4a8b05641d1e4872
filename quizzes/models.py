"""Quiz attempts, their responses, learner accommodations and review-queue cards.

Questions and quiz definitions are not stored here: they come from the site content through
`quizzes.source`. An attempt keeps the ordered question ids it was dealt and a shuffle seed,
so the same page is rebuilt on reload.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Attempt(models.Model):
    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"
    STATES = [(IN_PROGRESS, "In progress"), (SUBMITTED, "Submitted")]

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quiz_attempts"
    )
    quiz_slug = models.CharField(max_length=200, db_index=True)
    number = models.PositiveIntegerField()
    mode = models.CharField(max_length=10)  # practice | exam
    started_at = models.DateTimeField()
    deadline = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=20, choices=STATES, default=IN_PROGRESS, db_index=True)
    auto_submitted = models.BooleanField(default=False)
    question_ids = models.JSONField(default=list)
    seed = models.CharField(max_length=40)
    score = models.FloatField(null=True, blank=True)  # percent 0..100
    passed = models.BooleanField(null=True, blank=True)

    class Meta:
        ordering = ["user", "quiz_slug", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "quiz_slug", "number"], name="quizzes_attempt_unique_number"
            )
        ]

    def __str__(self) -> str:
        return f"{self.quiz_slug} #{self.number} ({self.user_id})"

    @property
    def is_open(self) -> bool:
        return self.state == self.IN_PROGRESS


class Response(models.Model):
    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="responses")
    qid = models.CharField(max_length=200)
    position = models.PositiveIntegerField()
    response = models.JSONField(null=True, blank=True)  # bank-index space (grading.from_display)
    tries = models.PositiveIntegerField(default=0)  # practice: graded checks so far
    grade = models.JSONField(null=True, blank=True)  # grading.Grade.to_dict()
    fraction = models.FloatField(null=True, blank=True)  # mark 0..1 (practice: after penalty)
    finished = models.BooleanField(default=False)  # practice: no more tries / right
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["attempt", "position"]
        constraints = [
            models.UniqueConstraint(fields=["attempt", "qid"], name="quizzes_response_unique")
        ]

    def __str__(self) -> str:
        return f"{self.attempt_id}:{self.qid}"


class Accommodation(models.Model):
    """Per-learner arrangements, read by the instructor dashboard too."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quiz_accommodation"
    )
    time_multiplier = models.FloatField(default=1.0)
    extra_attempts = models.PositiveIntegerField(default=0)
    note = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"{self.user_id}: ×{self.time_multiplier}, +{self.extra_attempts}"


class ReviewCard(models.Model):
    """One FSRS card per (learner, question), created when a question is answered wrong."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="review_cards"
    )
    qid = models.CharField(max_length=200)
    card = models.JSONField()  # fsrs.Card.to_dict()
    due = models.DateTimeField(db_index=True)
    reviews = models.PositiveIntegerField(default=0)
    lapses = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due"]
        constraints = [
            models.UniqueConstraint(fields=["user", "qid"], name="quizzes_reviewcard_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.qid} due {self.due:%Y-%m-%d %H:%M}"
