"""Pages, permissions, navigation order, progress rules and search ranking on the fixture."""

import json

import pytest
from django.test import Client

from lessons import services
from lessons.models import Lesson, LessonProgress
from lessons.search import search

pytestmark = pytest.mark.django_db

PUBLIC_URLS = [
    "/courses/",
    "/courses/demo/",
    "/courses/demo/intro/",
    "/courses/demo/second/",
    "/courses/search/?q=widgets",
    "/courses/check/demo-q1/",
    "/courses/check/demo-q2/",
    "/courses/demo/assets/01-basics/diagram.svg",
]


@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_public_pages_for_anonymous_and_learner(loaded, make_user, url):
    assert Client().get(url).status_code == 200
    client = Client()
    client.force_login(make_user("learner"))
    assert client.get(url).status_code == 200


@pytest.mark.parametrize("url", ["/courses/nope/", "/courses/demo/nope/", "/courses/check/nope/"])
def test_unknown_things_are_404(loaded, url):
    assert Client().get(url).status_code == 404


@pytest.mark.parametrize(
    "rel", ["../course.yaml", "01-basics/01-intro.md", "01-basics/../../../etc/passwd", "x.svg"]
)
def test_assets_serve_only_images_inside_the_course(loaded, rel):
    assert Client().get(f"/courses/demo/assets/{rel}").status_code == 404


def test_unpublished_lesson_is_404(loaded):
    Lesson.objects.filter(slug="second").update(published=False)
    assert Client().get("/courses/demo/second/").status_code == 404


@pytest.mark.parametrize("action", ["complete", "progress"])
def test_progress_needs_login_and_post(loaded, make_user, action):
    url = f"/courses/demo/intro/{action}/"
    response = Client().post(url)
    assert response.status_code == 302 and "/accounts/login" in response["Location"]
    client = Client()
    client.force_login(make_user("learner"))
    assert client.get(url).status_code == 405
    assert client.post(url, {"seconds": "30"}).status_code in (200, 204)
    assert LessonProgress.objects.get(lesson__slug="intro").seconds_spent == 30


def test_lesson_page_shows_navigation_in_course_order(loaded):
    body = Client().get("/courses/demo/second/").content.decode()
    assert 'rel="prev" href="/courses/demo/intro/"' in body
    assert 'rel="next" href="/courses/demo/third/"' in body  # across the module boundary
    first = Client().get("/courses/demo/intro/").content.decode()
    assert 'rel="prev"' not in first and 'rel="next" href="/courses/demo/second/"' in first
    assert 'href="/quizzes/demo-quiz/"' in first and 'href="/labs/circuit-breaker/outage/"' in first
    assert "mermaid.min.js" in first and "mermaid.min.js" not in body
    assert 'href="#first-section"' in first and "Say what a widget is" in first
    assert 'Before this lesson: <a href="/courses/demo/intro/">' in body


def test_anonymous_lesson_page_costs_at_most_two_queries(loaded, django_assert_max_num_queries):
    client = Client()
    with django_assert_max_num_queries(2):
        assert client.get("/courses/demo/intro/").status_code == 200


def test_complete_is_idempotent_publishes_one_event_and_rolls_up(loaded, make_user, redis_client):
    user = make_user("learner")
    other = make_user("other")
    client = Client()
    client.force_login(user)
    response = client.post("/courses/demo/intro/complete/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Lesson complete" in response.content.decode()
    assert 'hx-swap-oob="outerHTML:#course-progress-wrap"' in response.content.decode()
    client.post("/courses/demo/intro/complete/")
    progress = LessonProgress.objects.get(user=user, lesson__slug="intro")
    assert progress.completed_at is not None
    events = [json.loads(e[1]["data"]) for e in redis_client.xrange("learning:events")]
    assert [e["type"] for e in events] == ["lesson_completed"]
    assert events[0]["lesson"] == "intro" and events[0]["username"] == "learner"

    course = loaded
    per_module = services.progress_by_module(user, course)
    basics = course.modules.get(slug="basics")
    assert per_module == {basics.pk: 1}
    roll = services.rollup(course, services.completed_ids(user, course))
    assert roll["course"] == {"done": 1, "total": 3, "percent": 33}
    assert roll["modules"][basics.pk]["percent"] == 50
    assert services.completed_ids(other, course) == set()  # another learner sees only their own
    assert services.cohort_progress(course, [user.pk, other.pk]) == {user.pk: 1}
    page = client.get("/courses/demo/").content.decode()
    assert 'aria-valuenow="33"' in page
    assert 'href="/courses/demo/second/">Continue: Second lesson' in page


def test_time_spent_is_bounded(loaded, make_user):
    user = make_user("learner")
    lesson = Lesson.objects.get(slug="intro")
    services.record_time(user, lesson, 10**6)
    services.record_time(user, lesson, -50)
    assert LessonProgress.objects.get().seconds_spent == services.MAX_SECONDS_PER_PING


def test_search_ranks_title_hits_above_passing_mentions(loaded):
    hits = search("widgets")
    assert [h.title for h in hits][:2] == ["Introduction to widgets", "Second lesson"]
    assert "<mark>" in hits[0].title_html
    assert all("<script" not in h.snippet for h in hits)
    assert search("sprock")[0].title == "Third lesson"  # prefix match while typing
    assert search("") == [] and search("\"'*)(") == []


def test_search_page_and_htmx_partial(loaded):
    full = Client().get("/courses/search/?q=gadgets").content.decode()
    assert 'hx-trigger="input changed delay:250ms, search"' in full and "<mark>" in full
    partial = Client().get("/courses/search/?q=gadgets", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and "Second lesson" in partial


def test_home_lists_courses(loaded):
    assert "/courses/demo/" in Client().get("/").content.decode()


def test_check_question_shows_no_answers_before_answering(loaded):
    body = Client().get("/courses/check/demo-q1/").content.decode()
    assert "What is a widget?" in body and "A small thing" in body and "A large thing" in body
    assert "widgets are small" not in body  # neither feedback nor explanation
    assert "/quizzes/demo-quiz/" in body and 'hx-post="/courses/check/demo-q1/answer/"' in body


def test_check_question_answered_in_place(loaded):
    from lessons.models import BankQuestion
    from quizzes.grading import public_view

    data = BankQuestion.objects.get(qid="demo-q1").data
    options = public_view(data, seed="demo-q1")["options"]
    right, wrong = options.index("A small thing"), options.index("A large thing")
    url = "/courses/check/demo-q1/answer/"
    body = Client().post(url, {"answer": str(right)}).content.decode()
    assert "Right" in body and "Yes, widgets are small." in body and "checked" in body
    body = Client().post(url, {"answer": str(wrong)}).content.decode()
    assert "Not quite" in body and "No, widgets are small." in body
    assert "Choose or type an answer first." in Client().post(url).content.decode()
    assert Client().post(url, {"answer": "99"}).status_code == 200  # junk is a message, not a 500
    body = Client().post("/courses/check/demo-q2/answer/", {"answer": "false"}).content.decode()
    assert "Right" in body and "Right, they are not." in body
