"""Faults: Redis down, and a database connection that goes away between requests.

Redis is "down" by pointing settings.REDIS_URL at a port where nothing listens (in-process, so
the shared test Redis keeps running for everyone else). Then:
- lesson and quiz pages still render (200): learning must not depend on the lab infrastructure;
- lab pages render and say clearly that labs are unavailable; starting a run or sending a
  command answers with that message, never a 500;
- /healthz answers 503 and names redis.
SQLite cannot be restarted under a running test, so the database fault is a closed connection
between (and during a burst of) requests: the next request reconnects and nothing is lost.
"""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from config import processes

pytestmark = pytest.mark.django_db
UNAVAILABLE = re.compile(
    r"\blabs?( service)? (are |is )?(currently |temporarily )?unavailable", re.I
)


@pytest.fixture(scope="module")
def content(django_db_setup, django_db_blocker):
    """The real site content, loaded once for the module and removed afterwards."""
    from lessons.loader import load
    from lessons.models import Course
    from quizzes import services as quiz_services

    with django_db_blocker.unblock():
        problems, _ = load(settings.SITE_CONTENT_DIR)
        assert problems == [], problems
        course = Course.objects.filter(published=True).order_by("position").first()
        lesson = course.lessons.filter(published=True).order_by("position").first()
        try:
            yield {
                "course": course.slug,
                "lesson": lesson.slug,
                "quiz": quiz_services.list_quizzes()[0]["slug"],
            }
        finally:
            Course.objects.all().delete()


@pytest.fixture
def learner(db):
    return get_user_model().objects.create_user("fault-learner", "fl@example.com", "pw-Fault-1X")


@pytest.fixture
def redis_down(settings):
    """settings.REDIS_URL (and Celery's broker) at a closed port for the duration of a test."""
    from config.celery import app

    port = processes.free_port()  # free means nothing listens there
    dead = f"redis://127.0.0.1:{port}/0"
    old_broker = app.conf.broker_url
    settings.REDIS_URL = dead
    settings.CELERY_BROKER_URL = dead
    app.conf.broker_url = dead
    try:
        yield dead
    finally:
        app.conf.broker_url = old_broker


def signed_in(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def _ok(response) -> str:
    exc = getattr(response, "exc_info", None)
    detail = f" ({exc[0].__name__}: {exc[1]})" if exc else ""
    assert response.status_code == 200, f"{response.status_code}{detail}"
    return response.content.decode()


def test_lessons_and_quizzes_work_with_redis_down(content, learner, redis_down):
    client = signed_in(learner)
    _ok(client.get("/"))
    _ok(client.get("/courses/"))
    _ok(client.get(f"/courses/{content['course']}/"))
    page = _ok(client.get(f"/courses/{content['course']}/{content['lesson']}/"))
    assert "<article" in page or "<main" in page
    response = client.post(f"/courses/{content['course']}/{content['lesson']}/complete/")
    assert response.status_code < 500, response.status_code
    _ok(client.get("/quizzes/"))
    _ok(client.get(f"/quizzes/{content['quiz']}/"))
    response = client.post(f"/quizzes/{content['quiz']}/start/")
    assert response.status_code == 302, response.status_code
    attempt_page = response["Location"]
    _ok(client.get(attempt_page))
    response = client.post(attempt_page.rstrip("/") + "/submit/")
    assert response.status_code == 302, response.status_code
    _ok(client.get(response["Location"]))


def test_anonymous_pages_render_with_redis_down(content, redis_down):
    client = Client(raise_request_exception=False)
    _ok(client.get("/"))
    _ok(client.get(f"/courses/{content['course']}/{content['lesson']}/"))
    _ok(client.get("/accounts/login/"))


def test_lab_pages_say_labs_are_unavailable_with_redis_down(content, learner, redis_down):
    from labs.scenarios import list_scenarios

    scenario = list_scenarios()[0]
    page_url = f"/labs/{scenario.lab}/{scenario.slug}/"
    client = signed_in(learner)
    catalog = _ok(client.get("/labs/"))
    page = _ok(client.get(page_url))
    assert catalog  # the catalog itself still lists the labs
    assert UNAVAILABLE.search(page), "the lab page does not say that labs are unavailable"


def test_starting_a_lab_with_redis_down_says_labs_are_unavailable(content, learner, redis_down):
    from labs.scenarios import list_scenarios

    scenario = list_scenarios()[0]
    page_url = f"/labs/{scenario.lab}/{scenario.slug}/"
    client = signed_in(learner)
    response = client.post(page_url + "start", follow=True)
    exc = getattr(response, "exc_info", None)
    assert response.status_code == 200, (
        f"starting a lab with Redis down answered {response.status_code}"
        + (f" ({exc[0].__name__}: {exc[1]})" if exc else "")
    )
    assert UNAVAILABLE.search(response.content.decode()), "no 'labs are unavailable' message"


def test_lab_errors_do_not_show_internal_addresses(content, learner, redis_down):
    """The message says labs are unavailable; it does not print the Redis host and port."""
    from labs.scenarios import list_scenarios

    scenario = list_scenarios()[0]
    port = redis_down.rsplit(":", 1)[1].split("/", 1)[0]
    client = signed_in(learner)
    response = client.post(f"/labs/{scenario.lab}/{scenario.slug}/start", follow=True)
    page = response.content.decode()
    assert response.status_code == 200
    assert port not in page and "Connection refused" not in page, (
        "the learner sees the raw Redis error (internal address)"
    )


def test_healthz_is_503_naming_redis(redis_down):
    response = Client().get("/healthz")
    assert response.status_code == 503
    report = response.json()
    assert "redis" in report["down"] and report["redis"]["ok"] is False
    assert report["redis"]["error"]
    assert report["database"]["ok"] is True


def test_everything_recovers_when_redis_comes_back(content, learner, settings, redis_client):
    """After the fault fixture is gone, the same client works against the real Redis again."""
    assert settings.REDIS_URL != "redis://127.0.0.1:1/0"
    assert redis_client.ping()
    client = signed_in(learner)
    _ok(client.get(f"/courses/{content['course']}/{content['lesson']}/"))


@pytest.mark.django_db(transaction=True)
def test_app_survives_a_closed_database_connection(content, learner):
    """A dropped connection between requests costs nothing: the next request reconnects."""
    client = signed_in(learner)
    lesson = f"/courses/{content['course']}/{content['lesson']}/"
    for _ in range(3):
        _ok(client.get(lesson))
        connection.close()
        _ok(client.get("/quizzes/"))
        connection.close()
    response = client.post(lesson + "complete/")
    assert response.status_code < 500
    connection.close()
    from lessons.models import LessonProgress

    assert LessonProgress.objects.filter(user=learner).exists(), "the write was lost"


@pytest.mark.django_db(transaction=True)
def test_with_no_worker_a_new_run_says_it_is_waiting_for_one(redis_url, make_user):
    """No worker listens: the run stays queued and its page says it is waiting for a worker.

    This test has Redis database 13 to itself (data and Celery queue), so a worker that
    another test started never sees this run's tick. The page is read right after the start:
    such a worker's watchdog (on the other database) would mark the run failed within seconds.
    """
    from config.celery import app
    from config.redis import get_redis
    from labs.models import LabRun
    from labs.scenarios import list_scenarios

    own = redis_url.rsplit("/", 1)[0] + "/13"
    old = (settings.REDIS_URL, settings.CELERY_BROKER_URL, app.conf.broker_url)
    settings.REDIS_URL = settings.CELERY_BROKER_URL = app.conf.broker_url = own
    _reset_celery_connections(app)  # publish to the new broker URL, not a pooled old one
    get_redis().flushdb()
    try:
        user = get_user_model().objects.create_user("waiting", "w@example.com", "pw-Wait-1X")
        scenario = next(s for s in list_scenarios() if s.lab == "circuit-breaker")
        client = signed_in(user)
        response = client.post(f"/labs/{scenario.lab}/{scenario.slug}/start", follow=True)
        assert response.status_code == 200
        run = LabRun.objects.get(owner=user)
        page = _ok(client.get(f"/labs/{scenario.lab}/{scenario.slug}/?run={run.pk}"))
        run.refresh_from_db()
        assert run.status == LabRun.Status.QUEUED and run.tick_seq == 0, run.status
        assert re.search(r"waiting for a (lab )?worker", page, re.I), (
            "the page of a queued run does not say it is waiting for a worker"
        )
    finally:
        get_redis().flushdb()
        settings.REDIS_URL, settings.CELERY_BROKER_URL, app.conf.broker_url = old
        _reset_celery_connections(app)


def _reset_celery_connections(app) -> None:
    # Forget the cached pools only: kombu keeps one per broker URL in a global registry, and
    # closing them would break later tests that publish to the session's broker again.
    app._pool = None
    app.amqp._producer_pool = None
