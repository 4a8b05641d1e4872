"""A small course (3 modules × 2 lessons, a quiz and a lab per module) and cohort builders."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from classroom.models import Cohort, Membership


@pytest.fixture
def course(db):
    from lessons.models import Course, LabScenario, Lesson, Module

    course = Course.objects.create(slug="demo", title="Demo course")
    position = 0
    for m in range(3):
        module = Module.objects.create(course=course, slug=f"m{m}", title=f"Module {m}", position=m)
        for i in range(2):
            position += 1
            Lesson.objects.create(
                course=course,
                module=module,
                slug=f"l{m}-{i}",
                title=f"Lesson {m}.{i}",
                position=position,
                quiz=f"quiz-{m}" if i == 0 else "",
                lab=f"breaker/s{m}" if i == 1 else "",
            )
        LabScenario.objects.create(
            lab="breaker", slug=f"s{m}", title=f"S{m}", scenario={"objectives": ["a", "b"]}
        )
    return course


@pytest.fixture
def instructor(make_user):
    return make_user("teacher", instructor=True)


@pytest.fixture
def cohort(course, instructor):
    cohort = Cohort.objects.create(course=course, name="Spring")
    cohort.instructors.add(instructor)
    return cohort


def submitted_attempt(user, *, when=None, mode: str = "exam", **fields):
    """A submitted first attempt at `quiz-0` (fields such as score or question_ids as given)."""
    from quizzes.models import Attempt

    when = when or timezone.now()
    return Attempt.objects.create(
        user=user,
        quiz_slug="quiz-0",
        number=1,
        mode=mode,
        started_at=when,
        submitted_at=when,
        state=Attempt.SUBMITTED,
        seed="s",
        **fields,
    )


def add_activity(user, course, *, lessons_done: int, score: float | None, objectives=(), days=0):
    """Give `user` some completed lessons, a submitted quiz attempt and a lab run."""
    from labs.models import LabRun
    from lessons.models import Lesson, LessonProgress

    when = timezone.now() - timedelta(days=days)
    for lesson in Lesson.objects.filter(course=course).order_by("position")[:lessons_done]:
        p = LessonProgress.objects.create(user=user, lesson=lesson, completed_at=when)
        LessonProgress.objects.filter(pk=p.pk).update(started_at=when)
    if score is not None:
        submitted_attempt(user, when=when, score=score, passed=score >= 50)
    if objectives:
        run = LabRun.objects.create(
            owner=user,
            lab="breaker",
            scenario_slug="s0",
            status="finished",
            objectives_met=list(objectives),
            started_at=when,
            finished_at=when + timedelta(minutes=4),
        )
        LabRun.objects.filter(pk=run.pk).update(created_at=when)


def fill(cohort, make_user, n: int, prefix: str = "learner"):
    users = []
    for i in range(n):
        user = make_user(f"{prefix}{i}")
        Membership.objects.create(cohort=cohort, user=user)
        add_activity(
            user,
            cohort.course,
            lessons_done=i % 7,
            score=(i * 13) % 100,
            objectives=["a"] if i % 2 else (),
            days=i % 10,
        )
        users.append(user)
    return users
