"""manage.py export_gift [--module SLUG] [--out FILE]: bank questions as Moodle GIFT.

Questions GIFT cannot hold (ordering, regex short answers) are skipped with a note on stderr.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from quizzes import source
from quizzes.gift import bank_to_gift, export_gift


class Command(BaseCommand):
    help = "Export question-bank questions as Moodle GIFT."

    def add_arguments(self, parser):
        parser.add_argument("--module", help="only this module's questions (module slug)")
        parser.add_argument("--out", help="file to write (default: standard output)")

    def handle(self, *args, **opts):
        questions = source.questions_matching(module=opts["module"])
        if not questions:
            raise CommandError("no questions matched")
        gift: list[dict] = []
        for q in sorted(questions, key=lambda q: (q.get("_module") or "", q["id"])):
            try:
                gift.append(bank_to_gift(q, category=q.get("_module") or ""))
            except ValueError as exc:
                self.stderr.write(f"skipped {q['id']}: {exc}")
        text = export_gift(gift)
        if opts["out"]:
            Path(opts["out"]).write_text(text, encoding="utf-8")
            self.stderr.write(f"wrote {len(gift)} question(s) to {opts['out']}")
        else:
            self.stdout.write(text, ending="")
