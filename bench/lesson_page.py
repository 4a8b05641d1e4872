"""Lesson-page requests per second under uvicorn, as a ratio of a bare Django view.

    .venv/bin/python bench/lesson_page.py [--seconds 5] [--clients 4]

Starts uvicorn (one worker) on a fresh SQLite database loaded with site/ (or the test fixture
course when site/ has problems), then alternates rounds of requests to a lesson page and to a
view that returns "ok", and prints both rates and their ratio (aim: at least 0.5).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

BASE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE))

from config import processes  # noqa: E402


def rate(url: str, seconds: float, clients: int) -> float:
    count = [0] * clients
    stop = time.monotonic() + seconds

    def run(i: int) -> None:
        with httpx.Client(timeout=10) as http:
            while time.monotonic() < stop:
                response = http.get(url)
                assert response.status_code == 200, (url, response.status_code)
                count[i] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(count) / (time.monotonic() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-lessons-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.lesson_page_settings",
        "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
        "DJANGO_SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PYTHONPATH": str(BASE),
    }
    py = processes.python()
    manage = [py, str(BASE / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, cwd=BASE, check=True)
    site = BASE / "site"
    if (
        subprocess.run(
            [*manage, "load_site", str(site)], env=env, cwd=BASE, capture_output=True
        ).returncode
        != 0
    ):
        site = BASE / "tests" / "lessons" / "fixtures" / "site"
        subprocess.run(
            [*manage, "load_site", str(site)], env=env, cwd=BASE, check=True, capture_output=True
        )
    lesson_url = subprocess.run(
        [
            py,
            "-c",
            "import django; django.setup(); from lessons.models import Lesson; "
            "print(Lesson.objects.filter(published=True).order_by('position')[1]"
            ".get_absolute_url())",
        ],
        env=env,
        cwd=BASE,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    port = processes.free_port()
    server = processes.start_uvicorn(env, port, log_path=tmp / "uvicorn.log")
    base = f"http://127.0.0.1:{port}"
    try:
        processes.wait_for_http(base + "/bench/bare", server)
        rate(base + lesson_url, 1, args.clients)  # warm up
        rate(base + "/bench/bare", 1, args.clients)
        lesson = bare = 0.0
        for _ in range(args.rounds):
            lesson += rate(base + lesson_url, args.seconds, args.clients) / args.rounds
            bare += rate(base + "/bench/bare", args.seconds, args.clients) / args.rounds
    finally:
        processes.stop(server)
    print(f"site: {site.relative_to(BASE)}  lesson: {lesson_url}")
    print(f"bare Django view : {bare:8.1f} requests/s")
    print(f"lesson page      : {lesson:8.1f} requests/s")
    print(f"ratio            : {lesson / bare:8.2f}  (aim: >= 0.5)")


if __name__ == "__main__":
    main()
