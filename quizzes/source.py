"""Where questions and quiz definitions come from: the one adapter the quiz app reads through.

When the lessons app has loaded the site (`lessons.models.BankQuestion` / `QuizSpec` rows
exist), questions come from the database. Otherwise they are read from the YAML files under
``settings.SITE_CONTENT_DIR`` (``<course>/**/*.yaml`` with a top-level ``questions:``, and
``<course>/quizzes.yaml``), cached until a file changes.

``settings.QUIZ_EXTRA_CONTENT_DIR`` (or the environment variable of the same name), when set,
names one more content directory read from disk and merged in; the browser tests use it to
give the ASGI server a small test bank.

Every question dict is the bank YAML mapping plus ``_module`` (module slug) and ``_course``.
"""

from __future__ import annotations

import contextvars
import os
import time
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings

from config import request_id

_cache: dict[str, tuple[tuple, dict]] = {}
# One look at the tables per request (or Celery task): a page that reads 40 questions one by
# one runs the signature queries once, and sees one consistent version of the bank.
_snapshot: contextvars.ContextVar[tuple[str, dict] | None] = contextvars.ContextVar(
    "quiz_source_snapshot", default=None
)


# --- disk ------------------------------------------------------------------------------------


def _content_dirs() -> list[Path]:
    dirs = [Path(settings.SITE_CONTENT_DIR)]
    extra = getattr(settings, "QUIZ_EXTRA_CONTENT_DIR", None) or os.environ.get(
        "QUIZ_EXTRA_CONTENT_DIR"
    )
    if extra:
        dirs.append(Path(extra))
    return dirs


def _yaml_files(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*.yaml") if "labs" not in p.relative_to(root).parts)


def _module_slug(course_dir: Path, path: Path) -> str | None:
    rel = path.relative_to(course_dir).parts
    if len(rel) < 2:
        return None
    folder = course_dir / rel[0]
    meta = folder / "module.yaml"
    if meta.exists():
        try:
            data = yaml.safe_load(meta.read_text(encoding="utf-8")) or {}
            if isinstance(data, dict) and data.get("slug"):
                return str(data["slug"])
        except yaml.YAMLError:
            pass
    # "01-foundations" -> "foundations"
    name = rel[0]
    head, _, tail = name.partition("-")
    return tail if head.isdigit() and tail else name


def _read_dir(root: Path) -> dict:
    questions: dict[str, dict] = {}
    quizzes: dict[str, dict] = {}
    if not root.is_dir():
        return {"questions": questions, "quizzes": quizzes}
    for course_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in _yaml_files(course_dir):
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError):
                continue
            if not isinstance(data, dict):
                continue
            if isinstance(data.get("questions"), list) and path.name != "quizzes.yaml":
                module = _module_slug(course_dir, path)
                for q in data["questions"]:
                    if isinstance(q, dict) and q.get("id"):
                        questions[str(q["id"])] = {
                            **q,
                            "_module": module,
                            "_course": course_dir.name,
                        }
            if path.name == "quizzes.yaml" and isinstance(data.get("quizzes"), list):
                for quiz in data["quizzes"]:
                    if isinstance(quiz, dict) and quiz.get("slug"):
                        quizzes[str(quiz["slug"])] = {**quiz, "_course": course_dir.name}
    return {"questions": questions, "quizzes": quizzes}


def _disk(root: Path) -> dict:
    files = _yaml_files(root) if root.is_dir() else []
    signature = tuple((str(p), p.stat().st_mtime_ns) for p in files)
    key = str(root.resolve()) if root.exists() else str(root)
    hit = _cache.get(key)
    if hit and hit[0] == signature:
        return hit[1]
    data = _read_dir(root)
    _cache[key] = (signature, data)
    return data


# --- database (lessons app) --------------------------------------------------------------------


# The signature below catches every change made through the ORM (load_site, the admin, a
# shell save()); this bounds how long a change it cannot see (a raw SQL UPDATE, or
# QuerySet.update() of the data column) stays unseen.
DB_CACHE_SECONDS = 5.0
_db_cache: dict[str, Any] = {}


def _signature(model) -> dict:
    """One aggregate query: how many published rows, the highest id, the latest edit.

    A row added or unpublished changes the count or the highest id; a row edited in place
    (``save()``, also with ``update_fields``) moves ``updated_at`` (auto_now).
    """
    from django.db.models import Count, Max

    return model.objects.filter(published=True).aggregate(
        n=Count("pk"), m=Max("pk"), u=Max("updated_at")
    )


def _models():
    """(BankQuestion, QuizSpec, signature) when the lessons app holds rows, else None."""
    try:
        from lessons.models import BankQuestion, QuizSpec
    except ImportError:
        return None
    try:
        q = _signature(BankQuestion)
        if not q["n"]:
            return None
        z = _signature(QuizSpec)
    except Exception:  # table not migrated yet
        return None
    return BankQuestion, QuizSpec, (q["n"], q["m"], q["u"], z["n"], z["m"], z["u"])


def _db_question(row: Any) -> dict:
    module = getattr(row, "module", None)
    return {
        **row.data,
        "_module": module.slug if module else None,
        "_course": getattr(row.course, "slug", ""),
    }


def _all() -> dict:
    """{"questions": {...}, "quizzes": {...}} from the database or the site files, plus extras.

    Within one request (or task) the first answer is reused; outside one, every call looks.
    """
    current = request_id.get()
    snapshot = _snapshot.get()
    if current and snapshot is not None and snapshot[0] == current:
        return snapshot[1]
    merged = _load_all()
    if current:
        _snapshot.set((current, merged))
    return merged


def _load_all() -> dict:
    dirs = _content_dirs()
    models = _models()
    if models:
        bank_question, quiz_spec, signature = models
        hit = _db_cache.get("db")
        if hit and hit[0] == signature and time.monotonic() - hit[1] < DB_CACHE_SECONDS:
            merged = hit[2]
        else:
            rows = bank_question.objects.filter(published=True).select_related("module", "course")
            specs = quiz_spec.objects.filter(published=True).select_related("course")
            merged = {
                "questions": {r.qid: _db_question(r) for r in rows},
                "quizzes": {
                    r.slug: {**r.data, "_course": getattr(r.course, "slug", "")} for r in specs
                },
            }
            _db_cache["db"] = (signature, time.monotonic(), merged)
        extra_dirs = dirs[1:]
    else:
        merged = {"questions": {}, "quizzes": {}}
        extra_dirs = dirs
    for d in extra_dirs:
        data = _disk(d)
        merged = {
            "questions": {**merged["questions"], **data["questions"]},
            "quizzes": {**merged["quizzes"], **data["quizzes"]},
        }
    return merged


# --- the interface -------------------------------------------------------------------------------


def get_question(qid: str) -> dict | None:
    return _all()["questions"].get(qid)


def get_questions(qids: list[str]) -> dict[str, dict]:
    questions = _all()["questions"]
    return {q: questions[q] for q in qids if q in questions}


def questions_matching(
    module: str | None = None,
    topics: list[str] | None = None,
    difficulty: str | list[str] | None = None,
) -> list[dict]:
    """Questions of a pool, in id order: any of module / topics / difficulty narrows it."""
    wanted = [difficulty] if isinstance(difficulty, str) else difficulty
    questions = _all()["questions"]
    out = []
    for qid in sorted(questions):
        q = questions[qid]
        if module and q.get("_module") != module:
            continue
        if topics and not set(topics) & set(q.get("topics") or []):
            continue
        if wanted and q.get("difficulty") not in wanted:
            continue
        out.append(q)
    return out


def get_quiz_spec(slug: str) -> dict | None:
    return _all()["quizzes"].get(slug)


def list_quiz_specs() -> list[dict]:
    return list(_all()["quizzes"].values())


def lesson_url(question: dict) -> str | None:
    """/courses/<course>/<lesson>/#<anchor> for the question's `lesson` key."""
    lesson = question.get("lesson")
    if not lesson or "#" not in lesson:
        return None
    slug, anchor = lesson.split("#", 1)
    course = question.get("_course") or "microservices"
    return f"/courses/{course}/{slug}/#{anchor}"
