"""A lab run: one learner's live simulation. Its live state is in Redis; this row is the record."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class LabRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"

    ACTIVE = (Status.QUEUED, Status.RUNNING, Status.PAUSED)
    TERMINAL = (Status.FINISHED, Status.FAILED, Status.EXPIRED)
    MIN_SPEED = 0.25
    MAX_SPEED = 10.0

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lab_runs"
    )
    lab = models.SlugField(max_length=64)
    scenario_slug = models.SlugField(max_length=100)
    scenario = models.JSONField(default=dict)
    duration_s = models.PositiveIntegerField(default=300)
    seed = models.BigIntegerField(default=0)
    speed = models.FloatField(default=1.0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    sim_ms = models.BigIntegerField(default=0)
    tick_seq = models.PositiveIntegerField(default=0)
    objectives_met = models.JSONField(default=list, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    command_log = models.JSONField(default=list, blank=True)
    failure_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "status"]), models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"{self.lab}/{self.scenario_slug} run {self.id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL

    @property
    def duration_ms(self) -> int:
        return self.duration_s * 1000
