"""Courses, modules and lessons loaded from site/ (see lessons/loader.py), reading progress,
and the question banks, quizzes and lab scenarios other apps read."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse


class Course(models.Model):
    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0)
    source_dir = models.CharField(max_length=500, blank=True)
    # [{slug, title, summary, lessons: [{id, slug, title, minutes}]}]: the sidebar, stored at load
    outline = models.JSONField(default=list, blank=True)
    published = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "slug"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("lessons:course", args=[self.slug])

    @property
    def lesson_count(self) -> int:
        return sum(len(m["lessons"]) for m in self.outline)


class Module(models.Model):
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="modules")
    slug = models.SlugField()
    folder = models.CharField(max_length=200, blank=True)
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0)
    published = models.BooleanField(default=True)

    class Meta:
        ordering = ["course", "position"]
        constraints = [
            models.UniqueConstraint(fields=["course", "slug"], name="lessons_module_unique_slug")
        ]

    def __str__(self) -> str:
        return self.title


class Lesson(models.Model):
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="lessons")
    module = models.ForeignKey(Module, on_delete=models.CASCADE, related_name="lessons")
    slug = models.SlugField()
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    minutes = models.PositiveIntegerField(default=0)
    objectives = models.JSONField(default=list, blank=True)
    topics = models.JSONField(default=list, blank=True)
    prerequisites = models.JSONField(default=list, blank=True)
    lab = models.CharField(max_length=200, blank=True)
    quiz = models.CharField(max_length=200, blank=True)
    position = models.PositiveIntegerField(default=0)  # order across the whole course
    body_md = models.TextField(blank=True)
    html = models.TextField(blank=True)
    toc = models.JSONField(default=list, blank=True)  # [{id, name, level}]
    headings = models.TextField(blank=True)
    plain_text = models.TextField(blank=True)
    has_mermaid = models.BooleanField(default=False)
    source_path = models.CharField(max_length=500, blank=True)
    rev = models.CharField(max_length=40, blank=True)  # hash of the loaded content
    published = models.BooleanField(default=True)

    class Meta:
        ordering = ["course", "position"]
        constraints = [
            models.UniqueConstraint(fields=["course", "slug"], name="lessons_lesson_unique_slug")
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("lessons:lesson", args=[self.course.slug, self.slug])

    @property
    def lab_url(self) -> str:
        return f"/labs/{self.lab}/" if self.lab else ""

    @property
    def quiz_url(self) -> str:
        return f"/quizzes/{self.quiz}/" if self.quiz else ""


class LessonProgress(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lesson_progress"
    )
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="progress")
    started_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    seconds_spent = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "lesson"], name="lessons_progress_unique")
        ]
        indexes = [models.Index(fields=["lesson", "completed_at"])]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.lesson_id}"


def _touch_update_fields(kwargs: dict) -> None:
    """save(update_fields=[...]) writes only those fields: add ``updated_at`` (auto_now)."""
    fields = kwargs.get("update_fields")
    if fields is not None:
        kwargs["update_fields"] = {*fields, "updated_at"}


class BankQuestion(models.Model):
    qid = models.CharField(max_length=200, unique=True)
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="questions")
    module = models.ForeignKey(Module, on_delete=models.SET_NULL, null=True, blank=True)
    type = models.CharField(max_length=20)
    data = models.JSONField()
    topics = models.JSONField(default=list)
    difficulty = models.CharField(max_length=10)
    lesson_slug = models.CharField(max_length=200, blank=True)
    anchor = models.CharField(max_length=200, blank=True)
    source_path = models.CharField(max_length=500, blank=True)
    source_line = models.PositiveIntegerField(default=0)
    published = models.BooleanField(default=True)
    # Bumped by every save(), also save(update_fields=...) (load_site): quizzes.source's cache
    # signature includes the highest value, so a question edited in place shows at once.
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.qid

    def save(self, *args, **kwargs):
        _touch_update_fields(kwargs)
        super().save(*args, **kwargs)


class QuizSpec(models.Model):
    slug = models.SlugField(max_length=200, unique=True)
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="quiz_specs")
    module = models.ForeignKey(Module, on_delete=models.SET_NULL, null=True, blank=True)
    data = models.JSONField()
    source_path = models.CharField(max_length=500, blank=True)
    source_line = models.PositiveIntegerField(default=0)
    published = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)  # see BankQuestion.updated_at

    def __str__(self) -> str:
        return self.slug

    def save(self, *args, **kwargs):
        _touch_update_fields(kwargs)
        super().save(*args, **kwargs)


class LabScenario(models.Model):
    lab = models.CharField(max_length=100)
    slug = models.SlugField(max_length=200)
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    brief_html = models.TextField(blank=True)
    duration_s = models.PositiveIntegerField(default=0)
    scenario = models.JSONField(default=dict)
    source_path = models.CharField(max_length=500, blank=True)
    published = models.BooleanField(default=True)

    class Meta:
        ordering = ["lab", "slug"]
        constraints = [
            models.UniqueConstraint(fields=["lab", "slug"], name="lessons_labscenario_unique")
        ]

    def __str__(self) -> str:
        return f"{self.lab}/{self.slug}"
