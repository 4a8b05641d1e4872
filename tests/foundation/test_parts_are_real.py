"""Each real part of the harness, proven by a round-trip that fails without it."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from config import events
from config.tasks import ping

pytestmark = pytest.mark.django_db(transaction=True)


def test_task_round_trip_through_real_worker(celery_worker, django_user_model):
    django_user_model.objects.create_user("someone", password="x-Long-pass-1")
    token = uuid.uuid4().hex
    result = ping.delay(token).get(timeout=20)
    assert result["token"] == token
    assert result["pid"] != __import__("os").getpid(), "the task must run in the worker process"
    assert result["users"] == 1, "the worker reads the committed test database"


def test_sse_round_trip_through_asgi_server(asgi_server, make_user, redis_client):
    from django.test import Client

    teacher = make_user("teacher", instructor=True)
    client = Client()
    client.force_login(teacher)
    cookies = {"sessionid": client.cookies["sessionid"].value}
    first = redis_client.xadd(events.STREAM_KEY, {"data": json.dumps({"type": "warmup"})})
    with httpx.Client(base_url=asgi_server, cookies=cookies, timeout=10) as http:
        with http.stream("GET", "/events/activity", headers={"Last-Event-ID": first}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            sent_id = events.publish("lesson_completed", teacher.id, "teacher", lesson="grpc")
            frame: list[str] = []
            for line in response.iter_lines():
                if line == "" and frame:
                    break
                frame.append(line)
    assert f"id: {sent_id}" in frame
    assert "event: lesson_completed" in frame
    data = json.loads(next(line for line in frame if line.startswith("data: "))[6:])
    assert data["lesson"] == "grpc" and data["username"] == "teacher"


def test_activity_stream_refuses_learners(asgi_server, make_user):
    from django.test import Client

    learner = make_user("learner")
    client = Client()
    client.force_login(learner)
    response = httpx.get(
        asgi_server + "/events/activity",
        cookies={"sessionid": client.cookies["sessionid"].value},
        timeout=10,
    )
    assert response.status_code == 403


@pytest.mark.browser
def test_page_click_in_chromium(asgi_server, page):
    page.goto(asgi_server + "/")
    page.get_by_role("link", name="Sign up").first.click()
    page.wait_for_url("**/accounts/signup/")
    page.fill("#id_username", "newlearner")
    page.fill("#id_email", "new@example.com")
    page.fill("#id_password1", "a-Long-unusual-pass-42")
    page.fill("#id_password2", "a-Long-unusual-pass-42")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(asgi_server + "/")
    assert page.get_by_text("Welcome to Decoupled, newlearner.").is_visible()
