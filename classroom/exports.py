"""Gradebook CSV, quiz responses CSV and xAPI statements for a cohort.

Each builder takes an optional `progress(fraction)` callback so the Celery task can report how
far it got; small cohorts are exported directly by the view.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

from django.conf import settings

from classroom import services, sources
from classroom.models import Cohort

ADL = "http://adlnet.gov/expapi/verbs/"
VERBS = {
    "experienced": ADL + "experienced",
    "completed": ADL + "completed",
    "answered": ADL + "answered",
    "passed": ADL + "passed",
    "failed": ADL + "failed",
    "attempted": ADL + "attempted",
}
DIRECT_LIMIT = 200  # learners: above this, exports run on Celery

Progress = Callable[[float], None] | None


def _tick(progress: Progress, i: int, n: int) -> None:
    if progress and n and (i % 25 == 0 or i == n):
        progress(i / n)


def _iso(at: Any) -> str:
    return at.isoformat() if at else ""


def gradebook_csv(cohort: Cohort, progress: Progress = None) -> str:
    board = services.dashboard(cohort)
    lesson_rows = sources.lessons(cohort.course)
    quiz_slugs = sorted(sources.quiz_modules(cohort.course, lesson_rows))
    labs = sorted(sources.lab_modules(lesson_rows))
    ids = services.member_ids(cohort)
    best = {
        (r["user_id"], r["quiz_slug"]): r["best"] for r in sources.best_quiz_scores(ids, quiz_slugs)
    }
    met: dict[tuple[int, str, str], set] = {}
    for run in sources.lab_runs(ids):
        key = (run["owner_id"], run["lab"], run["scenario_slug"])
        met.setdefault(key, set()).update(str(o) for o in run["objectives_met"] or [])
    out = io.StringIO()
    writer = csv.writer(out)
    header = ["username", "name", "completion %", "last activity"]
    header += [f"module: {m['title']} %" for m in board.modules]
    header += [f"quiz: {s} best %" for s in quiz_slugs]
    header += [f"lab: {lab}/{scenario} objectives" for lab, scenario in labs]
    writer.writerow(header)
    rows = sorted(board.rows, key=lambda r: r.username)
    for i, row in enumerate(rows, start=1):
        line = [_safe(row.username), _safe(row.name), row.completion, _iso(row.last_activity)]
        line += ["" if c.completion is None else c.completion for c in row.cells]
        line += [_num(best.get((row.user_id, s))) for s in quiz_slugs]
        line += [len(met.get((row.user_id, lab, sc), ())) for lab, sc in labs]
        writer.writerow(line)
        _tick(progress, i, len(rows))
    return out.getvalue()


def responses_csv(cohort: Cohort, progress: Progress = None) -> str:
    ids = services.member_ids(cohort)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["username", "quiz", "attempt", "submitted", "question", "response", "mark (0-1)"]
    )
    rows = list(sources.responses(ids))
    for i, r in enumerate(rows, start=1):
        writer.writerow(
            [
                _safe(r["attempt__user__username"]),
                r["attempt__quiz_slug"],
                r["attempt__number"],
                _iso(r["attempt__submitted_at"]),
                r["qid"],
                _safe(json.dumps(r["response"])),
                _num(r["fraction"]),
            ]
        )
        _tick(progress, i, len(rows))
    return out.getvalue()


def xapi_statements(cohort: Cohort, progress: Progress = None) -> list[dict]:
    """xAPI 1.0.3 statements: lessons experienced/completed, quizzes passed/failed, answers."""
    base = getattr(settings, "XAPI_BASE_IRI", "https://decoupled.example/")
    course = cohort.course
    ids = services.member_ids(cohort)
    users = {
        m.user_id: m.user
        for m in cohort.memberships.select_related("user").only("user__username", "cohort_id")
    }

    def actor(user_id: int) -> dict:
        user = users[user_id]
        return {
            "objectType": "Agent",
            "name": user.username,
            "account": {"homePage": base, "name": user.username},
        }

    def verb(name: str) -> dict:
        return {"id": VERBS[name], "display": {"en-US": name}}

    statements: list[dict] = []
    from lessons.models import LessonProgress

    progress_rows = LessonProgress.objects.filter(user_id__in=ids, lesson__course=course).values(
        "user_id", "lesson__slug", "lesson__title", "started_at", "completed_at"
    )
    for p in progress_rows:
        obj = {
            "objectType": "Activity",
            "id": f"{base}courses/{course.slug}/{p['lesson__slug']}/",
            "definition": {
                "name": {"en-US": p["lesson__title"]},
                "type": "http://adlnet.gov/expapi/activities/lesson",
            },
        }
        statements.append(
            {
                "actor": actor(p["user_id"]),
                "verb": verb("experienced"),
                "object": obj,
                "timestamp": _iso(p["started_at"]),
            }
        )
        if p["completed_at"]:
            statements.append(
                {
                    "actor": actor(p["user_id"]),
                    "verb": verb("completed"),
                    "object": obj,
                    "result": {"completion": True},
                    "timestamp": _iso(p["completed_at"]),
                }
            )
    from quizzes.models import Attempt

    attempts = Attempt.objects.filter(user_id__in=ids, state=Attempt.SUBMITTED).values(
        "user_id", "quiz_slug", "number", "score", "passed", "submitted_at"
    )
    for a in attempts:
        score = a["score"]
        name = "passed" if a["passed"] else "failed" if a["passed"] is False else "completed"
        statements.append(
            {
                "actor": actor(a["user_id"]),
                "verb": verb(name),
                "object": {
                    "objectType": "Activity",
                    "id": f"{base}quizzes/{a['quiz_slug']}/",
                    "definition": {
                        "name": {"en-US": a["quiz_slug"]},
                        "type": "http://adlnet.gov/expapi/activities/assessment",
                    },
                },
                "result": {
                    "score": {"scaled": round(score / 100, 4)} if score is not None else {},
                    "success": a["passed"],
                    "completion": True,
                },
                "context": {"extensions": {f"{base}xapi/attempt": a["number"]}},
                "timestamp": _iso(a["submitted_at"]),
            }
        )
    rows = list(sources.responses(ids))
    for i, r in enumerate(rows, start=1):
        fraction = r["fraction"]
        statements.append(
            {
                "actor": actor(r["attempt__user_id"]),
                "verb": verb("answered"),
                "object": {
                    "objectType": "Activity",
                    "id": f"{base}questions/{r['qid']}",
                    "definition": {"type": "http://adlnet.gov/expapi/activities/cmi.interaction"},
                },
                "result": {
                    "response": json.dumps(r["response"]),
                    "score": {"scaled": round(fraction, 4)} if fraction is not None else {},
                    "success": fraction == 1 if fraction is not None else None,
                },
                "timestamp": _iso(r["attempt__submitted_at"]),
            }
        )
        _tick(progress, i, len(rows))
    for s in statements:
        if s.get("result", {}).get("success") is None and "result" in s:
            s["result"].pop("success", None)
    return statements


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _safe(text: str) -> str:
    """Neutralise spreadsheet formulas (CSV injection)."""
    return "'" + text if text and text[0] in "=+-@\t\r" else text


BUILDERS = {
    "gradebook": ("text/csv", "csv", gradebook_csv),
    "responses": ("text/csv", "csv", responses_csv),
    "xapi": ("application/json", "json", lambda c, p=None: json.dumps(xapi_statements(c, p))),
}
