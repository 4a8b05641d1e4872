from __future__ import annotations

import sys

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Check site/ (or PATH) and, when clean, load it into the database in one transaction."

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", default=None)

    def handle(self, *args, **opts):
        from lessons.loader import load

        path = opts["path"] or str(settings.SITE_CONTENT_DIR)
        try:
            problems, stats = load(path)
        except Exception as exc:  # never a traceback
            self.stderr.write(f"{path}:1: load_site failed: {exc!r}")
            sys.exit(1)
        for p in problems:
            self.stdout.write(str(p))
        if problems:
            self.stderr.write(f"{len(problems)} problem(s) found; nothing was loaded.")
            sys.exit(1)
        self.stdout.write(
            self.style.SUCCESS(
                "Loaded: {created} created, {updated} updated, {unpublished} unpublished.".format(
                    **stats
                )
            )
        )
