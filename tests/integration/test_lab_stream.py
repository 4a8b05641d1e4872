"""The run's SSE stream under a real uvicorn: snapshot first, ordered ids, exact resume, a
terminal event, owner-only access, and no Redis connection left behind on disconnect."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from django.test import Client

from labs import driver, services
from labs.models import LabRun

pytestmark = pytest.mark.django_db(transaction=True)
LAB, SCENARIO = "circuit-breaker", "outage-and-recovery"


def cookies_for(user) -> dict[str, str]:
    client = Client()
    client.force_login(user)
    return {"sessionid": client.cookies["sessionid"].value}


def paused_run(user):
    """A paused run advanced only by this test's steps (the watchdog leaves paused runs alone)."""
    run = services.start_run(user, LAB, SCENARIO, seed=5, enqueue=False)
    LabRun.objects.filter(pk=run.pk).update(status=LabRun.Status.PAUSED)
    return run


def step(run, slices: int = 1) -> None:
    for _ in range(slices):
        seq = driver.read_checkpoint(run.pk)["seq"]
        assert driver.advance_slice(run.pk, seq, step=True) in ("advanced", "ended")


def frames(response, limit: int, until: str | None = None):
    """Parse SSE frames (dicts with id/event/data) from a streaming httpx response."""
    if not hasattr(response, "_lab_lines"):
        response._lab_lines = response.iter_lines()
    out, current = [], {}
    for line in response._lab_lines:
        if line == "":
            if current.get("data") is not None:
                current["data"] = json.loads(current["data"])
                out.append(current)
                if len(out) >= limit or (until and current.get("event") == until):
                    return out
            current = {}
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(": ")
            current[name] = value
    return out


def test_snapshot_then_ordered_events_and_exact_resume(asgi_server, make_user, redis_client):
    owner = make_user("streamer")
    run = paused_run(owner)
    step(run, 2)
    url = f"{asgi_server}/labs/runs/{run.pk}/events"
    all_ids = [entry_id for entry_id, _ in redis_client.xrange(driver.events_key(run.pk))]
    with httpx.Client(cookies=cookies_for(owner), timeout=15) as http:
        with http.stream("GET", url, params={"last_id": "0-0"}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            got = frames(response, limit=1 + len(all_ids))
        assert got[0]["event"] == "snapshot" and "id" not in got[0]
        assert got[0]["data"]["t"] == 2000 and got[0]["data"]["snapshot"]["breaker"]
        assert [f["id"] for f in got[1:]] == all_ids
        assert [f["event"] for f in got[1:]].count("tick") == 2

        # Resume from the middle with Last-Event-ID: exactly the entries after it, then live ones.
        middle = all_ids[len(all_ids) // 2]
        step(run)
        expected = [i for i, _ in redis_client.xrange(driver.events_key(run.pk))]
        expected = expected[expected.index(middle) + 1 :]
        with http.stream("GET", url, headers={"Last-Event-ID": middle}) as response:
            got = frames(response, limit=1 + len(expected))
        assert [f["id"] for f in got[1:]] == expected

        # A fresh connection starts at the tail, then sees the next slice and the terminal end.
        with http.stream("GET", url) as response:
            first = frames(response, limit=1)
            assert first[0]["event"] == "snapshot" and first[0]["data"]["t"] == 3000
            step(run)
            services.stop_run(LabRun.objects.get(pk=run.pk))
            rest = frames(response, limit=10_000, until="end")
            assert rest[-1]["event"] == "end" and rest[-1]["data"]["status"] == "finished"
            assert rest[0]["data"]["t"] > 3000
            assert list(response._lab_lines) == []  # the server closed the stream

        # After the end a new connection gets the snapshot and the end at once.
        with http.stream("GET", url) as response:
            got = frames(response, limit=5, until="end")
        assert [f["event"] for f in got] == ["snapshot", "end"]


def test_stream_is_owner_only(asgi_server, make_user, redis_client):
    owner, other, staff = make_user("own"), make_user("oth"), make_user("stf", staff=True)
    run = paused_run(owner)
    url = f"{asgi_server}/labs/runs/{run.pk}/events"
    assert httpx.get(url, cookies=cookies_for(other), timeout=10).status_code == 404
    anonymous = httpx.get(url, timeout=10, follow_redirects=False)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous.headers["location"]
    with httpx.stream("GET", url, cookies=cookies_for(staff), timeout=10) as response:
        assert response.status_code == 200
        assert frames(response, limit=1)[0]["event"] == "snapshot"


def _clients(redis_client) -> int:
    return len(redis_client.client_list())


def test_disconnect_closes_the_redis_connection(asgi_server, make_user, redis_client):
    owner = make_user("leaver")
    run = paused_run(owner)
    url = f"{asgi_server}/labs/runs/{run.pk}/events"
    cookies = cookies_for(owner)
    with httpx.stream("GET", url, cookies=cookies, timeout=10) as response:  # warm the pools
        frames(response, limit=1)
    time.sleep(0.5)
    baseline = _clients(redis_client)
    for _ in range(3):
        with httpx.stream("GET", url, cookies=cookies, timeout=10) as response:
            frames(response, limit=1)
            time.sleep(0.3)
            assert _clients(redis_client) > baseline  # the stream holds its own connection
    deadline = time.monotonic() + 10
    while _clients(redis_client) > baseline and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _clients(redis_client) <= baseline
