"""Short answers accepted only by a regex: the `example` shown as the right answer, its
validation (with the file:line of check_site), the readable fallback, and the pages showing it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.core.management import call_command

from quizzes.bank import validate_question
from quizzes.grading import accepted_pattern, correct_response, grade

FIXTURE_SITE = Path(__file__).parents[1] / "lessons" / "fixtures" / "site"

BASE = {
    "id": "rx-1",
    "type": "short",
    "text": "Name the header.",
    "topics": ["T01"],
    "difficulty": "easy",
    "lesson": "l#s",
    "explanation": "traceparent carries the trace id.",
}


def short(*answers: dict) -> dict:
    return BASE | {"answers": list(answers)}


# --- validation ----------------------------------------------------------------------------------


def test_an_example_that_matches_its_regex_is_valid_and_is_the_right_answer():
    q = short({"regex": "^trace[- ]?parent$", "example": "traceparent", "fraction": 100})
    assert validate_question(q) == []
    assert correct_response(q) == "traceparent"
    assert grade(q, correct_response(q)).fraction == 1.0
    assert accepted_pattern(q) == {"pattern": "trace[- ]?parent", "whole": True}


def test_an_example_must_match_its_own_regex():
    q = short({"regex": "^trace[- ]?parent$", "example": "tracestate", "fraction": 100})
    assert validate_question(q) == [
        "answers[0].example: 'tracestate' does not match its own regex '^trace[- ]?parent$'"
    ]


def test_an_example_caught_first_by_a_partial_answer_is_refused():
    q = short(
        {"regex": "^kubectl rollout undo", "fraction": 50},
        {
            "regex": "^kubectl rollout undo deploy/orders$",
            "example": "kubectl rollout undo deploy/orders",
        },
    )
    assert validate_question(q) == [
        "answers[1].example: 'kubectl rollout undo deploy/orders' is caught first by answers[0],"
        " which gives only 50%"
    ]


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ({"text": "traceparent", "example": "traceparent"}, "answers[0].example: only for a regex"),
        ({"regex": "^a$", "example": 7}, "answers[0].example: must be text"),
        ({"regex": "^a$", "example": " "}, "answers[0].example: empty"),
    ],
)
def test_example_shape_problems(answer, problem):
    problems = validate_question(short(answer))
    assert any(p.startswith(problem) for p in problems), problems


def test_without_an_example_the_pattern_is_the_fallback():
    q = short({"regex": "^pkce$"}, {"regex": "proof key", "fraction": 100})
    assert correct_response(q) is None
    assert accepted_pattern(q) == {"pattern": "pkce", "whole": True}
    unanchored = short({"regex": "proof key", "fraction": 100})
    assert accepted_pattern(unanchored) == {"pattern": "proof key", "whole": False}
    # a text answer anywhere in the full-credit answers wins over a regex example
    mixed = short({"regex": "^x+$", "example": "xx"}, {"text": "x*y"})
    assert correct_response(mixed) == "xy"


def test_every_regex_only_question_of_the_site_has_an_example():
    """The real content: every short question has a right answer to show."""
    import yaml
    from django.conf import settings

    missing = []
    for path in sorted(Path(settings.SITE_CONTENT_DIR).rglob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("questions"), list):
            continue
        for q in data["questions"]:
            if q.get("type") == "short":
                right = correct_response(q)
                if right is None or grade(q, right).fraction != 1.0:
                    missing.append(q["id"])
    assert missing == []


# --- check_site reports a bad example at its line --------------------------------------------------

BAD_QUESTION = """
  - id: demo-rx
    type: short
    text: Name the header.
    topics: [T01]
    difficulty: easy
    lesson: intro#first-section
    answers:
      - {regex: "^trace[- ]?parent$", fraction: 100, feedback: "Yes."}
      - regex: "^traceparent-header$"
        example: "tracestate"
    explanation: traceparent.
"""


def test_check_site_reports_a_bad_example_with_file_and_line(tmp_path, capsys):
    site = tmp_path / "site"
    shutil.copytree(FIXTURE_SITE, site)
    bank = site / "demo" / "01-basics" / "questions.yaml"
    bank.write_text(bank.read_text() + BAD_QUESTION)
    line = next(n for n, text in enumerate(bank.read_text().split("\n"), 1) if "tracestate" in text)
    with pytest.raises(SystemExit):
        call_command("check_site", str(site))
    out = capsys.readouterr().out
    assert f"questions.yaml:{line}: questions[2].answers[1].example: 'tracestate'" in out, out


# --- the pages: attempt review, practice feedback, review queue ------------------------------------

PAGE_BANK = """
questions:
  - id: rx-example
    type: short
    text: Which W3C header carries the trace id?
    topics: [T01]
    difficulty: easy
    lesson: intro#s
    answers:
      - {regex: "^trace[- ]?parent:?$", example: "traceparent", fraction: 100, feedback: "Yes."}
    feedback_incorrect: Not that one.
    explanation: The W3C Trace Context header.
  - id: rx-plain
    type: short
    text: Which OAuth extension protects public clients?
    topics: [T01]
    difficulty: easy
    lesson: intro#s
    answers:
      - {regex: "^pk(ce|ec)$", fraction: 100, feedback: "Yes."}
    feedback_incorrect: Not that one.
    explanation: Proof Key for Code Exchange.
"""

PAGE_QUIZZES = """
quizzes:
  - slug: rx-exam
    title: Regex exam
    mode: exam
    shuffle: false
    questions: [rx-example, rx-plain]
  - slug: rx-practice
    title: Regex practice
    mode: practice
    tries: 1
    shuffle: false
    questions: [rx-example, rx-plain]
"""


@pytest.fixture
def rx_site(settings, tmp_path):
    course = tmp_path / "site" / "rxcourse"
    (course / "01-basics").mkdir(parents=True)
    (course / "01-basics" / "01-rx.questions.yaml").write_text(PAGE_BANK)
    (course / "quizzes.yaml").write_text(PAGE_QUIZZES)
    settings.SITE_CONTENT_DIR = tmp_path / "site"
    settings.QUIZ_EXTRA_CONTENT_DIR = None
    settings.QUIZ_REVIEW_FUZZ = False
    return course


def _answer_wrong(client, attempt, check: bool = False) -> list:
    out = []
    for qid in ("rx-example", "rx-plain"):
        data = {"answer": "baggage"} | ({"check": "1"} if check else {})
        headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TRIGGER": f"check-{qid}"} if check else {}
        out.append(client.post(f"/quizzes/attempt/{attempt.pk}/save/{qid}/", data, **headers))
    return out


@pytest.mark.django_db
def test_review_page_shows_the_example_or_the_pattern(client, make_user, rx_site):
    from quizzes import services

    user = make_user("rx-learner")
    client.force_login(user)
    attempt = services.start_attempt(user, "rx-exam")
    _answer_wrong(client, attempt)
    client.post(f"/quizzes/attempt/{attempt.pk}/submit/")
    page = client.get(f"/quizzes/attempt/{attempt.pk}/review/").content.decode()
    example_item = page[
        page.index('id="question-rx-example"') : page.index('id="question-rx-plain"')
    ]
    plain_item = page[page.index('id="question-rx-plain"') :]
    assert "<dt>Right answer</dt>" in example_item
    assert '<span class="answer">traceparent</span>' in example_item
    assert "right-pattern" not in example_item
    assert "<dt>Right answer</dt>" not in plain_item
    assert "<dt>Accepted answers</dt>" in plain_item
    assert "An answer that matches the pattern <code>pk(ce|ec)</code>" in plain_item


@pytest.mark.django_db
def test_practice_feedback_shows_the_example_once_the_tries_are_used(client, make_user, rx_site):
    from quizzes import services

    user = make_user("rx-practiser")
    client.force_login(user)
    attempt = services.start_attempt(user, "rx-practice")
    example, plain = (r.content.decode() for r in _answer_wrong(client, attempt, check=True))
    assert "Not correct" in example
    assert 'Right answer: <span class="answer">traceparent</span>' in example
    assert "Right answer" not in plain
    assert "an answer that matches the pattern <code>pk(ce|ec)</code>" in plain


@pytest.mark.django_db
def test_review_queue_shows_the_example(client, make_user, rx_site):
    from quizzes import services
    from quizzes.models import ReviewCard

    user = make_user("rx-reviewer")
    client.force_login(user)
    attempt = services.start_attempt(user, "rx-practice")
    _answer_wrong(client, attempt, check=True)
    cards = {c.qid: c for c in ReviewCard.objects.filter(user=user)}
    assert set(cards) == {"rx-example", "rx-plain"}
    r = client.post("/quizzes/review/", {"card": cards["rx-example"].pk, "answer": "tracestate"})
    assert 'Right answer: <span class="answer">traceparent</span>' in r.content.decode()
    r = client.post("/quizzes/review/", {"card": cards["rx-plain"].pk, "answer": "oauth"})
    assert "an answer that matches the pattern <code>pk(ce|ec)</code>" in r.content.decode()
