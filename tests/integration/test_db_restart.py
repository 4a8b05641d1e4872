"""A PostgreSQL restart under a live site costs in-flight requests at most, never data.

Decision (issue #11, "faults"): a request that meets an unreachable database answers 503
"Database unavailable, try again" (config/db_errors.py), never a traceback and never a 500;
/healthz names the database as down (503) for as long as it is; and once PostgreSQL is back the
same browser session carries on, with every write acknowledged before the restart still there.

Connections: none outlives its request or task. The web process runs with the default
DB_CONN_MAX_AGE=0 (Django's advice under ASGI, where each request runs in its own thread and
kept connections pile up: 30 requests left 12 open with DB_CONN_MAX_AGE=60), and Celery's Django
fixup closes the worker's connection around every task. So after the restart the next request
and the next task simply connect again; CONN_HEALTH_CHECKS (on in config/settings.py) is the
safety net for any process that does keep a connection, not what this test relies on. The
worker keeps its beat, so the watchdog fails during the outage and must not take it down.

Everything is real: the test's own PostgreSQL (tests/integration/conftest.py), a uvicorn
process and a Celery worker on it and on their own Redis, a learner who signs up, marks lessons
complete and saves quiz answers through HTTP forms with CSRF. The restart is
`pg_ctl stop -m immediate` (a crash: no shutdown checkpoint, recovery replays the WAL) then
`pg_ctl start`. What survived is read straight from PostgreSQL.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from celery import Celery

from config import processes
from tests.conftest import ARTIFACTS
from tests.integration.conftest import csrf_post, pg_env, sign_up

LEARNER = "restart-learner"
ANSWERS = {"single": "0", "multiple": "0", "truefalse": "true", "numeric": "42", "short": "kafka"}


def query(server, dbname: str, sql: str, *params) -> list[tuple]:
    with server.connect(dbname) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture
def site(embedded_postgres, pg_database, own_redis):
    """uvicorn and a Celery worker on a fresh PostgreSQL database; yields the base URL."""
    dbname = pg_database.rsplit("/", 1)[1]
    var_dir = Path(tempfile.mkdtemp(prefix="decoupled-restart-"))
    env = pg_env(pg_database, {"REDIS_URL": own_redis, "DECOUPLED_VAR_DIR": str(var_dir)})
    ARTIFACTS.mkdir(exist_ok=True)
    port = processes.free_port()
    web = processes.start_uvicorn(env, port, log_path=ARTIFACTS / "restart-web.log")
    worker = processes.start_worker(
        env, name="restart", concurrency=2, log_path=ARTIFACTS / "restart-worker.log"
    )
    probe = Celery("restart-probe", broker=own_redis, backend=own_redis)
    base = f"http://127.0.0.1:{port}"
    try:
        processes.wait_for_http(base + "/healthz", web)
        yield {"base": base, "db": dbname, "web": web, "worker": worker, "probe": probe}
    finally:
        probe.close()
        processes.stop(web)
        processes.stop(worker)
        if not embedded_postgres.running():  # the test failed while the database was down
            embedded_postgres.start()
        shutil.rmtree(var_dir, ignore_errors=True)


def wait_healthy(client: httpx.Client, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    report: dict = {}
    while time.monotonic() < deadline:
        response = client.get("/healthz")
        report = response.json()
        if response.status_code == 200:
            return report
        time.sleep(0.25)
    raise AssertionError(f"/healthz never came up: {report}")


def worker_counts_users(probe: Celery, token: str) -> int:
    """config.ping on the test's worker: it answers with a count read from the database."""
    reply = probe.send_task("config.ping", args=[token]).get(timeout=30)
    assert reply["token"] == token
    return reply["users"]


def assert_clean_503(response: httpx.Response) -> None:
    assert response.status_code == 503, (response.status_code, response.text[:500])
    assert "Database unavailable, try again" in response.text
    assert response.headers.get("Retry-After")
    assert "Traceback" not in response.text and "OperationalError" not in response.text


def test_restart_costs_in_flight_requests_at_most_never_data(embedded_postgres, site):
    server, db = embedded_postgres, site["db"]
    lessons = query(
        server,
        db,
        "SELECT c.slug, l.slug, l.id FROM lessons_lesson l JOIN lessons_course c "
        "ON c.id = l.course_id WHERE l.published AND c.published ORDER BY c.position, l.position "
        "LIMIT 4",
    )
    assert len(lessons) == 4, lessons
    quiz_slug = query(server, db, "SELECT slug FROM lessons_quizspec WHERE published LIMIT 1")[0][0]

    with httpx.Client(base_url=site["base"], timeout=15) as web:
        assert wait_healthy(web)["database"]["vendor"] == "postgresql"
        sign_up(web, LEARNER)
        user_id = query(server, db, "SELECT id FROM auth_user WHERE username = %s", LEARNER)[0][0]

        # Acknowledged writes before the restart: two lessons complete, quiz answers saved.
        for course, slug, _id in lessons[:2]:
            done = csrf_post(web, f"/courses/{course}/{slug}/complete/", {"seconds": "30"})
            assert done.status_code == 200, done.status_code
        started = csrf_post(web, f"/quizzes/{quiz_slug}/start/")
        assert started.status_code == 302, started.status_code
        attempt = int(re.search(r"/quizzes/attempt/(\d+)/", started.headers["location"])[1])
        dealt = query(
            server,
            db,
            "SELECT r.qid, q.type FROM quizzes_response r JOIN lessons_bankquestion q "
            "ON q.qid = r.qid WHERE r.attempt_id = %s ORDER BY r.position",
            attempt,
        )
        answerable = [(qid, kind) for qid, kind in dealt if kind in ANSWERS]
        assert len(answerable) >= 2, dealt
        before, after = answerable[:-1], answerable[-1]
        for qid, kind in before:
            saved = csrf_post(
                web, f"/quizzes/attempt/{attempt}/save/{qid}/", {"answer": ANSWERS[kind]}
            )
            assert saved.status_code == 302, (qid, saved.status_code)
        acknowledged = {
            "completed": sorted(lesson_id for _c, _s, lesson_id in lessons[:2]),
            "responses": query(
                server,
                db,
                "SELECT qid, response FROM quizzes_response WHERE attempt_id = %s "
                "AND response IS NOT NULL ORDER BY qid",
                attempt,
            ),
        }
        assert len(acknowledged["responses"]) == len(before), acknowledged
        session_key = web.cookies.get("sessionid")
        assert worker_counts_users(site["probe"], "before") == 1

        # The database goes away like a crash.
        server.stop("immediate")
        try:
            course, slug, third_id = lessons[2]
            assert_clean_503(web.get(f"/courses/{course}/{slug}/"))
            assert_clean_503(
                csrf_post(web, f"/courses/{course}/{slug}/complete/", {"seconds": "5"})
            )
            assert_clean_503(
                csrf_post(
                    web,
                    f"/quizzes/attempt/{attempt}/save/{after[0]}/",
                    {"answer": ANSWERS[after[1]]},
                )
            )
            health = web.get("/healthz")
            assert health.status_code == 503, health.text
            report = health.json()
            assert report["down"] == ["database"], report
            assert report["database"]["ok"] is False
            assert report["redis"]["ok"] and report["workers"]["live"] >= 1, report
        finally:
            server.start()

        # Back: the worker's first task after the restart reads the database again ...
        assert worker_counts_users(site["probe"], "after") == 1
        # ... and so does the first request, in the same session.
        page = web.get(f"/quizzes/attempt/{attempt}/")
        assert page.status_code == 200, (page.status_code, page.text[:500])
        assert LEARNER in page.text, "the session did not survive the restart"
        assert web.cookies.get("sessionid") == session_key
        health = web.get("/healthz")
        assert health.status_code == 200, health.text
        assert health.json()["database"]["ok"] is True

        # The writes refused during the outage were not half-done; sent again, they land.
        assert not query(
            server,
            db,
            "SELECT 1 FROM lessons_lessonprogress WHERE user_id = %s AND lesson_id = %s",
            user_id,
            third_id,
        )
        done = csrf_post(web, f"/courses/{course}/{slug}/complete/", {"seconds": "5"})
        assert done.status_code == 200, done.status_code
        saved = csrf_post(
            web, f"/quizzes/attempt/{attempt}/save/{after[0]}/", {"answer": ANSWERS[after[1]]}
        )
        assert saved.status_code == 302, saved.status_code

        # Every write acknowledged before the restart is still there, unchanged.
        completed = query(
            server,
            db,
            "SELECT lesson_id FROM lessons_lessonprogress WHERE user_id = %s "
            "AND completed_at IS NOT NULL ORDER BY lesson_id",
            user_id,
        )
        assert [row[0] for row in completed] == sorted(acknowledged["completed"] + [third_id]), (
            completed
        )
        responses = query(
            server,
            db,
            "SELECT qid, response FROM quizzes_response WHERE attempt_id = %s "
            "AND response IS NOT NULL AND qid <> %s ORDER BY qid",
            attempt,
            after[0],
        )
        assert responses == acknowledged["responses"]
        # The attempt is still open: nothing was submitted or lost by the crash.
        assert query(server, db, "SELECT state FROM quizzes_attempt WHERE id = %s", attempt) == [
            ("in_progress",)
        ]

    # Neither child died of the outage.
    assert site["web"].poll() is None and site["worker"].poll() is None


def test_only_database_errors_become_503():
    """Other exceptions still reach the 500 handler; JSON callers get JSON."""
    from django.db import InterfaceError, OperationalError
    from django.http import HttpResponse
    from django.test import RequestFactory

    from config.db_errors import DatabaseUnavailableMiddleware

    middleware = DatabaseUnavailableMiddleware(lambda request: HttpResponse())
    request = RequestFactory().get("/quizzes/")
    assert middleware.process_exception(request, ValueError("a bug")) is None
    assert middleware.process_exception(request, KeyError("x")) is None
    for error in (OperationalError("connection refused"), InterfaceError("connection closed")):
        assert_clean_503(middleware.process_exception(request, error))
    api = RequestFactory().get("/labs/runs/x/replay.json", HTTP_ACCEPT="application/json")
    answer = middleware.process_exception(api, OperationalError("the database is starting up"))
    assert answer.status_code == 503 and answer["Retry-After"] == "5"
    assert json.loads(answer.content) == {"error": "database unavailable, try again"}
