"""In Chromium: a practice quiz taken with the keyboard only (feedback, retry, submit, review),
and an exam attempt that survives a reload.

The quiz pages run on their own uvicorn process whose QUIZ_EXTRA_CONTENT_DIR points at the
tiny test bank (tests/quizzes/fixtures/site), so the shared server is left alone.
"""

from __future__ import annotations

import re

import pytest

from config import processes
from tests.conftest import ARTIFACTS, child_env
from tests.quizzes.app_fixtures import FIXTURE_SITE

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def quiz_server(live_db):
    ARTIFACTS.mkdir(exist_ok=True)
    port = processes.free_port()
    env = child_env({"QUIZ_EXTRA_CONTENT_DIR": str(FIXTURE_SITE)})
    process = processes.start_uvicorn(env, port, log_path=ARTIFACTS / "uvicorn-quizzes.log")
    base = f"http://127.0.0.1:{port}"
    try:
        processes.wait_for_http(base + "/healthz", process)
        yield base
    finally:
        processes.stop(process)


def login(page, base, user) -> None:
    from django.test import Client

    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base}]
    )


def tab_to(page, selector: str, limit: int = 80) -> None:
    """Press Tab until the focused element matches the selector (keyboard only)."""
    for _ in range(limit):
        if page.evaluate(
            "(s) => !!document.activeElement && document.activeElement.matches(s)", selector
        ):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def checked_label(page, qid: str) -> str:
    return page.evaluate(
        "(q) => { const i = document.querySelector(`#question-${q} input[name=answer]:checked`);"
        " return i ? i.closest('label').innerText.trim() : ''; }",
        qid,
    )


def wait_feedback_focused(page, qid: str) -> None:
    page.wait_for_function(
        "(q) => document.activeElement && document.activeElement.id === `feedback-${q}`", arg=qid
    )


def arrow_until(page, qid: str, text: str) -> None:
    for _ in range(8):
        if checked_label(page, qid) == text:
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"could not select {text!r}")


def test_practice_quiz_with_keyboard_only(quiz_server, page, make_user):
    user = make_user("kim")
    login(page, quiz_server, user)
    page.goto(quiz_server + "/quizzes/t-practice/")
    tab_to(page, "form[action$='/start/'] button")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/quizzes/attempt/\d+/$"))

    # A wrong answer first: radio group reached by Tab, chosen with the arrow keys.
    tab_to(page, "#question-tq-single input[name=answer]")
    page.keyboard.press("Space")
    arrow_until(page, "tq-single", "Lyon")
    tab_to(page, "#check-tq-single")
    page.keyboard.press("Enter")
    feedback = page.locator("#question-tq-single .feedback.wrong")
    feedback.wait_for()
    wait_feedback_focused(page, "tq-single")  # screen readers and keyboard land on it
    assert "FEEDBACK-LYON-WRONG" in feedback.inner_text()
    assert "EXPLANATION-SINGLE-SECRET" not in page.content()

    # Retry: the right answer, with one try's penalty.
    tab_to(page, "#question-tq-single input[name=answer]")
    arrow_until(page, "tq-single", "Paris")
    tab_to(page, "#check-tq-single")
    page.keyboard.press("Enter")
    right = page.locator("#question-tq-single .feedback.right")
    right.wait_for()
    wait_feedback_focused(page, "tq-single")
    assert "FEEDBACK-PARIS-RIGHT" in right.inner_text()
    assert "EXPLANATION-SINGLE-SECRET" in right.inner_text()
    assert "0.75" in right.inner_text()
    page.screenshot(path=str(ARTIFACTS / "quizzes-practice-feedback.png"), full_page=True)

    # Second question: answered (autosaved) but not checked.
    tab_to(page, "#question-tq-tf input[name=answer]")
    page.keyboard.press("Space")
    page.locator("#status-tq-tf", has_text="Saved").wait_for()

    tab_to(page, "#submit-attempt")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/review/$"))
    body = page.locator("main").inner_text()
    assert "Review of attempt 1" in body
    page.screenshot(path=str(ARTIFACTS / "quizzes-review.png"), full_page=True)
    assert "87.5%" in body
    assert "EXPLANATION-TF-SECRET" in body
    assert page.locator("a[href='/courses/testcourse/intro/#capitals']").count() == 1


def test_exam_attempt_survives_reload(quiz_server, page, make_user):
    user = make_user("eve")
    login(page, quiz_server, user)
    page.goto(quiz_server + "/quizzes/t-exam/")
    page.get_by_role("button", name="Start attempt").click()
    page.wait_for_url(re.compile(r".*/quizzes/attempt/\d+/$"))
    assert page.locator(".quiz-timer").is_visible()

    items = page.locator("#question-tq-order li.ordering-item .ordering-text")
    before = items.all_inner_texts()
    tab_to(page, "#question-tq-order li:first-child button[data-move=down]")
    page.keyboard.press("Enter")
    page.locator("#status-tq-order", has_text="Saved").wait_for()
    moved = items.all_inner_texts()
    announced = page.locator("#question-tq-order [data-order-announce]").inner_text()
    assert announced == f"“{before[0]}” moved to position 2 of 3."
    assert moved == [before[1], before[0], *before[2:]]

    page.select_option("#m-tq-match-0", label="woof")
    page.locator("#status-tq-match", has_text="Saved").wait_for()
    page.locator("#question-tq-single label", has_text="Paris").click()
    page.locator("#status-tq-single", has_text="Saved").wait_for()

    page.reload()
    assert (
        page.locator("#question-tq-order li.ordering-item .ordering-text").all_inner_texts()
        == moved
    )
    assert page.locator("#m-tq-match-0 option:checked").inner_text() == "woof"
    assert checked_label(page, "tq-single") == "Paris"
    page.screenshot(path=str(ARTIFACTS / "quizzes-exam-after-reload.png"), full_page=True)
    assert "FEEDBACK-" not in page.content() and "EXPLANATION-" not in page.content()

    page.get_by_role("button", name="Submit attempt").click()
    page.wait_for_url(re.compile(r".*/review/$"))
    assert "Review of attempt 1" in page.locator("main").inner_text()


def test_ordering_by_drag_and_drop_is_saved(quiz_server, page, make_user):
    user = make_user("dora")
    login(page, quiz_server, user)
    page.goto(quiz_server + "/quizzes/t-exam/")
    page.get_by_role("button", name="Start attempt").click()
    page.wait_for_url(re.compile(r".*/quizzes/attempt/\d+/$"))
    items = page.locator("#question-tq-order li.ordering-item")
    before = items.locator(".ordering-text").all_inner_texts()
    items.nth(0).drag_to(items.nth(2), target_position={"x": 10, "y": 30})
    page.locator("#status-tq-order", has_text="Saved").wait_for()
    moved = items.locator(".ordering-text").all_inner_texts()
    assert moved == [before[1], before[2], before[0]]
    page.reload()
    assert page.locator("#question-tq-order li .ordering-text").all_inner_texts() == moved
