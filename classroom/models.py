"""Cohorts of learners taking a course together, their instructors, memberships, exports."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.urls import reverse

JOIN_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def new_join_code() -> str:
    return "".join(secrets.choice(JOIN_CODE_ALPHABET) for _ in range(10))


class Cohort(models.Model):
    course = models.ForeignKey("lessons.Course", on_delete=models.CASCADE, related_name="cohorts")
    name = models.CharField(max_length=120)
    join_code = models.CharField(max_length=16, unique=True, default=new_join_code)
    instructors = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="teaching_cohorts", blank=True
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("classroom:dashboard", args=[self.pk])

    @property
    def join_path(self) -> str:
        return reverse("classroom:join", args=[self.join_code])


class Membership(models.Model):
    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cohort_memberships"
    )
    joined = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["cohort", "user"]
        constraints = [
            models.UniqueConstraint(fields=["cohort", "user"], name="classroom_membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.cohort_id}"


class Export(models.Model):
    """A gradebook / responses / xAPI export built by a Celery task."""

    KINDS = [("gradebook", "Gradebook CSV"), ("responses", "Quiz responses CSV"), ("xapi", "xAPI")]
    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="exports")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    kind = models.CharField(max_length=20, choices=KINDS)
    status = models.CharField(max_length=10, default="queued")  # queued|running|done|failed
    progress = models.PositiveIntegerField(default=0)  # percent
    content = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind} export of {self.cohort_id} ({self.status})"
