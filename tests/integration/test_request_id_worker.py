"""Request ids reach the real Celery worker: its JSON log lines carry the id of the request
that published the task, and of the task that published a task."""

from __future__ import annotations

import re
import uuid

import pytest

from config import request_id
from config.tasks import log_request_id
from tests.conftest import ARTIFACTS
from tests.foundation.test_request_id import json_lines

pytestmark = pytest.mark.django_db(transaction=True)
WORKER_LOG = ARTIFACTS / "celery-worker.log"


def test_task_and_the_task_it_starts_log_the_publishers_id(celery_worker):
    rid = f"wrk-{uuid.uuid4().hex[:12]}"
    token = uuid.uuid4().hex
    previous = request_id.set(rid)  # what the middleware does for a request
    try:
        seen = log_request_id.delay(token, then=1).get(timeout=20)
    finally:
        request_id.reset(previous)
    assert seen == rid, "the worker ran the task under the publisher's id"

    lines = json_lines(WORKER_LOG, token, count=2, logger="config.tasks")
    own = [d for d in lines if d["message"] == f"log_request_id {token}"]
    child = [d for d in lines if d["message"] == f"log_request_id {token}-next"]
    assert len(own) == 1 and len(child) == 1, lines
    for line in own + child:
        assert line["request_id"] == rid
        assert line["task_name"] == "config.log_request_id"
        assert line["logger"] == "config.tasks" and line["level"] == "INFO"
    assert own[0]["token"] == token and own[0]["then"] == 1
    assert own[0]["task_id"] != child[0]["task_id"], "two tasks, one request id"
    # Celery's own line for the task (logged inside it) is JSON with the id too
    done = json_lines(WORKER_LOG, own[0]["task_id"], logger="celery.app.trace")
    assert done and done[0]["request_id"] == rid, done


def test_task_published_without_an_id_runs_under_a_fresh_one(celery_worker):
    assert request_id.get() == ""
    token = uuid.uuid4().hex
    seen = log_request_id.delay(token).get(timeout=20)
    assert re.fullmatch(r"[0-9a-f]{32}", seen)
    (line,) = json_lines(WORKER_LOG, f"log_request_id {token}", logger="config.tasks")
    assert line["request_id"] == seen


def test_a_hostile_header_never_becomes_the_id(celery_worker):
    token = uuid.uuid4().hex
    seen = log_request_id.apply_async((token,), headers={"request_id": 'bad"\nid with spaces'}).get(
        timeout=20
    )
    assert re.fullmatch(r"[0-9a-f]{32}", seen)


def test_an_explicit_empty_header_starts_afresh(celery_worker):
    """How a self-rescheduling loop (e.g. a pump lane) sheds the id of the request that
    happened to start it."""
    token = uuid.uuid4().hex
    with request_id.scope("caller-id-123"):
        inherited = log_request_id.delay(token).get(timeout=20)
        fresh = log_request_id.apply_async((token,), headers={"request_id": ""}).get(timeout=20)
    assert inherited == "caller-id-123"
    assert re.fullmatch(r"[0-9a-f]{32}", fresh)
