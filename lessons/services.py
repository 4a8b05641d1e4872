"""Reading progress and the catalog: the queries the pages and other apps use."""

from __future__ import annotations

from html import escape

from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from config.events import publish

from .models import Course, Lesson, LessonProgress

MAX_SECONDS_PER_PING = 15 * 60  # a tab left open all night is not study time


def catalog(user=None) -> list[Course]:
    return list(Course.objects.filter(published=True))


def completed_ids(user, course: Course) -> set[int]:
    if not getattr(user, "is_authenticated", False):
        return set()
    return set(
        LessonProgress.objects.filter(
            user=user, lesson__course=course, completed_at__isnull=False, lesson__published=True
        ).values_list("lesson_id", flat=True)
    )


def rollup(course: Course, done: set[int]) -> dict:
    """Per-module and course totals from the stored outline and a set of completed lesson ids."""
    modules = {}
    total = complete = 0
    for m in course.outline:
        ids = [lesson["id"] for lesson in m["lessons"]]
        n_done = sum(1 for i in ids if i in done)
        modules[m["id"]] = _bar(n_done, len(ids))
        total += len(ids)
        complete += n_done
    return {"modules": modules, "course": _bar(complete, total)}


def _bar(done: int, total: int) -> dict:
    return {"done": done, "total": total, "percent": round(100 * done / total) if total else 0}


def progress_by_module(user, course: Course) -> dict:
    """One aggregate query: completed lessons per module for this learner."""
    rows = (
        LessonProgress.objects.filter(
            user=user, lesson__course=course, lesson__published=True, completed_at__isnull=False
        )
        .values("lesson__module_id")
        .annotate(n=Count("id"))
    )
    return {r["lesson__module_id"]: r["n"] for r in rows}


def cohort_progress(course: Course, user_ids) -> dict[int, int]:
    """Completed lessons per learner for a cohort, in one query (for the classroom dashboard)."""
    rows = (
        LessonProgress.objects.filter(
            user_id__in=list(user_ids),
            lesson__course=course,
            lesson__published=True,
            completed_at__isnull=False,
        )
        .values("user_id")
        .annotate(n=Count("id"))
    )
    return {r["user_id"]: r["n"] for r in rows}


def outline_html(course: Course, current_id: int, done: set[int]) -> str:
    """The sidebar outline as HTML, built in Python (the template loop was most of a page's
    cost): module headings, lesson links, the current page and completed marks."""
    parts = ['<ol class="outline">']
    for m in course.outline:
        parts.append(f'<li><span class="outline-module">{escape(m["title"])}</span><ol>')
        for le in m["lessons"]:
            current = ' aria-current="page"' if le["id"] == current_id else ""
            mark = (
                ' <span class="done-mark" aria-label="completed">✓</span>'
                if le["id"] in done
                else ""
            )
            parts.append(
                f'<li><a href="{escape(le["url"])}"{current}>{escape(le["title"])}</a>{mark}</li>'
            )
        parts.append("</ol></li>")
    parts.append("</ol>")
    return "".join(parts)


def _get(user, lesson: Lesson) -> LessonProgress:
    try:
        with transaction.atomic():
            return LessonProgress.objects.get_or_create(user=user, lesson=lesson)[0]
    except IntegrityError:  # a concurrent request created it
        return LessonProgress.objects.get(user=user, lesson=lesson)


def record_time(user, lesson: Lesson, seconds: int = 0) -> LessonProgress:
    """The learner is reading: start the lesson and add (bounded) time spent."""
    progress = _get(user, lesson)
    seconds = max(0, min(int(seconds or 0), MAX_SECONDS_PER_PING))
    if seconds:
        LessonProgress.objects.filter(pk=progress.pk).update(
            seconds_spent=progress.seconds_spent + seconds
        )
        progress.seconds_spent += seconds
    return progress


def complete(user, lesson: Lesson, seconds: int = 0) -> tuple[LessonProgress, bool]:
    """Mark a lesson complete; returns (progress, newly_completed). Idempotent."""
    progress = record_time(user, lesson, seconds)
    if progress.completed_at is not None:
        return progress, False
    now = timezone.now()
    updated = LessonProgress.objects.filter(pk=progress.pk, completed_at__isnull=True).update(
        completed_at=now
    )
    progress.completed_at = now
    if updated:
        publish(
            "lesson_completed",
            user.pk,
            user.get_username(),
            course=lesson.course.slug,
            lesson=lesson.slug,
            title=lesson.title,
            seconds_spent=progress.seconds_spent,
        )
    return progress, bool(updated)
