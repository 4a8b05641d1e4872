from __future__ import annotations

import sys

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Validate the course files in site/ (or PATH); print every problem as path:LINE: message."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", default=None)
        parser.add_argument("--coverage", action="store_true", help="print the topic table")

    def handle(self, *args, **opts):
        from lessons.loader import check, coverage

        path = opts["path"] or str(settings.SITE_CONTENT_DIR)
        try:
            courses, problems = check(path)
        except Exception as exc:  # never a traceback: report and fail
            self.stderr.write(f"{path}:1: check_site failed: {exc!r}")
            sys.exit(1)
        for p in problems:
            self.stdout.write(str(p))
        failed = bool(problems)
        if opts["coverage"]:
            self.stdout.write(f"{'topic':<6} {'lessons':>7} {'questions':>9}")
            for topic, lessons, questions in coverage(courses):
                bad = lessons == 0 or questions < 2
                mark = "  <- needs a lesson and 2 questions" if bad else ""
                self.stdout.write(f"{topic:<6} {lessons:>7} {questions:>9}{mark}")
                failed = failed or bad
        if failed:
            self.stderr.write(f"{len(problems)} problem(s) found.")
            sys.exit(1)
        n = sum(len(c.lessons) for c in courses)
        self.stdout.write(self.style.SUCCESS(f"OK: {len(courses)} course(s), {n} lesson(s)."))
