"""The cohort live feed streams only the cohort's learners' events, over the real ASGI server."""

from __future__ import annotations

import json

import httpx
import pytest
from django.test import Client

from classroom.models import Cohort, Membership
from config import events

pytestmark = pytest.mark.django_db(transaction=True)


def test_cohort_feed_filters_to_its_learners(asgi_server, make_user, redis_client, course):
    teacher = make_user("teacher", instructor=True)
    cohort = Cohort.objects.create(course=course, name="Live")
    cohort.instructors.add(teacher)
    member, outsider = make_user("member"), make_user("outsider")
    Membership.objects.create(cohort=cohort, user=member)
    client = Client()
    client.force_login(teacher)
    cookies = {"sessionid": client.cookies["sessionid"].value}
    first = redis_client.xadd(events.STREAM_KEY, {"data": json.dumps({"type": "warmup"})})
    url = f"/classroom/{cohort.pk}/live/events"
    with httpx.Client(base_url=asgi_server, cookies=cookies, timeout=10) as http:
        with http.stream("GET", url, headers={"Last-Event-ID": first}) as response:
            assert response.status_code == 200
            events.publish("lesson_completed", outsider.id, "outsider", lesson="secret")
            sent = events.publish("quiz_submitted", member.id, "member", quiz="quiz-0")
            frame: list[str] = []
            for line in response.iter_lines():
                if line.startswith(":"):
                    continue
                if line == "" and frame:
                    break
                frame.append(line)
    assert f"id: {sent}" in frame and "event: quiz_submitted" in frame
    assert "outsider" not in "\n".join(frame)


def test_other_instructor_cannot_open_the_feed(asgi_server, make_user, course):
    cohort = Cohort.objects.create(course=course, name="Live")
    client = Client()
    client.force_login(make_user("stranger", instructor=True))
    response = httpx.get(
        f"{asgi_server}/classroom/{cohort.pk}/live/events",
        cookies={"sessionid": client.cookies["sessionid"].value},
        timeout=10,
    )
    assert response.status_code == 404
