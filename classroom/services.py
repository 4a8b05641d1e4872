"""Cohorts: who may see them, joining and enrolling, and the dashboard's numbers.

The dashboard is computed from a fixed number of aggregate queries (classroom/sources.py),
whatever the number of learners: the rows grow, the queries do not.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.http import Http404
from django.utils import timezone

from classroom import sources
from classroom.models import Cohort, Membership

MAX_CSV_BYTES = 1024 * 1024
MAX_CSV_ROWS = 5000
SORT_KEYS = ("name", "-name", "completion", "-completion", "activity", "-activity", "quiz", "-quiz")


# --- access -----------------------------------------------------------------------------------


def teaches(instructor, learner_id: int) -> bool:
    """True when `instructor` teaches a cohort that `learner_id` belongs to."""
    if not getattr(instructor, "is_authenticated", False):
        return False
    return Cohort.objects.filter(instructors=instructor, memberships__user_id=learner_id).exists()


def cohorts_for(user) -> QuerySet:
    qs = Cohort.objects.select_related("course")
    if user.is_staff:
        return qs.all()
    return qs.filter(instructors=user)


def cohort_for(user, pk: int) -> Cohort:
    """The cohort if `user` teaches it (or is staff); otherwise 404, revealing nothing."""
    try:
        return cohorts_for(user).get(pk=pk)
    except Cohort.DoesNotExist:
        raise Http404("No such cohort") from None


def learner_in(cohort: Cohort, user_id: int):
    if not 0 < user_id < 2**63:  # a URL's <int:…> may overflow the database's integer
        raise Http404("No such learner in this cohort")
    membership = (
        Membership.objects.filter(cohort=cohort, user_id=user_id).select_related("user").first()
    )
    if membership is None:
        raise Http404("No such learner in this cohort")
    return membership.user


def member_ids(cohort: Cohort) -> QuerySet:
    return Membership.objects.filter(cohort=cohort).values("user_id")


def membership_of(user, pk: int) -> Membership:
    """`user`'s own membership of cohort `pk`; 404 when they are not in it."""
    # Look the cohort up by its own pk first: Django answers "no rows" for an out-of-range
    # integer there, where a cohort_id=<2**64> filter would overflow SQLite's integer.
    cohort = Cohort.objects.select_related("course").filter(pk=pk).first()
    membership = (
        cohort.memberships.filter(user_id=getattr(user, "pk", None)).first() if cohort else None
    )
    if membership is None:
        raise Http404("You are not in this cohort")
    return membership


def remove_member(cohort: Cohort, user_id: int) -> bool:
    """Delete the membership only: the learner's progress, attempts and lab runs stay theirs.

    From then on the cohort's instructors no longer teach them (`teaches` is false unless
    another of their cohorts holds the learner). True when a membership was deleted.
    """
    deleted, _ = Membership.objects.filter(cohort=cohort, user_id=user_id).delete()
    return bool(deleted)


# --- creating, joining, enrolling -------------------------------------------------------------


def create_cohort(instructor, course, name: str) -> Cohort:
    cohort = Cohort.objects.create(course=course, name=name)
    cohort.instructors.add(instructor)
    return cohort


def join(user, code: str) -> tuple[Cohort | None, bool]:
    """(cohort, newly_joined); (None, False) when the code matches no cohort."""
    cohort = Cohort.objects.filter(join_code=code.strip().upper()).first()
    if cohort is None:
        return None, False
    return cohort, _enrol(cohort, user)


def _enrol(cohort: Cohort, user) -> bool:
    try:
        with transaction.atomic():
            _, created = Membership.objects.get_or_create(cohort=cohort, user=user)
    except IntegrityError:  # a concurrent join
        return False
    return created


@dataclass
class EnrolRow:
    line: int
    value: str
    outcome: str  # enrolled | already a member | unknown user | invalid row
    username: str = ""


class CSVTooLarge(ValueError):
    pass


def enrol_csv(cohort: Cohort, raw: bytes) -> list[EnrolRow]:
    """Enrol a username or e-mail per row (first column; a header row is skipped)."""
    if len(raw) > MAX_CSV_BYTES:
        raise CSVTooLarge(f"The file is larger than {MAX_CSV_BYTES // 1024} KB.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("The file is not UTF-8 text.") from None
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) > MAX_CSV_ROWS:
        raise CSVTooLarge(f"The file has more than {MAX_CSV_ROWS} rows.")
    wanted: list[tuple[int, str]] = []
    report: list[EnrolRow] = []
    for number, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row if c.strip()]
        if not cells:
            continue
        value = cells[0]
        if number == 1 and value.lower() in {"username", "email", "e-mail", "user"}:
            continue
        if len(cells) > 1 or len(value) > 254 or any(ch.isspace() for ch in value):
            report.append(EnrolRow(number, value[:80], "invalid row"))
            continue
        wanted.append((number, value))
    user_model = get_user_model()
    names = {v for _, v in wanted if "@" not in v}
    emails = {v.lower() for _, v in wanted if "@" in v}
    by_name = {u.username: u for u in user_model.objects.filter(username__in=names)}
    by_email: dict[str, Any] = {}
    if emails:
        matches = user_model.objects.annotate(email_l=Lower("email")).filter(email_l__in=emails)
        for u in matches.order_by("pk"):
            by_email.setdefault(u.email.lower(), u)
    existing = set(Membership.objects.filter(cohort=cohort).values_list("user_id", flat=True))
    new = []
    for number, value in wanted:
        user = by_email.get(value.lower()) if "@" in value else by_name.get(value)
        if user is None:
            report.append(EnrolRow(number, value, "unknown user"))
        elif user.pk in existing:
            report.append(EnrolRow(number, value, "already a member", user.username))
        else:
            existing.add(user.pk)
            new.append(Membership(cohort=cohort, user=user))
            report.append(EnrolRow(number, value, "enrolled", user.username))
    Membership.objects.bulk_create(new, ignore_conflicts=True)
    report.sort(key=lambda r: r.line)
    return report


def add_instructor(cohort: Cohort, username: str) -> str | None:
    """Add a co-instructor; returns an error message or None."""
    from config.permissions import is_instructor

    user = get_user_model().objects.filter(username=username.strip()).first()
    if user is None:
        return f"No account is called “{username.strip()}”."
    if not is_instructor(user):
        return f"{user.username} is not an instructor."
    cohort.instructors.add(user)
    return None


# --- the dashboard ----------------------------------------------------------------------------


@dataclass
class Cell:
    completion: int | None  # percent of the module's lessons completed
    quiz: float | None  # best score of the module's quizzes (mean over quizzes attempted)
    objectives: int  # lab objectives met in the module's labs
    objectives_total: int

    @property
    def heat(self) -> int:
        """0..4 colour band from lesson completion."""
        return 0 if not self.completion else min(4, 1 + self.completion // 25)


@dataclass
class LearnerRow:
    user_id: int
    username: str
    name: str
    cells: list[Cell]
    completion: int
    quiz: float | None
    objectives: int
    last_activity: datetime | None
    days_inactive: int | None
    at_risk: bool = False


@dataclass
class Dashboard:
    cohort: Cohort
    modules: list[dict]
    rows: list[LearnerRow]
    total_learners: int
    at_risk: list[LearnerRow]
    averages: dict[str, Any]
    distribution: list[tuple[str, int]]
    module_averages: list[dict] = field(default_factory=list)


def _days(now: datetime, at: datetime | None) -> int | None:
    return None if at is None else max(0, (now - at).days)


def dashboard(
    cohort: Cohort,
    *,
    sort: str = "name",
    q: str = "",
    risk_completion: int = 25,
    risk_days: int = 7,
    now: datetime | None = None,
) -> Dashboard:
    now = now or timezone.now()
    course = cohort.course
    ids = member_ids(cohort)
    members = list(
        Membership.objects.filter(cohort=cohort)
        .select_related("user")
        .only("user__id", "user__username", "user__first_name", "user__last_name", "cohort_id")
    )
    mods = sources.modules(course)
    lesson_rows = sources.lessons(course)
    lessons_per_module = Counter(lesson["module_id"] for lesson in lesson_rows)
    total_lessons = len(lesson_rows)
    quiz_module = sources.quiz_modules(course, lesson_rows)
    lab_module = sources.lab_modules(lesson_rows)
    objectives = sources.scenario_objectives()

    done: dict[tuple[int, int], int] = {}
    for row in sources.completed_per_module(course, ids):
        done[(row["user_id"], row["lesson__module_id"])] = row["n"]
    best: dict[tuple[int, int], list[float]] = defaultdict(list)
    best_overall: dict[int, list[float]] = defaultdict(list)
    for row in sources.best_quiz_scores(ids, list(quiz_module)):
        if row["best"] is None:
            continue
        best[(row["user_id"], quiz_module.get(row["quiz_slug"]))].append(row["best"])
        best_overall[row["user_id"]].append(row["best"])
    met: dict[tuple[int, int], set] = defaultdict(set)
    for run in sources.lab_runs(ids, lab__in={lab for lab, _ in lab_module}):
        module_id = lab_module.get((run["lab"], run["scenario_slug"]))
        if module_id is None:
            continue
        for objective in run["objectives_met"] or []:
            met[(run["owner_id"], module_id)].add((run["scenario_slug"], str(objective)))
    objectives_total: Counter = Counter()
    for key, module_id in lab_module.items():
        objectives_total[module_id] += len(objectives.get(key, []))
    latest = sources.last_activity(course, ids)

    rows = []
    for m in members:
        user = m.user
        cells = []
        for mod in mods:
            n_lessons = lessons_per_module[mod["id"]]
            key = (user.pk, mod["id"])
            scores = best.get(key)
            cells.append(
                Cell(
                    completion=round(100 * done.get(key, 0) / n_lessons) if n_lessons else None,
                    quiz=round(sum(scores) / len(scores), 1) if scores else None,
                    objectives=len(met.get(key, ())),
                    objectives_total=objectives_total[mod["id"]],
                )
            )
        n_done = sum(done.get((user.pk, mod["id"]), 0) for mod in mods)
        overall = best_overall.get(user.pk)
        at = latest.get(user.pk)
        row = LearnerRow(
            user_id=user.pk,
            username=user.username,
            name=user.get_full_name() or user.username,
            cells=cells,
            completion=round(100 * n_done / total_lessons) if total_lessons else 0,
            quiz=round(sum(overall) / len(overall), 1) if overall else None,
            objectives=sum(c.objectives for c in cells),
            last_activity=at,
            days_inactive=_days(now, at),
        )
        row.at_risk = is_at_risk(row, risk_completion, risk_days)
        rows.append(row)

    total = len(rows)
    at_risk = sorted((r for r in rows if r.at_risk), key=lambda r: r.completion)
    completions = [r.completion for r in rows]
    quiz_scores = [r.quiz for r in rows if r.quiz is not None]
    active_week = sum(1 for r in rows if r.days_inactive is not None and r.days_inactive < 7)
    averages = {
        "completion": round(statistics.fmean(completions), 1) if completions else None,
        "median_completion": statistics.median(completions) if completions else None,
        "quiz": round(statistics.fmean(quiz_scores), 1) if quiz_scores else None,
        "objectives": round(statistics.fmean(r.objectives for r in rows), 1) if rows else None,
        "active_week": active_week,
    }
    module_averages = []
    for i, mod in enumerate(mods):
        values = [r.cells[i].completion for r in rows if r.cells[i].completion is not None]
        module_averages.append(
            {**mod, "completion": round(statistics.fmean(values)) if values else None}
        )
    if q:
        needle = q.lower()
        rows = [r for r in rows if needle in r.username.lower() or needle in r.name.lower()]
    rows = sort_rows(rows, sort)
    return Dashboard(
        cohort=cohort,
        modules=mods,
        rows=rows,
        total_learners=total,
        at_risk=at_risk,
        averages=averages,
        distribution=distribution(completions),
        module_averages=module_averages,
    )


def is_at_risk(row: LearnerRow, max_completion: int = 25, min_days: int = 7) -> bool:
    """Completion under `max_completion`% and no activity for `min_days` days (or never)."""
    inactive = row.days_inactive is None or row.days_inactive >= min_days
    return row.completion < max_completion and inactive


def sort_rows(rows: list[LearnerRow], sort: str) -> list[LearnerRow]:
    if sort not in SORT_KEYS:
        sort = "name"
    reverse = sort.startswith("-")
    key = sort.lstrip("-")
    floor = datetime.min.replace(tzinfo=timezone.get_current_timezone())
    keys = {
        "name": lambda r: r.name.lower(),
        "completion": lambda r: (r.completion, r.name.lower()),
        "activity": lambda r: (r.last_activity or floor, r.name.lower()),
        "quiz": lambda r: (r.quiz if r.quiz is not None else -1, r.name.lower()),
    }
    return sorted(rows, key=keys[key], reverse=reverse)


def distribution(values: list[int | float], width: int = 10) -> list[tuple[str, int]]:
    """Counts in bands 0–9, 10–19, … 90–100 (100 goes in the last band)."""
    bins = [0] * (100 // width)
    for v in values:
        bins[min(len(bins) - 1, int(v // width))] += 1
    return [
        (f"{i * width}–{i * width + width - (0 if i == len(bins) - 1 else 1)}%", n)
        for i, n in enumerate(bins)
    ]


# --- learner drill-down -----------------------------------------------------------------------


def timeline(cohort: Cohort, user, limit: int = 60) -> list[dict]:
    events = []
    for p in sources.learner_progress(cohort.course, user):
        events.append(
            {"at": p["started_at"], "kind": "lesson", "text": f"Started “{p['lesson__title']}”"}
        )
        if p["completed_at"]:
            events.append(
                {
                    "at": p["completed_at"],
                    "kind": "lesson",
                    "text": f"Completed “{p['lesson__title']}”",
                }
            )
    for a in sources.learner_attempts(user):
        events.append({"at": a.started_at, "kind": "quiz", "text": f"Started {a.quiz_slug}"})
        if a.submitted_at:
            score = f" — {a.score:.0f}%" if a.score is not None else ""
            events.append(
                {"at": a.submitted_at, "kind": "quiz", "text": f"Submitted {a.quiz_slug}{score}"}
            )
    for r in sources.learner_runs(user):
        events.append(
            {"at": r.created_at, "kind": "lab", "text": f"Ran lab {r.lab}/{r.scenario_slug}"}
        )
    events.sort(key=lambda e: e["at"], reverse=True)
    return events[:limit]


# --- quiz report ------------------------------------------------------------------------------


def quiz_report(cohort: Cohort, slug: str) -> dict:
    from quizzes.statistics import item_analysis

    ids = member_ids(cohort)
    attempts = sources.submitted_attempts(ids, slug)
    # First submitted attempt per learner, as Moodle's default "first attempt" statistics.
    first: dict[int, dict] = {}
    for a in attempts:
        first.setdefault(a["user_id"], a)
    chosen = {a["id"] for a in first.values()}
    marks: dict[int, dict[str, float]] = defaultdict(dict)
    options: dict[str, Counter] = defaultdict(Counter)
    for r in sources.responses(ids, slug):
        if r["attempt_id"] not in chosen:
            continue
        marks[r["attempt_id"]][r["qid"]] = r["fraction"] or 0.0
        options[r["qid"]][json.dumps(r["response"], sort_keys=True)] += 1
    # Random draws deal different questions to different learners, so (as Moodle does) the
    # whole-quiz numbers come from slots (position in the attempt) and each question's numbers
    # from the attempts that were dealt it, against the rest of that attempt's total.
    lengths = Counter(len(a["question_ids"]) for a in first.values())
    length = lengths.most_common(1)[0][0] if lengths else 0
    slot_rows = [
        [marks[a["id"]].get(q, 0.0) for q in a["question_ids"]]
        for a in first.values()
        if len(a["question_ids"]) == length
    ]
    quiz_stats = item_analysis(slot_rows)["quiz"] if slot_rows and length else {}
    seen_by: dict[str, list[list[float]]] = defaultdict(list)
    for a in first.values():
        total = sum(marks[a["id"]].get(q, 0.0) for q in a["question_ids"])
        rest_max = max(1, len(a["question_ids"]) - 1)
        for q in a["question_ids"]:
            mark = marks[a["id"]].get(q, 0.0)
            seen_by[q].append([mark, min(rest_max, total - mark)])
    qids = sorted(seen_by)
    per_question = []
    for q in qids:
        rest_max = max(1, length - 1)
        per_question.append(item_analysis(seen_by[q], [1, rest_max])["questions"][0])
    analysis = {"questions": per_question, "quiz": quiz_stats}
    src = sources.question_sources(qids)
    questions = []
    for qid, stat in zip(qids, analysis["questions"], strict=False):
        reasons = []
        de = stat["discriminative_efficiency"]
        fac = stat["facility"]
        if de is not None and de < 15:
            reasons.append(f"discriminative efficiency {de:.0f}% < 15%")
        if fac is not None and not 10 <= fac <= 90:
            reasons.append(f"facility {fac:.0f}% outside 10–90%")
        info = src.get(qid, {})
        questions.append(
            {
                "qid": qid,
                "seen": len(seen_by[qid]),
                **stat,
                "text": info.get("text", qid),
                "source_path": info.get("path", ""),
                "source_line": info.get("line", 0),
                "source_url": source_url(info.get("path", ""), info.get("line", 0)),
                "flags": reasons,
                "options": [
                    (_option_label(json.loads(raw), info.get("data") or {}), n)
                    for raw, n in sorted(options[qid].items(), key=lambda kv: -kv[1])
                ],
            }
        )
    scores = [a["score"] for a in first.values() if a["score"] is not None]
    return {
        "slug": slug,
        "spec": sources.quiz_spec(slug),
        "attempts": len(attempts),
        "learners": len(first),
        "quiz": analysis["quiz"],
        "questions": questions,
        "flagged": [q for q in questions if q["flags"]],
        "histogram": distribution(scores),
    }


def source_url(path: str, line: int) -> str:
    """A link to the question's YAML at its line when CONTENT_SOURCE_URL is configured
    (e.g. https://github.com/org/repo/blob/main/), else ""."""
    import os

    from django.conf import settings

    base = getattr(settings, "CONTENT_SOURCE_URL", "") or os.environ.get("CONTENT_SOURCE_URL", "")
    if not base or not path:
        return ""
    return f"{base.rstrip('/')}/{path.lstrip('/')}#L{line}"


def _option_label(response: Any, question: dict) -> str:
    """A response in bank-index space as option letters and text (single / multiple choice)."""
    if response is None or response == [] or response == "":
        return "(no answer)"
    opts = question.get("options") or []

    def name(i: Any) -> str:
        if isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(opts):
            text = str((opts[i] or {}).get("text", "")) if isinstance(opts[i], dict) else ""
            letter = chr(ord("A") + i) if i < 26 else str(i + 1)
            return f"{letter}. {text[:40]}" if text else letter
        return str(i)[:40]

    if isinstance(response, list):
        return " + ".join(name(i) for i in response)
    return name(response)


def quiz_slugs(cohort: Cohort) -> list[str]:
    lesson_rows = sources.lessons(cohort.course)
    slugs = set(sources.quiz_modules(cohort.course, lesson_rows))
    slugs |= set(sources.quiz_slugs_attempted(member_ids(cohort)))
    return sorted(slugs)


# --- lab report -------------------------------------------------------------------------------


def lab_report(cohort: Cohort) -> list[dict]:
    ids = member_ids(cohort)
    objectives = sources.scenario_objectives()
    grouped: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for run in sources.lab_runs(ids):
        grouped[(run["lab"], run["scenario_slug"])].append(run)
    out = []
    for (lab, scenario), runs in sorted(grouped.items()):
        wanted = objectives.get((lab, scenario), [])
        finished = [r for r in runs if r["status"] == sources.FINISHED]
        complete = [
            r for r in runs if wanted and set(wanted) <= {str(o) for o in r["objectives_met"] or []}
        ]
        learners = {r["owner_id"] for r in runs}
        learners_done = {r["owner_id"] for r in complete}
        missed: Counter = Counter()
        for r in finished or runs:
            got = {str(o) for o in r["objectives_met"] or []}
            for o in wanted:
                if o not in got:
                    missed[o] += 1
        durations = [
            (r["finished_at"] - (r["started_at"] or r["created_at"])).total_seconds()
            for r in complete
            if r["finished_at"]
        ]
        out.append(
            {
                "lab": lab,
                "scenario": scenario,
                "runs": len(runs),
                "finished": len(finished),
                "learners": len(learners),
                "completion_rate": round(100 * len(learners_done) / len(learners))
                if learners
                else 0,
                "missed": missed.most_common(5),
                "median_minutes": round(statistics.median(durations) / 60, 1)
                if durations
                else None,
                "objectives": wanted,
            }
        )
    return out


def risk_params(get: Any) -> tuple[int, int]:
    def number(name: str, default: int, low: int, high: int) -> int:
        try:
            return max(low, min(high, int(get.get(name, default))))
        except (TypeError, ValueError):
            return default

    return number("risk_completion", 25, 0, 100), number("risk_days", 7, 0, 365)
