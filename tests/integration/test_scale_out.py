"""Scale-out on one machine: two web processes and two Celery workers on one Redis and one DB.

A lab run is started through web A and watched through web B; both workers serve its ticks;
one worker is killed (SIGKILL) mid-run and the stream carries on with no gap and no duplicate:
every tick seq appears exactly once, in order, and SSE ids only grow. The database is the test
database (SQLite file here; PostgreSQL when the suite runs with a postgres DATABASE_URL, which
`child_env` passes on to every child).
"""

from __future__ import annotations

import json
import re
import signal
import threading
import time
import uuid

import httpx
import pytest
from django.test import Client

from config import processes
from labs import services
from labs.models import LabRun
from tests.conftest import ARTIFACTS, child_env

pytestmark = pytest.mark.django_db(transaction=True)
LAB, SCENARIO = "circuit-breaker", "outage-and-recovery"


def wait_for(predicate, timeout: float, what: str, every: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


class StreamReader(threading.Thread):
    """Reads an SSE stream in the background: a list of (id, event, data) frames."""

    def __init__(self, url: str, cookies: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.url, self.cookies = url, cookies
        self.frames: list[tuple[str, str, dict]] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with httpx.Client(cookies=self.cookies, timeout=httpx.Timeout(5, read=30)) as client:
                with client.stream("GET", self.url) as response:
                    assert response.status_code == 200, response.status_code
                    frame: dict[str, str] = {}
                    for line in response.iter_lines():
                        if self.stop.is_set():
                            return
                        if not line:
                            if "data" in frame:
                                data = json.loads(frame["data"])
                                self.frames.append(
                                    (frame.get("id", ""), frame.get("event", ""), data)
                                )
                            frame = {}
                            continue
                        if line.startswith(":"):
                            continue
                        key, _, value = line.partition(":")
                        frame[key] = value.removeprefix(" ")
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def ticks(self) -> list[int]:
        return [data["seq"] for _id, event, data in self.frames if data.get("type") == "tick"]


def _ticks_served(log_path) -> int:
    if not log_path.exists():
        return 0
    text = log_path.read_text(errors="replace")
    return len(re.findall(r"Task labs\.tick\[[^\]]+\] succeeded", text))


@pytest.fixture
def cluster(live_db, redis_client):
    """Two uvicorn processes and two Celery workers (each with the watchdog's beat)."""
    from config.celery import app

    ARTIFACTS.mkdir(exist_ok=True)
    tag = uuid.uuid4().hex[:6]
    started: list = []
    try:
        webs = []
        for name in ("a", "b"):
            port = processes.free_port()
            proc = processes.start_uvicorn(
                child_env(), port, log_path=ARTIFACTS / f"scale-web-{name}.log"
            )
            started.append(proc)
            webs.append((f"http://127.0.0.1:{port}", proc))
        workers = []
        for name in ("w1", "w2"):
            log_path = ARTIFACTS / f"scale-{name}-{tag}.log"
            proc = processes.start_worker(
                child_env(), name=f"scale-{name}-{tag}", concurrency=2, log_path=log_path
            )
            started.append(proc)
            workers.append((proc, log_path))
        for base, proc in webs:
            processes.wait_for_http(base + "/healthz", proc)
        wait_for(lambda: len(app.control.ping(timeout=0.5) or []) >= 2, 45, "two workers to answer")
        yield {"webs": [w[0] for w in webs], "workers": workers}
    finally:
        for proc in started:
            processes.stop(proc)


def test_two_webs_two_workers_one_killed_stream_stays_continuous(cluster, make_user):
    web_a, web_b = cluster["webs"]
    user = make_user("scaler")
    django_client = Client()
    django_client.force_login(user)
    cookies = {"sessionid": django_client.cookies["sessionid"].value}

    # Start the run through web A (a real form POST with the CSRF token from A's page).
    with httpx.Client(base_url=web_a, cookies=cookies, timeout=15) as a:
        page = a.get(f"/labs/{LAB}/{SCENARIO}/")
        assert page.status_code == 200
        token = a.cookies.get("csrftoken")
        assert token, "web A set no CSRF cookie"
        started = a.post(
            f"/labs/{LAB}/{SCENARIO}/start",
            data={"csrfmiddlewaretoken": token},
            headers={"X-CSRFToken": token},
        )
    assert started.status_code == 302, started.status_code
    run_id = re.search(r"run=([0-9a-f-]{36})", started.headers["location"]).group(1)

    # Watch it through web B.
    reader = StreamReader(f"{web_b}/labs/runs/{run_id}/events", cookies)
    reader.start()
    try:
        logs = [log for _proc, log in cluster["workers"]]
        wait_for(lambda: len(reader.ticks()) >= 3 or reader.error, 40, "ticks through web B")
        assert reader.error is None, reader.error
        wait_for(
            lambda: all(_ticks_served(log) > 0 for log in logs),
            40,
            "both workers to serve ticks",
        )
        served_before = [_ticks_served(log) for log in logs]

        # Kill one worker mid-run; the other (and its watchdog) carries the run on.
        victim, _log = cluster["workers"][0]
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        at_kill = len(reader.ticks())
        wait_for(
            lambda: len(reader.ticks()) >= at_kill + 5 or reader.error,
            60,
            "ticks after the kill",
        )
        assert reader.error is None, reader.error
        assert _ticks_served(logs[1]) > served_before[1], "the surviving worker served no tick"
    finally:
        reader.stop.set()

    seqs = reader.ticks()
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"gap or duplicate: {seqs}"
    ids = [frame_id for frame_id, _event, _data in reader.frames if frame_id]
    keys = [tuple(int(p) for p in i.split("-")) for i in ids]
    assert keys == sorted(set(keys)), "SSE ids repeated or out of order"

    run = LabRun.objects.get(pk=run_id)
    assert run.owner_id == user.pk and run.status == LabRun.Status.RUNNING
    services.stop_run(run)
