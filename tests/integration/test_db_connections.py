"""PostgreSQL connections under load: bounded per process, and never held by a stream.

Found by the 200-learner load run (bench/load.py): under ASGI every in-flight request has its own
thread and connection, so an overloaded web held one connection per queued request until
PostgreSQL refused more ("sorry, too many clients already": 239 of 2,278 requests answered 503,
and the worker's tasks failed too). And every open server-sent-events stream held its request's
connection until the learner left. Now a process opens at most DB_POOL_MAX_SIZE connections
(config/postgres/base.py) and a streaming response gives its connection back before it streams
(config/stream_db.py).

Real parts only: the session's own PostgreSQL (tests/integration/conftest.py), a uvicorn process
on a fresh database and its own Redis, accounts made through the sign-up form; connections are
counted in pg_stat_activity.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from config import processes
from tests.conftest import ARTIFACTS
from tests.integration.conftest import pg_env, sign_up

POOL = 3


def connections(server, dbname: str) -> int:
    """Connections the web process holds on its database (not this query's own)."""
    with server.connect("postgres") as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (dbname,)
        ).fetchone()[0]


@pytest.fixture
def web(embedded_postgres, pg_database, own_redis):
    """One uvicorn process whose pool allows POOL connections; yields (base URL, dbname)."""
    dbname = pg_database.rsplit("/", 1)[1]
    var_dir = Path(tempfile.mkdtemp(prefix="decoupled-dbconn-"))
    env = pg_env(
        pg_database,
        {
            "REDIS_URL": own_redis,
            "DECOUPLED_VAR_DIR": str(var_dir),
            "DB_POOL_MAX_SIZE": str(POOL),
            "DB_POOL_TIMEOUT": "5",
        },
    )
    ARTIFACTS.mkdir(exist_ok=True)
    port = processes.free_port()
    process = processes.start_uvicorn(env, port, log_path=ARTIFACTS / "dbconn-web.log")
    base = f"http://127.0.0.1:{port}"
    try:
        processes.wait_for_http(base + "/healthz", process)
        yield base, dbname
    finally:
        processes.stop(process)
        shutil.rmtree(var_dir, ignore_errors=True)


def test_open_streams_hold_no_connection(embedded_postgres, web):
    base, dbname = web
    with httpx.Client(base_url=base, timeout=15) as client:
        sign_up(client, "stream-watcher")
        with embedded_postgres.connect(dbname, autocommit=True) as conn:
            conn.execute("UPDATE auth_user SET is_staff = true WHERE username = 'stream-watcher'")
        session = client.cookies.get("sessionid")

    # Twice as many streams as the pool has connections, all open at the same time.
    clients = [httpx.Client(base_url=base, timeout=15) for _ in range(2 * POOL)]
    streams = []
    try:
        for watcher in clients:
            watcher.cookies.set("sessionid", session)
            stream = watcher.send(watcher.build_request("GET", "/events/activity"), stream=True)
            streams.append(stream)
            assert stream.status_code == 200, stream.status_code
            assert stream.headers["content-type"].startswith("text/event-stream")
        time.sleep(1)
        assert connections(embedded_postgres, dbname) == 0

        # The process still serves pages from its pool while every stream stays open.
        page = clients[0].get("/courses/")
        assert page.status_code == 200
        assert "stream-watcher" in page.text  # signed in: the page read the session
    finally:
        for stream in streams:
            stream.close()
        for watcher in clients:
            watcher.close()


def test_concurrent_requests_never_exceed_the_pool(embedded_postgres, web):
    base, dbname = web
    with httpx.Client(base_url=base, timeout=30) as client:
        sign_up(client, "busy-reader")
        session = client.cookies.get("sessionid")

    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, connections(embedded_postgres, dbname))

    def read(i: int) -> tuple[int, str]:
        with httpx.Client(base_url=base, timeout=60, cookies={"sessionid": session}) as reader:
            response = reader.get("/courses/search/", params={"q": ["saga", "kafka"][i % 2]})
            return response.status_code, response.text

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with ThreadPoolExecutor(max_workers=40) as pool:
            results = list(pool.map(read, range(120)))
    finally:
        done.set()
        sampler.join()

    assert [status for status, _ in results] == [200] * 120
    assert all("busy-reader" in text for _, text in results)  # each read its session
    assert 1 <= peak <= POOL, peak
