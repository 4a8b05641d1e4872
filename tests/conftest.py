"""The test harness: real Redis, a real Celery worker, a real ASGI server and real Chromium.

- Redis: an embedded redis-server on a free port for the whole run (or REDIS_URL when set),
  started before any test so every client in this process and every child process uses it.
- `celery_worker`: a `celery worker` subprocess on that Redis and the test database.
- `asgi_server`: uvicorn serving config.asgi on the test database, for streaming tests.
- `browser` / `page`: Playwright driving Debian's Chromium, with a screenshot saved under
  test-artifacts/ when a test fails.
Child processes only see committed data, so tests that use them need `transactional_db`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; Django must still allow ORM calls.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

from config import processes  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
_redis_process = None
_redis_dir: str | None = None

# Task modules imported now so the worker and this process know every task.
import config.tasks  # noqa: E402,F401
import labs.tasks  # noqa: E402,F401


def pytest_configure(config: pytest.Config) -> None:
    global _redis_process, _redis_dir
    from django.conf import settings

    url = os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL")
    if url:
        processes.wait_for_redis(url, timeout=5)
    else:
        _redis_dir = tempfile.mkdtemp(prefix="decoupled-redis-")
        _redis_process, url = processes.start_redis(Path(_redis_dir))
    os.environ["REDIS_URL"] = url
    settings.REDIS_URL = url
    settings.CELERY_BROKER_URL = url
    settings.CELERY_RESULT_BACKEND = url
    from config.celery import app

    app.conf.broker_url = url
    app.conf.result_backend = url


def pytest_unconfigure(config: pytest.Config) -> None:
    processes.stop(_redis_process)
    if _redis_dir:
        shutil.rmtree(_redis_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url() -> str:
    return os.environ["REDIS_URL"]


@pytest.fixture
def redis_client(redis_url: str):
    """A client on the test Redis, flushed before the test so state never leaks between tests."""
    from config.redis import get_redis

    client = get_redis()
    client.flushdb()
    return client


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a worker or web process sharing this run's test database and Redis."""
    from django.db import connection

    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "config.test_settings"
    env["PYTHONUNBUFFERED"] = "1"
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        env["DATABASE_URL"] = (
            f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or 'localhost'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        )
    env.update(extra or {})
    return env


@pytest.fixture(scope="session")
def live_db(django_db_setup, django_db_blocker):
    """The test database exists and is migrated (child processes need it before they start)."""
    with django_db_blocker.unblock():
        yield


@pytest.fixture(scope="session")
def celery_worker(live_db) -> Iterator[dict]:
    """A real `celery worker` process (threads pool, embedded beat) on the test Redis and DB."""
    from config.celery import app

    ARTIFACTS.mkdir(exist_ok=True)
    name = f"test-{uuid.uuid4().hex[:6]}"
    process = processes.start_worker(
        child_env(), name=name, log_path=ARTIFACTS / "celery-worker.log", concurrency=4
    )
    try:
        _wait_for_worker(app, process)
        yield {"process": process, "name": name}
    finally:
        processes.stop(process)


def _wait_for_worker(app, process, timeout: float = 30) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"celery worker exited ({process.returncode}); see test-artifacts/")
        if app.control.ping(timeout=0.5):
            return
    raise RuntimeError("celery worker did not answer a ping within 30s")


@pytest.fixture(scope="session")
def asgi_server(live_db) -> Iterator[str]:
    """uvicorn serving the app on a free port, on the test database; yields its base URL."""
    ARTIFACTS.mkdir(exist_ok=True)
    port = processes.free_port()
    process = processes.start_uvicorn(child_env(), port, log_path=ARTIFACTS / "uvicorn.log")
    base = f"http://127.0.0.1:{port}"
    try:
        processes.wait_for_http(base + "/healthz", process)
        yield base
    finally:
        processes.stop(process)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test` (it installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.fixture
def login_as(asgi_server):
    """login_as(page, user): give the browser a real session for `user` on the ASGI server."""
    from django.test import Client

    def login(page, user) -> None:
        client = Client()
        client.force_login(user)
        page.context.add_cookies(
            [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": asgi_server}]
        )

    return login


@pytest.fixture
def make_user(django_user_model):
    """make_user("alice", instructor=False, staff=False) -> a saved user (password "pw-<name>-1X")."""

    def make(username: str, instructor: bool = False, staff: bool = False):
        from django.contrib.auth.models import Group

        from config.permissions import INSTRUCTOR_GROUP

        user = django_user_model.objects.create_user(
            username=username,
            email=f"{username}@example.com",
            password=f"pw-{username}-1X",
            is_staff=staff,
        )
        if instructor:
            user.groups.add(Group.objects.get_or_create(name=INSTRUCTOR_GROUP)[0])
        return user

    return make


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
