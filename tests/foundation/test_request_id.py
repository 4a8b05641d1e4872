"""Request ids and JSON logs: accepted or replaced, sent back, logged, carried into events.

The worker side (ids carried into Celery tasks) is in tests/integration/test_request_id_worker.py.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from django.test import Client

from config import events, request_id
from config.logging import JsonFormatter, TextFormatter
from tests.conftest import ARTIFACTS

FRESH = re.compile(r"[0-9a-f]{32}")
HOSTILE = [
    None,
    "",
    "short",
    "has space-123456",
    'quote"-12345678',
    "semi;colon-12345",
    "a" * 65,
    "abcdefgh\n",
    "abcdefgh\r\nSet-Cookie: x=1",
    "<script>alert(1)</script>",
    "ünïcödé-12345678",
    "../../etc/passwd",
]


def json_lines(
    path: Path, needle: str, timeout: float = 10.0, count: int = 1, logger: str | None = None
) -> list[dict]:
    """The JSON log lines of `path` containing `needle`, from `logger` when given (waits until
    `count` are there, at most `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    found: list[dict] = []
    while time.monotonic() < deadline:
        found = []
        text = path.read_text(errors="replace") if path.exists() else ""
        for line in text.splitlines():
            if needle not in line or not line.startswith("{"):
                continue
            data = json.loads(line)
            if logger is None or data.get("logger") == logger:
                found.append(data)
        if len(found) >= count:
            return found
        time.sleep(0.1)
    return found


# --- the id itself -------------------------------------------------------------------------


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_incoming_ids_are_replaced_by_fresh_ones(hostile):
    replaced = request_id.accept(hostile)
    assert replaced != hostile
    assert FRESH.fullmatch(replaced)


@pytest.mark.parametrize(
    "good", ["abcdefgh", "req-2026.12.04_x", "A" * 64, uuid.uuid4().hex, str(uuid.uuid4())]
)
def test_safe_incoming_ids_are_kept(good):
    assert request_id.accept(good) == good


def test_new_ids_are_unique_and_the_contextvar_resets():
    assert len({request_id.new_id() for _ in range(100)}) == 100
    assert request_id.get() == ""
    outer = request_id.set("outer-id-1")
    inner = request_id.set("inner-id-2")
    assert request_id.get() == "inner-id-2"
    request_id.reset(inner)
    assert request_id.get() == "outer-id-1"
    request_id.reset(outer)
    assert request_id.get() == ""


# --- the formatters ------------------------------------------------------------------------


def make_record(msg, *args, exc_info=None, level=logging.WARNING, **extra):
    logger = logging.getLogger("tests.json")
    return logger.makeRecord(
        "tests.json", level, __file__, 1, msg, args, exc_info, extra=extra or None
    )


def test_json_formatter_keeps_quotes_newlines_and_exceptions_valid():
    try:
        raise ValueError('bad "value"\nsecond line \\ backslash')
    except ValueError:
        exc = sys.exc_info()
    record = make_record(
        'he said "%s"\n\tand left }{',
        "hi",
        exc_info=exc,
        custom={"a": [1, 2], "b": "x\ny"},
        unserialisable=object(),
    )
    line = JsonFormatter().format(record)
    assert "\n" not in line, "one object per line"
    data = json.loads(line)
    assert data["message"] == 'he said "hi"\n\tand left }{'
    assert data["level"] == "WARNING" and data["logger"] == "tests.json"
    assert 'ValueError: bad "value"' in data["exc_info"] and "Traceback" in data["exc_info"]
    assert data["custom"] == {"a": [1, 2], "b": "x\ny"}
    assert "unserialisable" not in data
    ts = datetime.fromisoformat(data["ts"].replace("Z", "+00:00"))
    assert ts.utcoffset() == timedelta(0)
    assert abs(ts.timestamp() - time.time()) < 60
    assert "task_id" not in data, "not inside a Celery task"


def test_json_formatter_takes_the_id_from_the_context_or_the_record():
    record = make_record("plain")
    assert json.loads(JsonFormatter().format(record))["request_id"] == ""
    token = request_id.set("ctx-id-12345")
    try:
        assert json.loads(JsonFormatter().format(record))["request_id"] == "ctx-id-12345"
        explicit = make_record("explicit", request_id="rec-id-67890")
        assert json.loads(JsonFormatter().format(explicit))["request_id"] == "rec-id-67890"
    finally:
        request_id.reset(token)


def test_text_formatter_shows_the_id_and_leaves_the_record_alone():
    record = make_record("hello %s", "there")
    token = request_id.set("text-id-12345")
    try:
        line = TextFormatter().format(record)
    finally:
        request_id.reset(token)
    assert "[text-id-12345] hello there" in line and "WARNING" in line
    assert not hasattr(record, "request_id")


# --- requests in this process (Django's test client: the sync middleware path) ---------------


@pytest.mark.django_db
def test_request_line_logged_with_the_id_and_fields(make_user, caplog):
    user = make_user("reader")
    client = Client()
    client.force_login(user)
    with caplog.at_level(logging.INFO, logger="decoupled.request"):
        response = client.get("/", HTTP_X_REQUEST_ID="client-chosen-1")
    assert response.status_code == 200
    assert response["X-Request-ID"] == "client-chosen-1"
    lines = [r for r in caplog.records if r.name == "decoupled.request"]
    assert len(lines) == 1
    data = json.loads(JsonFormatter().format(lines[0]))
    assert data["request_id"] == "client-chosen-1"
    assert data["method"] == "GET" and data["path"] == "/" and data["status"] == 200
    assert data["user_id"] == user.pk
    assert isinstance(data["duration_ms"], float) and data["duration_ms"] >= 0
    assert data["level"] == "INFO" and data["logger"] == "decoupled.request"
    assert request_id.get() == "", "reset after the request"


@pytest.mark.django_db
def test_hostile_id_replaced_and_health_and_metrics_not_logged(caplog):
    client = Client()
    with caplog.at_level(logging.INFO, logger="decoupled.request"):
        response = client.get("/accounts/login/", HTTP_X_REQUEST_ID='x"; drop table')
        health = client.get("/healthz")
        client.get("/metrics")
    assert FRESH.fullmatch(response["X-Request-ID"])
    assert FRESH.fullmatch(health["X-Request-ID"])
    lines = [r for r in caplog.records if r.name == "decoupled.request"]
    assert [r.path for r in lines] == ["/accounts/login/"]
    assert lines[0].request_id == response["X-Request-ID"] and lines[0].user_id is None


@pytest.mark.django_db
def test_every_request_gets_its_own_id():
    client = Client()
    ids = {client.get("/accounts/login/")["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3 and all(FRESH.fullmatch(i) for i in ids)


def test_learning_events_carry_the_request_id(redis_client):
    events.publish("lesson_completed", 1, "someone", lesson="none")
    token = request_id.set("event-id-12345")
    try:
        events.publish("lesson_completed", 1, "someone", lesson="with")
    finally:
        request_id.reset(token)
    published = [json.loads(f["data"]) for _, f in redis_client.xrange(events.STREAM_KEY)]
    assert "request_id" not in published[0]
    assert published[1]["request_id"] == "event-id-12345"


@pytest.mark.django_db
def test_lab_command_queued_with_the_request_id(make_user, redis_client):
    from django.urls import reverse

    from labs import driver, services

    owner = make_user("owner")
    run = services.start_run(owner, "circuit-breaker", "outage-and-recovery", seed=3, enqueue=False)
    driver.advance_slice(run.pk, 0)
    client = Client()
    client.force_login(owner)
    url = reverse("labs:run_command", args=[run.pk])
    first = client.post(
        url,
        {"type": "start_outage", "mode": "error"},
        HTTP_X_REQUEST_ID="cmd-id-12345",
        HTTP_HX_REQUEST="true",
    )
    second = client.post(url, {"type": "stop_outage"}, HTTP_HX_REQUEST="true")
    assert first.status_code == 200 and second.status_code == 200
    queued = [json.loads(c) for c in redis_client.lrange(driver.commands_key(run.pk), 0, -1)]
    assert [q["type"] for q in queued] == ["start_outage", "stop_outage"]
    assert queued[0]["_request_id"] == "cmd-id-12345"
    assert queued[1]["_request_id"] == second["X-Request-ID"] != "cmd-id-12345"


# --- the real ASGI server (uvicorn): the async middleware path and its log ------------------


@pytest.mark.django_db(transaction=True)
def test_uvicorn_answers_with_the_id_and_logs_it_as_json(asgi_server):
    kept = f"e2e-{uuid.uuid4().hex[:12]}"
    with httpx.Client(base_url=asgi_server, timeout=10) as http:
        response = http.get("/accounts/login/", headers={"X-Request-ID": kept})
        hostile = http.get("/accounts/login/", headers={"X-Request-ID": 'x" onload=1'})
        none = http.get("/accounts/login/")
    assert response.status_code == 200 and response.headers["X-Request-ID"] == kept
    assert FRESH.fullmatch(hostile.headers["X-Request-ID"])
    assert FRESH.fullmatch(none.headers["X-Request-ID"])
    assert none.headers["X-Request-ID"] != hostile.headers["X-Request-ID"]
    request_lines = json_lines(ARTIFACTS / "uvicorn.log", kept, logger="decoupled.request")
    assert len(request_lines) == 1, request_lines
    line = request_lines[0]
    assert line["request_id"] == kept and line["path"] == "/accounts/login/"
    assert line["status"] == 200 and line["method"] == "GET" and line["level"] == "INFO"
    replaced = json_lines(
        ARTIFACTS / "uvicorn.log", hostile.headers["X-Request-ID"], logger="decoupled.request"
    )
    assert replaced and "onload" not in json.dumps(replaced)


@pytest.mark.django_db(transaction=True)
def test_sse_still_streams_through_the_middleware(asgi_server, make_user, redis_client):
    teacher = make_user("teacher", instructor=True)
    client = Client()
    client.force_login(teacher)
    cookies = {"sessionid": client.cookies["sessionid"].value}
    first = redis_client.xadd(events.STREAM_KEY, {"data": json.dumps({"type": "warmup"})})
    rid = f"sse-{uuid.uuid4().hex[:12]}"
    headers = {"Last-Event-ID": first, "X-Request-ID": rid}
    with httpx.Client(base_url=asgi_server, cookies=cookies, timeout=10) as http:
        with http.stream("GET", "/events/activity", headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["X-Request-ID"] == rid
            sent_id = events.publish("lesson_completed", teacher.id, "teacher", lesson="sse")
            frame: list[str] = []
            for line in response.iter_lines():
                if line == "" and frame:
                    break
                frame.append(line)
    assert f"id: {sent_id}" in frame
    request_lines = json_lines(ARTIFACTS / "uvicorn.log", rid, logger="decoupled.request")
    assert request_lines and request_lines[0]["path"] == "/events/activity"
    assert request_lines[0]["user_id"] == teacher.pk


def test_scope_sets_and_restores():
    with request_id.scope("scoped-id-1"):
        assert request_id.get() == "scoped-id-1"
        with request_id.scope("scoped-id-2"):
            assert request_id.get() == "scoped-id-2"
        assert request_id.get() == "scoped-id-1"
    assert request_id.get() == ""


def test_a_django_log_line_is_written_once_in_our_format(settings):
    """Django's default config adds a plain console handler to "django" (debug only); ours
    replaces it, so a line is not printed twice, once without the request id."""
    import logging

    settings.DEBUG = True  # the default handler's filter lets lines through in debug
    record = logging.getLogger("django.request").makeRecord(
        "django.request", logging.ERROR, __file__, 1, "probe", (), None
    )
    writers = []
    logger: logging.Logger | None = logging.getLogger("django.request")
    while logger is not None:
        writers += [h for h in logger.handlers if h.filter(record) and record.levelno >= h.level]
        logger = logger.parent if logger.propagate else None
    ours = [h for h in writers if not type(h).__module__.startswith("_pytest")]  # not capture
    streams = [h for h in ours if isinstance(h, logging.StreamHandler)]
    assert len(streams) == 1, streams
    formatter = type(streams[0].formatter).__name__
    assert formatter in ("JsonFormatter", "TextFormatter"), formatter
