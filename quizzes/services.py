"""The quiz rules: starting attempts, autosaving answers, checking, submitting, grading.

Views call these functions and nothing else writes attempts. Time is always the server's:
an answer saved after the deadline is refused and the attempt is submitted as it stood.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from config.events import publish
from quizzes import source
from quizzes.bank import with_defaults
from quizzes.grading import InvalidResponse, from_display, grade, practice_score
from quizzes.models import Accommodation, Attempt, Response


class QuizError(Exception):
    """A rule refused the action; ``str(exc)`` is a sentence for the learner."""


class AttemptClosed(QuizError):
    pass


class NoAttemptsLeft(QuizError):
    pass


class QuestionFinished(QuizError):
    pass


# --- quizzes and learners ------------------------------------------------------------------


def get_quiz(slug: str) -> dict | None:
    spec = source.get_quiz_spec(slug)
    return with_defaults(spec) if spec else None


def list_quizzes() -> list[dict]:
    return [with_defaults(s) for s in source.list_quiz_specs()]


def accommodation(user: Any) -> Accommodation:
    """The learner's accommodation, or an unsaved default (×1 time, no extra attempts)."""
    try:
        return Accommodation.objects.get(user=user)
    except Accommodation.DoesNotExist:
        return Accommodation(user=user)


def attempts_allowed(quiz: dict, user: Any) -> int | None:
    """How many attempts the learner may make (None = unlimited)."""
    if not quiz["attempts"]:
        return None
    return quiz["attempts"] + accommodation(user).extra_attempts


def attempts_left(quiz: dict, user: Any) -> int | None:
    allowed = attempts_allowed(quiz, user)
    if allowed is None:
        return None
    used = Attempt.objects.filter(user=user, quiz_slug=quiz["slug"]).count()
    return max(0, allowed - used)


def time_limit(quiz: dict, user: Any) -> timedelta | None:
    minutes = quiz["time_limit_minutes"]
    if not minutes:
        return None
    return timedelta(minutes=minutes * accommodation(user).time_multiplier)


# --- starting ---------------------------------------------------------------------------------


def draw_questions(quiz: dict, user: Any, seed: str) -> list[str]:
    """Fixed questions in order, then each draw: unseen questions first, seeded per attempt."""
    chosen: list[str] = [q for q in quiz["questions"] if source.get_question(q)]
    seen: set[str] = set()
    for ids in Attempt.objects.filter(user=user, quiz_slug=quiz["slug"]).values_list(
        "question_ids", flat=True
    ):
        seen.update(ids)
    rng = random.Random(seed)
    drawn: list[str] = []
    for draw in quiz["draws"]:
        pool = [
            q["id"]
            for q in source.questions_matching(
                module=draw.get("module"),
                topics=draw.get("topics"),
                difficulty=draw.get("difficulty"),
            )
            if q["id"] not in chosen and q["id"] not in drawn
        ]
        unseen = [q for q in pool if q not in seen]
        repeats = [q for q in pool if q in seen]
        rng.shuffle(unseen)
        rng.shuffle(repeats)
        drawn.extend((unseen + repeats)[: draw["count"]])
    if quiz["shuffle"]:
        rng.shuffle(drawn)
    return chosen + drawn


def current_attempt(user: Any, slug: str, now: datetime | None = None) -> Attempt | None:
    """The learner's open attempt at this quiz (an expired one is submitted first)."""
    attempt = Attempt.objects.filter(user=user, quiz_slug=slug, state=Attempt.IN_PROGRESS).first()
    if attempt and submit_if_expired(attempt, now):
        return None
    return attempt


def start_attempt(user: Any, slug: str, now: datetime | None = None) -> Attempt:
    """Resume the open attempt, or start a new one if the learner has attempts left."""
    now = now or timezone.now()
    quiz = get_quiz(slug)
    if quiz is None:
        raise QuizError("There is no such quiz.")
    with transaction.atomic():
        open_attempt = current_attempt(user, slug, now)
        if open_attempt:
            return open_attempt
        left = attempts_left(quiz, user)
        if left is not None and left <= 0:
            raise NoAttemptsLeft("You have used all your attempts at this quiz.")
        seed = secrets.token_hex(8)
        qids = draw_questions(quiz, user, seed)
        if not qids:
            raise QuizError("This quiz has no questions yet.")
        number = (
            Attempt.objects.filter(user=user, quiz_slug=slug)
            .order_by("-number")
            .values_list("number", flat=True)
            .first()
            or 0
        ) + 1
        limit = time_limit(quiz, user)
        attempt = Attempt.objects.create(
            user=user,
            quiz_slug=slug,
            number=number,
            mode=quiz["mode"],
            started_at=now,
            deadline=now + limit if limit else None,
            question_ids=qids,
            seed=seed,
        )
        Response.objects.bulk_create(
            [Response(attempt=attempt, qid=q, position=i) for i, q in enumerate(qids)]
        )
    return attempt


# --- answering ----------------------------------------------------------------------------------


def _question(qid: str) -> dict:
    q = source.get_question(qid)
    if q is None:
        raise QuizError("This question is no longer available.")
    return q


@dataclass
class SaveResult:
    response: Response
    checked: bool = False


def _check_open(attempt: Attempt, now: datetime) -> None:
    if attempt.state != Attempt.IN_PROGRESS:
        raise AttemptClosed("This attempt has been submitted; answers can no longer change.")
    if attempt.deadline and now >= attempt.deadline:
        submit(attempt, now=now, auto=True)
        raise AttemptClosed(
            "Time is up: this answer arrived after the deadline and was not saved. "
            "Your attempt was submitted with the answers saved before."
        )


def save_answer(
    attempt: Attempt,
    qid: str,
    display_response: Any,
    *,
    check: bool = False,
    now: datetime | None = None,
) -> SaveResult:
    """Autosave a response posted in display positions; in practice mode ``check`` grades it.

    Raises AttemptClosed (submitted or past the deadline), QuestionFinished (practice question
    with no tries left or already right), InvalidResponse (wrong shape) or QuizError.
    """
    now = now or timezone.now()
    quiz = get_quiz(attempt.quiz_slug) or with_defaults({"slug": attempt.quiz_slug})
    question = _question(qid)
    bank = from_display(question, display_response, attempt.seed, shuffle=quiz["shuffle"])
    g = grade(question, bank)  # raises InvalidResponse for a malformed response
    _check_open(Attempt.objects.get(pk=attempt.pk), now)  # may submit: outside the transaction
    with transaction.atomic():
        attempt = Attempt.objects.select_for_update().get(pk=attempt.pk)
        if attempt.state != Attempt.IN_PROGRESS:
            raise AttemptClosed("This attempt has been submitted; answers can no longer change.")
        try:
            resp = Response.objects.select_for_update().get(attempt=attempt, qid=qid)
        except Response.DoesNotExist:
            raise QuizError("This question is not part of your attempt.") from None
        if resp.finished:
            raise QuestionFinished("You have finished this question.")
        resp.response = bank
        checked = False
        if check and attempt.mode == "practice":
            if not g.answered:
                raise InvalidResponse("Answer the question before checking.")
            resp.tries += 1
            resp.grade = {**g.to_dict(), "response": bank}
            resp.fraction = practice_score(g.fraction, resp.tries, quiz["penalty"])
            resp.finished = g.state == "right" or resp.tries >= quiz["tries"]
            checked = True
        resp.save()
    if checked:
        _after_answer(attempt, question, g.fraction, g.state)
    return SaveResult(resp, checked)


def _after_answer(attempt: Attempt, question: dict, fraction: float, state: str) -> None:
    from quizzes import review

    if state != "right":
        review.schedule_wrong(attempt.user, question["id"])
    publish(
        "question_answered",
        attempt.user_id,
        attempt.user.username,
        qid=question["id"],
        quiz=attempt.quiz_slug,
        attempt=attempt.pk,
        fraction=fraction,
        state=state,
    )


# --- submitting --------------------------------------------------------------------------------


def _final_fraction(
    attempt: Attempt, resp: Response, question: dict | None, quiz: dict
) -> tuple[float, dict | None]:
    if question is None:
        return 0.0, None
    try:
        g = grade(question, resp.response)
    except InvalidResponse:
        return 0.0, None
    if attempt.mode != "practice":
        return g.fraction, g.to_dict()
    if resp.finished or not g.answered or (resp.grade or {}).get("response") == resp.response:
        return resp.fraction or 0.0, resp.grade  # nothing new since the last check
    tries = resp.tries + 1
    resp.tries = tries
    return practice_score(g.fraction, tries, quiz["penalty"]), {
        **g.to_dict(),
        "response": resp.response,
    }


def submit(
    attempt: Attempt, *, now: datetime | None = None, auto: bool = False
) -> tuple[Attempt, bool]:
    """Grade and close an attempt. Idempotent: the second call returns (attempt, False)."""
    now = now or timezone.now()
    quiz = get_quiz(attempt.quiz_slug) or with_defaults({"slug": attempt.quiz_slug})
    graded: list[tuple[dict, float, str]] = []
    with transaction.atomic():
        claimed = Attempt.objects.filter(pk=attempt.pk, state=Attempt.IN_PROGRESS).update(
            state=Attempt.SUBMITTED, submitted_at=now, auto_submitted=auto
        )
        if not claimed:
            attempt.refresh_from_db()
            return attempt, False
        responses = list(attempt.responses.select_for_update().order_by("position"))
        questions = source.get_questions([r.qid for r in responses])
        total = 0.0
        for resp in responses:
            q = questions.get(resp.qid)
            already = resp.finished or (
                attempt.mode == "practice"
                and resp.grade
                and resp.grade.get("response") == resp.response
            )
            fraction, g = _final_fraction(attempt, resp, q, quiz)
            resp.fraction, resp.grade, resp.finished = fraction, g, True
            resp.save(update_fields=["fraction", "grade", "finished", "tries", "updated_at"])
            total += fraction
            if q is not None and g is not None and g.get("answered", True) and not already:
                graded.append((q, fraction, g["state"]))
            elif q is not None and g is None and attempt.mode != "practice":
                graded.append((q, 0.0, "wrong"))
        score = round(100 * total / len(responses), 2) if responses else 0.0
        Attempt.objects.filter(pk=attempt.pk).update(score=score, passed=score >= quiz["pass_mark"])
    attempt.refresh_from_db()
    for q, fraction, state in graded:
        _after_answer(attempt, q, fraction, state)
    publish(
        "quiz_submitted",
        attempt.user_id,
        attempt.user.username,
        quiz=attempt.quiz_slug,
        attempt=attempt.pk,
        number=attempt.number,
        score=attempt.score,
        passed=attempt.passed,
        auto=auto,
    )
    return attempt, True


def submit_if_expired(attempt: Attempt, now: datetime | None = None) -> bool:
    """Submit an open attempt whose deadline has passed; True when it is (now) closed."""
    now = now or timezone.now()
    if attempt.state == Attempt.IN_PROGRESS and attempt.deadline and now >= attempt.deadline:
        submit(attempt, now=now, auto=True)
        attempt.refresh_from_db()
        return True
    return attempt.state != Attempt.IN_PROGRESS


def submit_expired(now: datetime | None = None) -> int:
    """Submit every open attempt past its deadline (the beat task calls this)."""
    now = now or timezone.now()
    count = 0
    for attempt in Attempt.objects.filter(state=Attempt.IN_PROGRESS, deadline__lte=now):
        _, did = submit(attempt, now=now, auto=True)
        count += did
    return count


# --- grades ------------------------------------------------------------------------------------


def quiz_grade(user: Any, slug: str, method: str | None = None) -> float | None:
    """The learner's grade for a quiz over submitted attempts, by the quiz's grading method."""
    if method is None:
        quiz = get_quiz(slug)
        method = quiz["grading"] if quiz else "highest"
    scores = list(
        Attempt.objects.filter(user=user, quiz_slug=slug, state=Attempt.SUBMITTED)
        .order_by("number")
        .values_list("score", flat=True)
    )
    scores = [s or 0.0 for s in scores]
    if not scores:
        return None
    if method == "highest":
        return max(scores)
    if method == "latest":
        return scores[-1]
    if method == "first":
        return scores[0]
    if method == "average":
        return round(sum(scores) / len(scores), 2)
    raise ValueError(f"unknown grading method {method!r}")


# --- item statistics ------------------------------------------------------------------------------


def quiz_statistics(slug: str, first_only: bool = False) -> dict | None:
    """`statistics.item_analysis` over the submitted attempts of a quiz, per slot (position),
    as Moodle's report counts random questions. Adds ``slots``: the question ids seen in each
    slot. None when no attempt has been submitted. For dashboards (instructor-only views)."""
    from quizzes.statistics import item_analysis

    attempts = Attempt.objects.filter(quiz_slug=slug, state=Attempt.SUBMITTED).order_by(
        "user_id", "number"
    )
    if first_only:
        attempts = attempts.filter(number=1)
    rows: list[list[float]] = []
    slots: list[set[str]] = []
    width = None
    for attempt in attempts.prefetch_related("responses"):
        responses = sorted(attempt.responses.all(), key=lambda r: r.position)
        if width is None:
            width = len(responses)
            slots = [set() for _ in range(width)]
        if len(responses) != width:
            continue  # the quiz changed shape; keep the rows comparable
        rows.append([r.fraction or 0.0 for r in responses])
        for slot, r in zip(slots, responses, strict=True):
            slot.add(r.qid)
    if not rows:
        return None
    result = item_analysis(rows)
    result["slots"] = [sorted(s) for s in slots]
    result["attempts"] = len(rows)
    return result
