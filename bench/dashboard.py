"""Cohort dashboard render time beside a lesson page, measured in the same run.

    .venv/bin/python bench/dashboard.py [--learners 500] [--repeat 5]

Builds a fresh SQLite database, loads site/ (or the lessons test fixture when site/ has
problems), seeds a cohort with `manage.py seed_cohort`, then, in one process, renders a lesson
page and the cohort dashboard (plus its quiz and lab reports) `--repeat` times each through
Django's test client and prints the median time and the number of queries of each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE))


def measure(repeat: int) -> None:
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from classroom.models import Cohort
    from classroom.services import quiz_slugs
    from lessons.models import Lesson

    cohort = Cohort.objects.order_by("-pk").first()
    teacher = cohort.instructors.first()
    client = Client()
    client.force_login(teacher)
    lesson = Lesson.objects.filter(published=True).order_by("position")[1]
    slugs = quiz_slugs(cohort)
    pages = [
        ("lesson page", lesson.get_absolute_url()),
        ("cohort dashboard", f"/classroom/{cohort.pk}/"),
        ("quiz report", f"/classroom/{cohort.pk}/quizzes/{slugs[0]}/" if slugs else None),
        ("lab report", f"/classroom/{cohort.pk}/labs/"),
    ]
    learners = cohort.memberships.count()
    print(
        f"cohort {cohort.pk}: {learners} learners, {Lesson.objects.count()} lessons, "
        f"{len(slugs)} quizzes"
    )
    print(f"{'page':<18} {'median ms':>10} {'min ms':>8} {'queries':>8}  url")
    for name, url in pages:
        if not url:
            continue
        assert client.get(url).status_code == 200, url  # warm caches
        times = []
        for _ in range(repeat):
            with CaptureQueriesContext(connection) as ctx:
                start = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        print(
            f"{name:<18} {statistics.median(times):10.1f} {min(times):8.1f} "
            f"{len(ctx.captured_queries):8d}  {url}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--learners", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.repeat)
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
        "DJANGO_SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "PYTHONPATH": str(BASE),
    }
    py = sys.executable
    manage = [py, str(BASE / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, cwd=BASE, check=True)
    site = BASE / "site"
    loaded = subprocess.run(
        [*manage, "load_site", str(site)], env=env, cwd=BASE, capture_output=True
    )
    if loaded.returncode != 0:
        site = BASE / "tests" / "lessons" / "fixtures" / "site"
        subprocess.run(
            [*manage, "load_site", str(site)], env=env, cwd=BASE, check=True, capture_output=True
        )
    start = time.perf_counter()
    subprocess.run(
        [*manage, "seed_cohort", "--learners", str(args.learners)], env=env, cwd=BASE, check=True
    )
    print(f"seeded in {time.perf_counter() - start:.1f}s; site: {site.relative_to(BASE)}")
    subprocess.run(
        [py, __file__, "--measure", "--repeat", str(args.repeat)], env=env, cwd=BASE, check=True
    )


if __name__ == "__main__":
    main()
