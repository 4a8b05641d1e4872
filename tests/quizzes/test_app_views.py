# ruff: noqa: F811  (pytest fixtures imported from app_fixtures)
"""Quiz pages: permissions for every view, no answer leaks before they are allowed, the flow."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from quizzes import services, source
from quizzes.grading import to_display
from quizzes.models import Attempt, ReviewCard
from tests.quizzes.app_fixtures import learner, test_bank  # noqa: F401

pytestmark = pytest.mark.django_db

SECRET = re.compile(r"FEEDBACK-|EXPLANATION-")


@pytest.fixture
def attempt(learner):
    return services.start_attempt(learner, "t-exam")


def urls_for(attempt):
    return {
        "list": ("get", reverse("quizzes:list")),
        "detail": ("get", reverse("quizzes:detail", args=["t-exam"])),
        "start": ("post", reverse("quizzes:start", args=["t-exam"])),
        "attempt": ("get", reverse("quizzes:attempt", args=[attempt.pk])),
        "save": ("post", reverse("quizzes:save", args=[attempt.pk, "tq-single"])),
        "submit": ("post", reverse("quizzes:submit", args=[attempt.pk])),
        "review": ("get", reverse("quizzes:review", args=[attempt.pk])),
        "queue": ("get", reverse("quizzes:review_queue")),
    }


def test_anonymous_is_sent_to_login(client, attempt):
    for name, (method, url) in urls_for(attempt).items():
        r = getattr(client, method)(url)
        assert r.status_code == 302 and "/login" in r["Location"], name


def test_other_learners_attempt_is_404(client, make_user, attempt):
    client.force_login(make_user("mallory"))
    for name in ("attempt", "save", "submit", "review"):
        method, url = urls_for(attempt)[name]
        assert getattr(client, method)(url).status_code == 404, name
    attempt.refresh_from_db()
    assert attempt.state == Attempt.IN_PROGRESS


def test_instructor_sees_own_pages_only(client, make_user, attempt):
    client.force_login(make_user("ines", instructor=True))
    assert client.get(urls_for(attempt)["attempt"][1]).status_code == 404
    assert client.get(reverse("quizzes:list")).status_code == 200


def test_learner_pages(client, learner, attempt):
    client.force_login(learner)
    assert client.get(reverse("quizzes:list")).status_code == 200
    page = client.get(reverse("quizzes:detail", args=["t-exam"]))
    assert b"Continue attempt 1" in page.content
    assert client.get(reverse("quizzes:detail", args=["nope"])).status_code == 404
    assert client.get(reverse("quizzes:review_queue")).status_code == 200
    # review before submit redirects to the attempt
    r = client.get(reverse("quizzes:review", args=[attempt.pk]))
    assert r.status_code == 302 and r["Location"].endswith(f"/attempt/{attempt.pk}/")


def _bodies(client, attempt):
    out = [client.get(reverse("quizzes:attempt", args=[attempt.pk]))]
    out.append(client.get(reverse("quizzes:detail", args=[attempt.quiz_slug])))
    return out


def _text(response):
    headers = "\n".join(f"{k}: {v}" for k, v in response.items())
    return headers + "\n" + response.content.decode()


def test_no_answer_leaks_before_allowed(client, learner):
    client.force_login(learner)
    exam = services.start_attempt(learner, "t-exam")
    practice = services.start_attempt(learner, "t-practice")
    for attempt in (exam, practice):
        for r in _bodies(client, attempt):
            assert r.status_code == 200
            assert not SECRET.search(_text(r)), SECRET.search(_text(r))
        assert "correct" not in client.get(f"/quizzes/attempt/{attempt.pk}/").content.decode()
    # exam: saving (and a "check" attempt) answers with a status only
    q = source.get_question("tq-single")
    right = to_display(q, 0, exam.seed)
    for data in ({"answer": str(right)}, {"answer": str(right), "check": "1"}):
        r = client.post(f"/quizzes/attempt/{exam.pk}/save/tq-single/", data, HTTP_HX_REQUEST="true")
        assert r.status_code == 200 and not SECRET.search(_text(r))
        assert b"Saved" in r.content and b"Paris" not in r.content
    page = _text(client.get(f"/quizzes/attempt/{exam.pk}/"))
    assert not SECRET.search(page)
    # practice: feedback appears for the checked question only, never the other one's
    wrong = to_display(q, 1, practice.seed)
    r = client.post(
        f"/quizzes/attempt/{practice.pk}/save/tq-single/",
        {"answer": str(wrong), "check": "1"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TRIGGER="check-tq-single",
    )
    body = _text(r)
    assert "FEEDBACK-LYON-WRONG" in body
    assert "EXPLANATION-SINGLE-SECRET" not in body and "FEEDBACK-PARIS-RIGHT" not in body
    page = _text(client.get(f"/quizzes/attempt/{practice.pk}/"))
    assert "FEEDBACK-TF" not in page and "EXPLANATION-" not in page


def test_exam_flow_autosave_reload_submit_review(client, learner):
    client.force_login(learner)
    r = client.post(reverse("quizzes:start", args=["t-exam"]))
    attempt = Attempt.objects.get(user=learner)
    assert r["Location"] == f"/quizzes/attempt/{attempt.pk}/"
    q = source.get_question("tq-match")
    shown = to_display(q, {"0": "woof", "1": "meow"}, attempt.seed)
    client.post(
        f"/quizzes/attempt/{attempt.pk}/save/tq-match/",
        {f"m-{k}": v for k, v in shown.items()},
        HTTP_HX_REQUEST="true",
    )
    page = client.get(f"/quizzes/attempt/{attempt.pk}/").content.decode()
    assert page.count("selected>") == 2  # both selects restored after a reload
    oq = source.get_question("tq-order")
    order = to_display(oq, [0, 1, 2], attempt.seed)
    client.post(f"/quizzes/attempt/{attempt.pk}/save/tq-order/", {"order": order})
    # double submit: one result
    r1 = client.post(f"/quizzes/attempt/{attempt.pk}/submit/")
    r2 = client.post(f"/quizzes/attempt/{attempt.pk}/submit/")
    assert r1["Location"] == r2["Location"] == f"/quizzes/attempt/{attempt.pk}/review/"
    attempt.refresh_from_db()
    assert attempt.score == pytest.approx(66.67, abs=0.01)
    review = client.get(r1["Location"]).content.decode()
    assert "EXPLANATION-MATCH-SECRET" in review and "EXPLANATION-SINGLE-SECRET" in review
    assert "Paris" in review  # the right answer of the unanswered single question
    assert "/courses/testcourse/intro/#capitals" in review
    assert "Not answered" in review
    # the attempt page now redirects to the review; late saves are refused
    assert client.get(f"/quizzes/attempt/{attempt.pk}/")["Location"].endswith("/review/")
    r = client.post(
        f"/quizzes/attempt/{attempt.pk}/save/tq-single/", {"answer": "0"}, HTTP_HX_REQUEST="true"
    )
    assert b"submitted" in r.content


def test_late_save_refused_over_http(client, learner):
    client.force_login(learner)
    attempt = services.start_attempt(learner, "t-exam")
    Attempt.objects.filter(pk=attempt.pk).update(deadline=attempt.started_at)
    r = client.post(
        f"/quizzes/attempt/{attempt.pk}/save/tq-single/", {"answer": "0"}, HTTP_HX_REQUEST="true"
    )
    assert b"Time is up" in r.content
    attempt.refresh_from_db()
    assert attempt.state == Attempt.SUBMITTED


@pytest.fixture
def with_badge(settings):
    """The context processor the lead registers in settings (quizzes.context_processors)."""
    import copy

    templates = copy.deepcopy(settings.TEMPLATES)
    cps = templates[0]["OPTIONS"]["context_processors"]
    if "quizzes.context_processors.review_due" not in cps:
        cps.append("quizzes.context_processors.review_due")
    settings.TEMPLATES = templates


def test_review_queue_serves_due_cards(client, learner, with_badge):
    client.force_login(learner)
    attempt = services.start_attempt(learner, "t-practice")
    services.save_answer(attempt, "tq-tf", "false", check=True)
    card = ReviewCard.objects.get(user=learner, qid="tq-tf")
    page = client.get("/quizzes/review/").content.decode()
    assert "The sky is blue." in page and "FEEDBACK-TF" not in page
    assert "1 to review" in page  # header badge
    r = client.post("/quizzes/review/", {"card": card.pk, "answer": "true"})
    assert b"FEEDBACK-TF-TRUE" in r.content and b"Correct" in r.content
    card.refresh_from_db()
    assert card.reviews == 1 and card.due > card.created_at
    assert "Nothing to review" in client.get("/quizzes/review/").content.decode()


def test_context_processor_counts_due(rf, learner):
    from quizzes.context_processors import review_due

    request = rf.get("/")
    request.user = learner
    assert review_due(request)["review_due_count"]() == 0
    ReviewCard.objects.create(user=learner, qid="tq-tf", card={}, due="2000-01-01T00:00Z")
    assert review_due(request)["review_due_count"]() == 1


def test_review_of_partly_answered_matching(client, learner):
    client.force_login(learner)
    attempt = services.start_attempt(learner, "t-exam")
    q = source.get_question("tq-match")
    client.post(
        f"/quizzes/attempt/{attempt.pk}/save/tq-match/",
        {"m-0": str(to_display(q, {"0": "woof"}, attempt.seed)["0"]), "m-1": ""},
    )
    services.submit(attempt)
    review = client.get(f"/quizzes/attempt/{attempt.pk}/review/")
    assert review.status_code == 200
    assert "dog → woof" in review.content.decode()


def test_autosave_resending_the_check_button_is_not_a_try(client, learner):
    """htmx adds the last clicked submit button to later form autosaves: not a check."""
    client.force_login(learner)
    attempt = services.start_attempt(learner, "t-practice")
    url = f"/quizzes/attempt/{attempt.pk}/save/tq-tf/"
    r = client.post(
        url, {"answer": "false", "check": "1"}, HTTP_HX_REQUEST="true", HTTP_HX_TRIGGER="q-form"
    )
    assert b"Saved" in r.content
    resp = attempt.responses.get(qid="tq-tf")
    assert resp.tries == 0 and resp.response in (False, "false")
    r = client.post(
        url,
        {"answer": "false", "check": "1"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TRIGGER="check-tq-tf",
    )
    assert b"FEEDBACK-TF-FALSE" in r.content
    assert attempt.responses.get(qid="tq-tf").tries == 1


def test_attempt_of_a_removed_quiz_stays_reviewable(client, learner):
    client.force_login(learner)
    attempt = services.start_attempt(learner, "t-exam")
    services.submit(attempt)
    from quizzes.models import Attempt as A

    A.objects.filter(pk=attempt.pk).update(quiz_slug="gone")
    r = client.get(f"/quizzes/attempt/{attempt.pk}/review/")
    assert r.status_code == 200 and b"Review of attempt 1" in r.content
