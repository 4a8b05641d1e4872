"""The one place the classroom reads other apps' models: lessons, quizzes and labs.

Every function takes a queryset of learner ids (`user_ids`, usually a Membership subquery) and
makes one aggregate query, so the dashboard's query count does not grow with the cohort.
A change in another app's model is fixed here only.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Max, QuerySet

from labs.models import LabRun
from lessons.models import BankQuestion, Course, Lesson, LessonProgress, Module, QuizSpec
from quizzes.models import Accommodation, Attempt, Response

SUBMITTED = Attempt.SUBMITTED
FINISHED = LabRun.Status.FINISHED


# --- course structure -------------------------------------------------------------------------


def modules(course: Course) -> list[dict]:
    return list(
        Module.objects.filter(course=course, published=True)
        .order_by("position")
        .values("id", "slug", "title", "position")
    )


def lessons(course: Course) -> list[dict]:
    return list(
        Lesson.objects.filter(course=course, published=True)
        .order_by("position")
        .values("id", "slug", "title", "module_id", "quiz", "lab")
    )


def quiz_modules(course: Course, lesson_rows: list[dict]) -> dict[str, int | None]:
    """quiz slug -> module id, from QuizSpec.module and the lessons that point at the quiz."""
    out: dict[str, int | None] = {}
    for row in QuizSpec.objects.filter(course=course, published=True).values("slug", "module_id"):
        out[row["slug"]] = row["module_id"]
    for lesson in lesson_rows:
        if lesson["quiz"] and out.get(lesson["quiz"]) is None:
            out[lesson["quiz"]] = lesson["module_id"]
    return out


def lab_modules(lesson_rows: list[dict]) -> dict[tuple[str, str], int]:
    """(lab, scenario) -> module id from the lessons' `lab: lab/scenario` fields."""
    out = {}
    for lesson in lesson_rows:
        if lesson["lab"] and "/" in lesson["lab"]:
            lab, scenario = lesson["lab"].split("/", 1)
            out[(lab, scenario)] = lesson["module_id"]
    return out


def quiz_spec(slug: str) -> dict | None:
    from quizzes import services

    return services.get_quiz(slug)


def question_sources(qids: list[str]) -> dict[str, dict]:
    """qid -> {path, line, text} for linking a flagged question to its source file."""
    out = {}
    for row in BankQuestion.objects.filter(qid__in=qids).values(
        "qid", "source_path", "source_line", "data"
    ):
        data = row["data"] or {}
        out[row["qid"]] = {
            "path": row["source_path"],
            "line": row["source_line"],
            "text": str(data.get("text") or data.get("question") or row["qid"])[:200],
            "data": data,
        }
    missing = [q for q in qids if q not in out]
    if missing:
        from quizzes import source

        for qid, q in source.get_questions(missing).items():
            out[qid] = {
                "path": q.get("_source_path") or q.get("source_path") or "",
                "line": q.get("_source_line") or q.get("source_line") or 0,
                "text": str(q.get("text") or q.get("question") or qid)[:200],
                "data": q,
            }
    return out


# --- aggregates over a set of learners --------------------------------------------------------


def completed_per_module(course: Course, user_ids: QuerySet) -> list[dict]:
    """[{user_id, module_id, n}] completed lessons, one query."""
    return list(
        LessonProgress.objects.filter(
            user_id__in=user_ids,
            lesson__course=course,
            lesson__published=True,
            completed_at__isnull=False,
        )
        .values("user_id", "lesson__module_id")
        .annotate(n=Count("id"))
    )


def best_quiz_scores(user_ids: QuerySet, slugs: list[str]) -> list[dict]:
    """[{user_id, quiz_slug, best, attempts}] over submitted attempts, one query."""
    return list(
        Attempt.objects.filter(user_id__in=user_ids, quiz_slug__in=slugs, state=SUBMITTED)
        .values("user_id", "quiz_slug")
        .annotate(best=Max("score"), attempts=Count("id"))
    )


def lab_runs(user_ids: QuerySet, **filters: Any) -> list[dict]:
    """Every run of these learners (one query; objectives are a JSON list, counted in Python)."""
    return list(
        LabRun.objects.filter(owner_id__in=user_ids, **filters)
        .order_by("created_at")
        .values(
            "id",
            "owner_id",
            "lab",
            "scenario_slug",
            "status",
            "objectives_met",
            "created_at",
            "started_at",
            "finished_at",
        )
    )


def last_activity(course: Course, user_ids: QuerySet) -> dict[int, Any]:
    """user id -> latest activity time across lessons, quizzes and labs: three queries."""
    latest: dict[int, Any] = {}

    def merge(rows, key="user_id"):
        for row in rows:
            for at in (row["at"], row.get("done")):
                if at and (row[key] not in latest or at > latest[row[key]]):
                    latest[row[key]] = at

    merge(
        LessonProgress.objects.filter(user_id__in=user_ids, lesson__course=course)
        .values("user_id")
        .annotate(at=Max("started_at"), done=Max("completed_at"))
    )
    merge(
        Attempt.objects.filter(user_id__in=user_ids)
        .values("user_id")
        .annotate(at=Max("started_at"))
    )
    merge(
        LabRun.objects.filter(owner_id__in=user_ids)
        .values("owner_id")
        .annotate(at=Max("created_at")),
        key="owner_id",
    )
    return latest


def accommodations(user_ids: QuerySet) -> dict[int, Accommodation]:
    return {a.user_id: a for a in Accommodation.objects.filter(user_id__in=user_ids)}


def accommodation_for(user) -> Accommodation:
    try:
        return Accommodation.objects.get(user=user)
    except Accommodation.DoesNotExist:
        return Accommodation(user=user)


# --- one learner ------------------------------------------------------------------------------


def learner_progress(course: Course, user) -> list[dict]:
    return list(
        LessonProgress.objects.filter(user=user, lesson__course=course)
        .select_related("lesson")
        .order_by("-started_at")
        .values("lesson__title", "lesson__slug", "started_at", "completed_at", "seconds_spent")
    )


def learner_attempts(user) -> list[Attempt]:
    return list(Attempt.objects.filter(user=user).order_by("-started_at"))


def learner_runs(user) -> list[LabRun]:
    return list(LabRun.objects.filter(owner=user).order_by("-created_at").defer("command_log"))


# --- quiz responses ---------------------------------------------------------------------------


def submitted_attempts(user_ids: QuerySet, slug: str) -> list[dict]:
    return list(
        Attempt.objects.filter(user_id__in=user_ids, quiz_slug=slug, state=SUBMITTED)
        .order_by("user_id", "number")
        .values("id", "user_id", "number", "score", "passed", "submitted_at", "question_ids")
    )


def responses(user_ids: QuerySet, slug: str | None = None) -> QuerySet:
    qs = Response.objects.filter(attempt__user_id__in=user_ids, attempt__state=SUBMITTED)
    if slug:
        qs = qs.filter(attempt__quiz_slug=slug)
    return qs.order_by("attempt__user_id", "attempt_id", "position").values(
        "attempt_id",
        "attempt__user_id",
        "attempt__user__username",
        "attempt__quiz_slug",
        "attempt__number",
        "attempt__submitted_at",
        "qid",
        "response",
        "fraction",
        "grade",
    )


def quiz_slugs_attempted(user_ids: QuerySet) -> list[str]:
    return sorted(
        Attempt.objects.filter(user_id__in=user_ids, state=SUBMITTED)
        .values_list("quiz_slug", flat=True)
        .distinct()
    )


def scenario_objectives() -> dict[tuple[str, str], list[str]]:
    """(lab, scenario) -> the scenario's objective ids, from the loaded LabScenario rows."""
    from lessons.models import LabScenario

    out = {}
    for row in LabScenario.objects.filter(published=True).values("lab", "slug", "scenario"):
        out[(row["lab"], row["slug"])] = _find_objectives(row["scenario"])
    return out


def _find_objectives(data: Any) -> list[str]:
    if isinstance(data, dict):
        value = data.get("objectives")
        if isinstance(value, list):
            return [o if isinstance(o, str) else str(o.get("id", o)) for o in value]
        for v in data.values():
            found = _find_objectives(v)
            if found:
                return found
    return []
