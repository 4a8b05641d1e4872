"""Scale-out on one machine: two web processes and two Celery workers on one Redis and one
PostgreSQL (issue #11: the scale-out proof).

A learner signs up through web A and starts a lab run there (real form POSTs with CSRF); the
run is watched through web B with the same session; both workers serve its slices; one worker
is killed (SIGKILL) mid-run and the stream carries on with no gap and no duplicate: every tick
seq appears exactly once, in order, and SSE ids only grow. Web B then stops the run.

Decision: the database is always PostgreSQL, the one the test session starts itself
(`embedded_postgres` in tests/integration/conftest.py), never the suite's SQLite file: the
proof is about the production shape. The pytest process's own ORM stays on SQLite, so this test
does not use it at all: the schema comes from `manage.py migrate` (as a deployment's migrate
job), the learner from the sign-up form, and the final checks read PostgreSQL directly. The
cluster also gets its own redis-server, so the session's Celery worker (which runs on the
SQLite test database) can never take one of its tasks. Because it brings its own PostgreSQL,
.ci/run does not need to rerun it against the machine's server.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from config import processes
from tests.conftest import ARTIFACTS
from tests.integration.conftest import csrf_post, pg_env, sign_up

LAB, SCENARIO = "circuit-breaker", "outage-and-recovery"
LEARNER = "scaler"


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


def _slices_served(log_path: Path) -> int:
    """Lab slices a worker advanced, from its log: one per `labs.tick` task, or the `advanced`
    count each `labs.pump` task returns (the batched pump of labs/pump.py)."""
    if not log_path.exists():
        return 0
    text = log_path.read_text(errors="replace")
    ticks = len(re.findall(r"Task labs\.tick\[[^\]]+\] succeeded", text))
    pumped = sum(
        int(n)
        for n in re.findall(
            r"Task labs\.pump\[[^\]]+\] succeeded in [0-9.e-]+s: [^\n]*?'advanced': (\d+)", text
        )
    )
    return ticks + pumped


def _query(server, dbname: str, sql: str, *params) -> list[tuple]:
    with server.connect(dbname) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture
def cluster(embedded_postgres, pg_database, own_redis):
    """Two uvicorn processes and two Celery workers (each with the watchdog's beat) on one
    PostgreSQL database and one Redis."""
    ARTIFACTS.mkdir(exist_ok=True)
    tag = uuid.uuid4().hex[:6]
    var_dir = Path(tempfile.mkdtemp(prefix="decoupled-scale-"))
    env = pg_env(pg_database, {"REDIS_URL": own_redis, "DECOUPLED_VAR_DIR": str(var_dir)})
    started: list = []
    try:
        webs = []
        for name in ("a", "b"):
            port = processes.free_port()
            proc = processes.start_uvicorn(env, port, log_path=ARTIFACTS / f"scale-web-{name}.log")
            started.append(proc)
            webs.append((f"http://127.0.0.1:{port}", proc))
        workers = []
        for name in ("w1", "w2"):
            log_path = ARTIFACTS / f"scale-{name}-{tag}.log"
            proc = processes.start_worker(
                env, name=f"scale-{name}-{tag}", concurrency=2, log_path=log_path
            )
            started.append(proc)
            workers.append((proc, log_path))
        for base, proc in webs:
            processes.wait_for_http(base + "/healthz", proc, timeout=30)

        def both_workers_live() -> bool:
            report = httpx.get(webs[0][0] + "/healthz", timeout=5).json()
            return report["workers"]["live"] >= 2 and report["database"]["ok"]

        wait_for(both_workers_live, 45, "two workers to answer web A's health check")
        yield {
            "webs": [w[0] for w in webs],
            "workers": workers,
            "db": pg_database.rsplit("/", 1)[1],
        }
    finally:
        for proc in started:
            processes.stop(proc)
            # The killed worker's embedded beat is a child in its process group: stop() skips a
            # group whose leader is already dead, so end the group here.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(var_dir, ignore_errors=True)


def test_two_webs_two_workers_one_killed_stream_stays_continuous(embedded_postgres, cluster):
    web_a, web_b = cluster["webs"]
    db = cluster["db"]
    health = httpx.get(web_b + "/healthz", timeout=5).json()
    assert health["database"]["vendor"] == "postgresql", health

    # Sign up and start the run through web A.
    with httpx.Client(base_url=web_a, timeout=15) as a:
        sign_up(a, LEARNER)
        assert a.get(f"/labs/{LAB}/{SCENARIO}/").status_code == 200
        started = csrf_post(a, f"/labs/{LAB}/{SCENARIO}/start")
        cookies = {"sessionid": a.cookies["sessionid"], "csrftoken": a.cookies["csrftoken"]}
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
            lambda: all(_slices_served(log) > 0 for log in logs),
            40,
            "both workers to serve slices",
        )
        served_before = [_slices_served(log) for log in logs]

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
        assert _slices_served(logs[1]) > served_before[1], "the surviving worker served nothing"
    finally:
        reader.stop.set()

    seqs = reader.ticks()
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"gap or duplicate: {seqs}"
    ids = [frame_id for frame_id, _event, _data in reader.frames if frame_id]
    keys = [tuple(int(p) for p in i.split("-")) for i in ids]
    assert keys == sorted(set(keys)), "SSE ids repeated or out of order"

    # The run is the learner's, in PostgreSQL, still running; web B can stop it.
    rows = _query(
        embedded_postgres,
        db,
        "SELECT u.username, r.status FROM labs_labrun r JOIN auth_user u ON u.id = r.owner_id "
        "WHERE r.id = %s",
        run_id,
    )
    assert rows == [(LEARNER, "running")], rows
    with httpx.Client(base_url=web_b, cookies=cookies, timeout=15) as b:
        stopped = csrf_post(b, f"/labs/runs/{run_id}/stop")
    assert stopped.status_code == 302, stopped.status_code
    status = _query(embedded_postgres, db, "SELECT status FROM labs_labrun WHERE id = %s", run_id)
    assert status[0][0] not in ("queued", "running", "paused"), status
