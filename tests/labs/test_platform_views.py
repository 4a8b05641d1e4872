"""Every lab view: who may see it (anonymous, owner, other learner, staff) and what it answers."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from labs import driver, services
from labs.models import LabRun

pytestmark = pytest.mark.django_db
LAB, SCENARIO = "circuit-breaker", "outage-and-recovery"


@pytest.fixture
def people(make_user):
    return {
        "owner": make_user("owner"),
        "other": make_user("other"),
        "teacher": make_user("teacher", instructor=True),
        "staff": make_user("boss", staff=True),
    }


@pytest.fixture
def run(people, redis_client):
    run = services.start_run(people["owner"], LAB, SCENARIO, seed=3, enqueue=False)
    driver.advance_slice(run.pk, 0)
    run.refresh_from_db()
    return run


def client_for(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_catalog_lists_labs_and_scenarios():
    response = client_for().get(reverse("labs:catalog"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Outage and recovery" in page
    assert reverse("labs:lab_page", args=[LAB, SCENARIO]) in page
    assert "kafka" in page


def test_lab_page_anonymous_sees_brief_and_login(redis_client):
    response = client_for().get(reverse("labs:lab_page", args=[LAB, SCENARIO]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Before you press start, predict" in page
    assert "Log in to start this lab" in page
    assert "Start an outage" in page  # the controls are shown, disabled until a run exists
    assert client_for().get("/labs/circuit-breaker/nope/").status_code == 404
    assert client_for().get("/labs/nope/outage-and-recovery/").status_code == 404


def test_start_requires_login_and_redirects_to_run(people, redis_client):
    url = reverse("labs:start", args=[LAB, SCENARIO])
    response = client_for().post(url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    response = client_for(people["owner"]).post(url)
    run = LabRun.objects.get(owner=people["owner"])
    assert response.status_code == 302 and response["Location"].endswith(f"?run={run.pk}")
    page = client_for(people["owner"]).get(response["Location"]).content.decode()
    assert str(run.pk) in page and "Pause" in page and 'data-command="start_outage"' in page


def test_start_over_the_limit_shows_message(people, redis_client):
    for _ in range(3):
        services.start_run(people["owner"], LAB, SCENARIO, enqueue=False)
    client = client_for(people["owner"])
    response = client.post(reverse("labs:start", args=[LAB, SCENARIO]), follow=True)
    assert "the limit is 3" in response.content.decode()


def test_lab_page_with_someone_elses_run_is_404(people, run):
    url = reverse("labs:lab_page", args=[LAB, SCENARIO]) + f"?run={run.pk}"
    assert client_for(people["other"]).get(url).status_code == 404
    assert client_for(people["owner"]).get(url).status_code == 200
    staff_page = client_for(people["staff"]).get(url)
    assert (
        staff_page.status_code == 200
        and 'data-command="start_outage"' in staff_page.content.decode()
    )
    assert '"canControl": false' in staff_page.content.decode()


def test_command_htmx_ok_and_400_with_reason(people, run, redis_client):
    url = reverse("labs:run_command", args=[run.pk])
    owner = client_for(people["owner"])
    ok = owner.post(url, {"type": "start_outage", "mode": "error"}, HTTP_HX_REQUEST="true")
    assert ok.status_code == 200 and "Queued" in ok.content.decode()
    bad = owner.post(url, {"type": "set_rps", "value": "9999"}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 400 and "field-errors" in bad.content.decode()
    assert "500" in bad.content.decode()  # the engine's reason names the limit
    queued = [json.loads(c) for c in redis_client.lrange(driver.commands_key(run.pk), 0, -1)]
    assert [{k: v for k, v in q.items() if k != "_request_id"} for q in queued] == [
        {"type": "start_outage", "mode": "error"}
    ]


def test_command_json_for_the_visualiser(people, run):
    url = reverse("labs:run_command", args=[run.pk])
    owner = client_for(people["owner"])
    ok = owner.post(url, {"type": "set_rps", "value": 80}, content_type="application/json")
    assert ok.status_code == 200 and ok.json() == {
        "ok": True,
        "command": {"type": "set_rps", "value": 80},
    }
    bad = owner.post(url, {"type": "nope"}, content_type="application/json")
    assert bad.status_code == 400 and "unknown command" in bad.json()["error"]


@pytest.mark.parametrize("who,status", [("other", 404), ("staff", 404), ("teacher", 404)])
def test_command_and_controls_only_for_owner(people, run, who, status):
    client = client_for(people[who])
    assert (
        client.post(reverse("labs:run_command", args=[run.pk]), {"type": "stop_outage"}).status_code
        == status
    )
    for action in ("pause", "resume", "step", "speed", "stop", "reset"):
        assert client.post(reverse("labs:run_control", args=[run.pk, action])).status_code == status
    run.refresh_from_db()
    assert run.status == LabRun.Status.RUNNING


def test_anonymous_controls_redirect_to_login(run):
    for url in (
        reverse("labs:run_command", args=[run.pk]),
        reverse("labs:run_control", args=[run.pk, "pause"]),
        reverse("labs:run_replay", args=[run.pk]),
        reverse("labs:run_replay_json", args=[run.pk]),
    ):
        method = "get" if "replay" in url else "post"
        response = getattr(client_for(), method)(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_controls_for_owner(people, run, redis_client):
    owner = client_for(people["owner"])
    hx = {"HTTP_HX_REQUEST": "true"}
    response = owner.post(reverse("labs:run_control", args=[run.pk, "pause"]), **hx)
    assert response.status_code == 200 and 'data-status="paused"' in response.content.decode()
    response = owner.post(reverse("labs:run_control", args=[run.pk, "step"]), **hx)
    assert response.status_code == 200 and driver.read_checkpoint(run.pk)["sim_ms"] == 2000
    response = owner.post(
        reverse("labs:run_control", args=[run.pk, "speed"]), {"speed": "20"}, **hx
    )
    assert response.status_code == 400 and "between" in response.content.decode()
    response = owner.post(
        reverse("labs:run_control", args=[run.pk, "speed"]), {"speed": "0.25"}, **hx
    )
    assert response.status_code == 200
    response = owner.post(reverse("labs:run_control", args=[run.pk, "nope"]))
    assert response.status_code == 404
    response = owner.post(reverse("labs:run_control", args=[run.pk, "reset"]), **hx)
    assert response.status_code == 204
    new = LabRun.objects.filter(owner=people["owner"]).exclude(pk=run.pk).get()
    assert response["HX-Redirect"].endswith(f"?run={new.pk}")
    run.refresh_from_db()
    assert run.status == LabRun.Status.FINISHED and new.speed == 1.0
    response = owner.post(reverse("labs:run_control", args=[new.pk, "stop"]))
    assert response.status_code == 302
    assert LabRun.objects.get(pk=new.pk).status == LabRun.Status.FINISHED


def test_replay_visibility(people, run):
    services.stop_run(run)
    for who, status in [("owner", 200), ("staff", 200), ("teacher", 200), ("other", 404)]:
        client = client_for(people[who])
        assert client.get(reverse("labs:run_replay", args=[run.pk])).status_code == status
        assert client.get(reverse("labs:run_replay_json", args=[run.pk])).status_code == status
    body = client_for(people["owner"]).get(reverse("labs:run_replay_json", args=[run.pk])).json()
    assert body["lab"] == LAB and body["entries"][-1]["type"] == "tick"


def test_unknown_run_is_404(people):
    missing = "00000000-0000-0000-0000-000000000000"
    client = client_for(people["owner"])
    assert client.get(f"/labs/runs/{missing}/replay").status_code == 404
    assert client.post(f"/labs/runs/{missing}/pause").status_code == 404


def test_cohort_instructor_watches_read_only_other_instructors_do_not(people, run, make_user):
    from classroom.models import Cohort, Membership
    from lessons.models import Course

    course = Course.objects.create(slug="c", title="C", summary="")
    cohort = Cohort.objects.create(course=course, name="Autumn")
    cohort.instructors.add(people["teacher"])
    Membership.objects.create(cohort=cohort, user=people["owner"])
    page = reverse("labs:lab_page", args=[LAB, SCENARIO]) + f"?run={run.pk}"
    assert client_for(people["teacher"]).get(page).status_code == 200
    stranger = make_user("stranger-teacher", instructor=True)
    assert client_for(stranger).get(page).status_code == 404
    command = reverse("labs:run_command", args=[run.pk])
    refused = client_for(people["teacher"]).post(command, {"type": "start_outage", "mode": "error"})
    assert refused.status_code == 404


def test_commands_are_rate_limited_per_learner(people, run, redis_client):
    from labs.views import COMMAND_LIMIT_PER_MINUTE

    url = reverse("labs:run_command", args=[run.pk])
    owner = client_for(people["owner"])
    for _ in range(COMMAND_LIMIT_PER_MINUTE):
        owner.post(url, {"type": "no-such-command"})
    refused = owner.post(
        url, json.dumps({"type": "start_outage", "mode": "error"}), content_type="application/json"
    )
    assert refused.status_code == 429
    assert "Too many attempts" in refused.json()["error"]
