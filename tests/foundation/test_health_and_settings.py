from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from config import processes

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db(transaction=True)
def test_healthz_reports_every_part_up(client, celery_worker):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["database"]["ok"] and body["redis"]["ok"]
    assert body["workers"]["live"] >= 1


@pytest.mark.django_db
def test_healthz_names_redis_when_it_is_down(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{processes.free_port()}/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "redis" in response.json()["down"]


def _production_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_SECRET_KEY="x" * 20 + "A-very-long-random-production-secret-9f8e7d6c5b4a",
        DJANGO_DEBUG="0",
        ALLOWED_HOSTS="decoupled.example.com",
        CSRF_TRUSTED_ORIGINS="https://decoupled.example.com",
    )
    env.update(extra)
    return env


def test_check_deploy_is_clean_with_production_values():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr and "ERROR" not in result.stderr


def test_missing_secret_key_is_refused_outside_debug():
    env = _production_env()
    del env["DJANGO_SECRET_KEY"]
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_devserver_refuses_a_taken_port_in_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "config.devserver"],
            cwd=ROOT,
            env={**os.environ, "PORT": str(port), "DJANGO_DEBUG": "1"},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"make run: port {port} is already in use; stop that program or run with PORT=<other>"
    )


def test_devserver_starts_everything_and_one_interrupt_stops_it(tmp_path):
    port = processes.free_port()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(PORT=str(port), DJANGO_DEBUG="1", DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "config.devserver"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    family: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("web" in line for line in lines):
            lines.append(server.stdout.readline())
        assert any(line.strip().startswith("redis") for line in lines), lines
        assert any(line.strip().startswith("worker") for line in lines), lines
        health = {}
        for _ in range(60):  # the worker may need a moment to answer pings
            health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json()
            if health["workers"]["live"]:
                break
            time.sleep(0.5)
        assert health["status"] == "ok", health
        family = _descendants(server.pid)
        assert len(family) >= 3, family  # redis, worker, web (plus the worker's own children)
    finally:
        os.kill(server.pid, signal.SIGINT)
        server.wait(30)
    time.sleep(0.5)
    alive = [_describe(pid) for pid in family if _running(pid)]
    assert not alive, f"orphan processes left behind: {alive}"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    queue = [pid]
    while queue:
        parent = queue.pop()
        out = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True).stdout
        for child in map(int, out.split()):
            found.append(child)
            queue.append(child)
    return found


def _running(pid: int) -> bool:
    """Alive and not a zombie (a zombie is dead; it only waits for its parent to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _describe(pid: int) -> str:
    try:
        return f"{pid}: " + Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")[:120]
    except FileNotFoundError:
        return str(pid)


@pytest.mark.django_db
def test_pages_carry_a_csp_without_inline_scripts(client):
    policy = client.get("/").headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in directives["script-src"]
    assert directives["frame-ancestors"] == "'none'"
