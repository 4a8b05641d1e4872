"""Quiz pages: list, start, the attempt (autosave, practice checks, timer), submit, review,
and the spaced-repetition review queue.

Nothing that reveals an answer (correct flags, feedback, explanations) reaches the learner
before the rules allow it: attempt pages render `grading.public_view` only, plus the feedback
of practice questions the learner has checked.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.html import escape
from django.views.decorators.http import require_POST

from config.permissions import LEARNER, is_instructor, permission
from quizzes import review, services, source
from quizzes.bank import with_defaults
from quizzes.grading import (
    Grade,
    InvalidResponse,
    accepted_pattern,
    correct_response,
    from_display,
    grade,
    public_view,
    response_text,
    to_display,
)
from quizzes.models import Attempt, Response, ReviewCard

# --- helpers ------------------------------------------------------------------------------------


def _own_attempt(request: HttpRequest, pk: int) -> Attempt:
    """The learner's own attempt; anyone else's answers 404."""
    return get_object_or_404(Attempt, pk=pk, user=request.user)


def _watched_attempt(request: HttpRequest, pk: int) -> Attempt:
    """A learner's *submitted* attempt, read-only, for staff or an instructor who teaches them
    (a cohort of theirs holds the learner: classroom.services.teaches); otherwise 404."""
    from classroom.services import teaches  # classroom builds on quizzes, so import late

    user = request.user
    attempt = Attempt.objects.filter(pk=pk, state=Attempt.SUBMITTED).first()
    if attempt is None or not (
        user.is_staff or (is_instructor(user) and teaches(user, attempt.user_id))
    ):
        raise Http404("No such attempt")
    return attempt


def _quiz(slug: str) -> dict:
    quiz = services.get_quiz(slug)
    if quiz is None:
        raise Http404("No such quiz")
    return quiz


def _attempt_quiz(attempt: Attempt) -> dict:
    """The attempt's quiz; still reviewable when the quiz has left the site content."""
    quiz = services.get_quiz(attempt.quiz_slug)
    if quiz is None:
        quiz = with_defaults(
            {"slug": attempt.quiz_slug, "title": attempt.quiz_slug, "mode": attempt.mode}
        )
    return quiz


def _int_or_none(value: str | None) -> int | str | None:
    if value is None or value == "":
        return None
    return int(value) if value.isdigit() else value


def parse_post(question: dict, data: Any) -> Any:
    """A posted form as a response in display positions (see grading.from_display)."""
    t = question["type"]
    if t == "multiple":
        return [_int_or_none(v) for v in data.getlist("answer") if v != ""]
    if t == "ordering":
        return [_int_or_none(v) for v in data.getlist("order") if v != ""]
    if t == "matching":
        return {i: _int_or_none(data.get(f"m-{i}")) for i in range(len(question["pairs"]))}
    if t == "single":
        return _int_or_none(data.get("answer"))
    return data.get("answer", "")


def _feedback_texts(g: Grade) -> list[str]:
    return list(g.option_feedback.values()) + list(g.feedback)


def _display_state(q: dict, view: dict, saved: Any, seed: str, shuffle: bool) -> dict:
    """Inputs to render for a question, re-checked from the saved (bank-space) response."""
    shown = to_display(q, saved, seed, shuffle=shuffle) if saved not in (None, "", [], {}) else None
    t = q["type"]
    ctx: dict[str, Any] = {}
    if t in ("single", "multiple"):
        chosen = set(shown if isinstance(shown, list) else [] if shown is None else [shown])
        ctx["options"] = [(i, text, i in chosen) for i, text in enumerate(view["options"])]
    elif t == "truefalse":
        ctx["value"] = None if shown is None else ("true" if shown in (True, "true") else "false")
    elif t == "ordering":
        order = shown if shown else list(range(len(view["items"])))
        ctx["items"] = [(p, view["items"][p]) for p in order]
    elif t == "matching":
        sel = {int(k): v for k, v in (shown or {}).items()}
        ctx["rows"] = [(i, left, sel.get(i)) for i, left in enumerate(view["lefts"])]
        ctx["choices"] = list(enumerate(view["choices"]))
    else:
        ctx["value"] = "" if saved is None else str(saved)
        ctx["unit"] = view.get("unit", "")
    return ctx


def _answer_text(q: dict, response: Any) -> Any:
    """grading.response_text, tolerant of partly answered matching (unanswered rows left out)."""
    if isinstance(response, dict):
        response = {k: v for k, v in response.items() if v not in (None, "")}
    try:
        return response_text(q, response)
    except (InvalidResponse, LookupError, TypeError):
        return None


def _reveal(q: dict, resp: Response) -> dict:
    """What may be shown once a question is finished: answer, right answer, explanation."""
    right = correct_response(q)
    return {
        "your_answer": _answer_text(q, resp.response),
        "right_answer": response_text(q, right) if right is not None else None,
        # Only when there is no answer to show (a regex without an example): the pattern.
        "right_pattern": accepted_pattern(q) if right is None else None,
        "explanation": q.get("explanation", ""),
        "lesson_url": source.lesson_url(q),
    }


def question_context(attempt: Attempt, resp: Response, quiz: dict) -> dict:
    q = source.get_question(resp.qid)
    if q is None:
        return {"qid": resp.qid, "missing": True, "number": resp.position + 1}
    view = public_view(q, attempt.seed, shuffle=quiz["shuffle"])
    ctx = {
        "qid": resp.qid,
        "number": resp.position + 1,
        "type": q["type"],
        "text": view["text"],
        "view": view,
        "practice": attempt.mode == "practice",
        "open": attempt.is_open and not resp.finished,
        "tries": resp.tries,
        "tries_left": max(0, quiz["tries"] - resp.tries),
        "finished": resp.finished,
        **_display_state(q, view, resp.response, attempt.seed, quiz["shuffle"]),
    }
    if attempt.mode == "practice" and resp.grade:  # checked: feedback is allowed now
        g = Grade.from_dict(resp.grade)
        ctx["checked"] = {
            "state": g.state,
            "mark": resp.fraction,
            "feedback": _feedback_texts(g),
        }
        if resp.finished:
            ctx["reveal"] = _reveal(q, resp)
    return ctx


def _render_question(
    request: HttpRequest, attempt: Attempt, resp: Response, quiz: dict, error: str = ""
) -> HttpResponse:
    ctx = {
        "attempt": attempt,
        "quiz": quiz,
        "q": question_context(attempt, resp, quiz),
        "error": error,
    }
    return render(request, "quizzes/partials/question.html", ctx)


# --- pages -----------------------------------------------------------------------------------


@permission(LEARNER)
def quiz_list(request: HttpRequest) -> HttpResponse:
    rows = []
    for quiz in sorted(services.list_quizzes(), key=lambda q: q.get("title", q["slug"])):
        rows.append(
            {
                "quiz": quiz,
                "grade": services.quiz_grade(request.user, quiz["slug"], quiz["grading"]),
            }
        )
    return render(
        request, "quizzes/list.html", {"rows": rows, "due": review.due_count(request.user)}
    )


@permission(LEARNER)
def quiz_detail(request: HttpRequest, slug: str) -> HttpResponse:
    quiz = _quiz(slug)
    user = request.user
    current = services.current_attempt(user, slug)
    attempts = Attempt.objects.filter(user=user, quiz_slug=slug).order_by("number")
    limit = services.time_limit(quiz, user)
    ctx = {
        "quiz": quiz,
        "current": current,
        "attempts": attempts,
        "left": services.attempts_left(quiz, user),
        "allowed": services.attempts_allowed(quiz, user),
        "grade": services.quiz_grade(user, slug, quiz["grading"]),
        "limit_minutes": round(limit.total_seconds() / 60, 1) if limit else None,
    }
    return render(request, "quizzes/detail.html", ctx)


@permission(LEARNER)
@require_POST
def start(request: HttpRequest, slug: str) -> HttpResponse:
    _quiz(slug)
    try:
        attempt = services.start_attempt(request.user, slug)
    except services.QuizError as exc:
        messages.error(request, str(exc))
        return redirect("quizzes:detail", slug=slug)
    return redirect("quizzes:attempt", pk=attempt.pk)


@permission(LEARNER)
def attempt_page(request: HttpRequest, pk: int) -> HttpResponse:
    attempt = _own_attempt(request, pk)
    if services.submit_if_expired(attempt):
        if attempt.auto_submitted:
            messages.info(request, "Time ran out: your attempt was submitted automatically.")
        return redirect("quizzes:review", pk=attempt.pk)
    quiz = _attempt_quiz(attempt)
    questions = [question_context(attempt, r, quiz) for r in attempt.responses.all()]
    remaining = (
        max(0, int((attempt.deadline - timezone.now()).total_seconds()))
        if attempt.deadline
        else None
    )
    return render(
        request,
        "quizzes/attempt.html",
        {
            "attempt": attempt,
            "quiz": quiz,
            "questions": questions,
            "remaining": remaining,
        },
    )


@permission(LEARNER)
@require_POST
def save(request: HttpRequest, pk: int, qid: str) -> HttpResponse:
    """Autosave one answer (htmx) or, with check=1 in practice mode, grade it."""
    attempt = _own_attempt(request, pk)
    resp = get_object_or_404(Response, attempt=attempt, qid=qid)
    quiz = _attempt_quiz(attempt)
    question = source.get_question(qid)
    if question is None:
        raise Http404("No such question")
    # A check comes from the Check button only: htmx resends the last clicked submit button
    # with later form-triggered autosaves, so an htmx request must name that button.
    check = request.POST.get("check") == "1" and (
        not request.htmx or request.htmx.trigger == f"check-{qid}"
    )
    error = ""
    status = 200
    try:
        result = services.save_answer(attempt, qid, parse_post(question, request.POST), check=check)
        resp = result.response
    except services.AttemptClosed as exc:
        if not request.htmx:
            messages.error(request, str(exc))
            return redirect("quizzes:review", pk=attempt.pk)
        response = HttpResponse(f'<span class="bad" role="alert">{escape(exc)}</span>')
        response["HX-Retarget"] = f"#status-{qid}"
        response["HX-Reswap"] = "innerHTML"
        return response
    except (InvalidResponse, services.QuizError, ValueError) as exc:
        error, status = str(exc), 422
    attempt.refresh_from_db()
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect(f"/quizzes/attempt/{attempt.pk}/#question-{qid}")
    if check and attempt.mode == "practice":
        resp.refresh_from_db()
        return _render_question(request, attempt, resp, quiz, error)
    if error:
        return HttpResponse(f'<span class="bad" role="alert">{escape(error)}</span>', status=status)
    return HttpResponse(f'<span class="muted">Saved at {timezone.localtime():%H:%M:%S}</span>')


@permission(LEARNER)
@require_POST
def submit(request: HttpRequest, pk: int) -> HttpResponse:
    attempt = _own_attempt(request, pk)
    services.submit(attempt)
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = f"/quizzes/attempt/{attempt.pk}/review/"
        return response
    return redirect("quizzes:review", pk=attempt.pk)


@permission(LEARNER)
def attempt_review(request: HttpRequest, pk: int) -> HttpResponse:
    """The learner's review of their submitted attempt; their instructors may read it too."""
    own = Attempt.objects.filter(pk=pk, user=request.user).exists()
    attempt = _own_attempt(request, pk) if own else _watched_attempt(request, pk)
    if own and not services.submit_if_expired(attempt):
        messages.info(request, "Submit your attempt to see the review.")
        return redirect("quizzes:attempt", pk=attempt.pk)
    quiz = _attempt_quiz(attempt)
    items = []
    for resp in attempt.responses.all():
        q = source.get_question(resp.qid)
        if q is None:
            items.append({"qid": resp.qid, "missing": True, "number": resp.position + 1})
            continue
        g = Grade.from_dict(resp.grade) if resp.grade else None
        items.append(
            {
                "qid": resp.qid,
                "number": resp.position + 1,
                "text": q.get("text", ""),
                "mark": resp.fraction or 0.0,
                "state": g.state if g else "wrong",
                "feedback": _feedback_texts(g) if g else [],
                "tries": resp.tries,
                **_reveal(q, resp),
            }
        )
    return render(
        request,
        "quizzes/review.html",
        {
            "attempt": attempt,
            "quiz": quiz,
            "items": items,
            "grade": services.quiz_grade(attempt.user, attempt.quiz_slug, quiz["grading"]),
            "watching": None if own else attempt.user,
        },
    )


# --- review queue ------------------------------------------------------------------------------


@permission(LEARNER)
def review_queue(request: HttpRequest) -> HttpResponse:
    """GET: the next due card; POST: answer it (graded, then rated Again or Good)."""
    user = request.user
    result = None
    if request.method == "POST":
        card = get_object_or_404(ReviewCard, pk=request.POST.get("card", "0") or 0, user=user)
        q = source.get_question(card.qid)
        if q is None:
            card.delete()
            return redirect("quizzes:review_queue")
        seed = f"review-{card.pk}-{card.reviews}"
        try:
            bank = from_display(q, parse_post(q, request.POST), seed)
            g = grade(q, bank)
        except InvalidResponse as exc:
            messages.error(request, str(exc))
            return redirect("quizzes:review_queue")
        right = g.state == "right"
        review.rate(card, right=right)
        fake = Response(qid=card.qid, position=0, response=bank)
        result = {
            "right": right,
            "state": g.state,
            "feedback": _feedback_texts(g),
            "card": card,
            **_reveal(q, fake),
            "text": q.get("text", ""),
        }
    card = review.due_cards(user).first() if result is None else None
    ctx: dict[str, Any] = {"result": result, "due": review.due_count(user)}
    if card is not None:
        q = source.get_question(card.qid)
        if q is None:
            card.delete()
            return redirect("quizzes:review_queue")
        seed = f"review-{card.pk}-{card.reviews}"
        view = public_view(q, seed)
        ctx["card"] = card
        ctx["q"] = {
            "qid": card.qid,
            "type": q["type"],
            "text": view["text"],
            "open": True,
            "number": None,
            **_display_state(q, view, None, seed, True),
        }
    return render(request, "quizzes/review_queue.html", ctx)
