"""manage.py import_gift FILE --out DIR: Moodle GIFT questions as a question-bank YAML file.

Content lives in files (docs/authoring.md), so the import writes ``DIR/<name>.questions.yaml``
for review and commit rather than rows; `load_site` then loads it like any other bank. GIFT
has no topics, difficulty or lesson: give them with --topics/--difficulty/--lesson, or fill
them in afterwards (the problems still missing are listed).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from django.core.management.base import BaseCommand, CommandError

from quizzes.bank import validate_question
from quizzes.gift import GiftError, gift_to_bank, parse_gift


class Command(BaseCommand):
    help = "Import Moodle GIFT questions into a question-bank YAML file."

    def add_arguments(self, parser):
        parser.add_argument("file", help="GIFT file (UTF-8)")
        parser.add_argument("--out", required=True, help="directory to write the bank file into")
        parser.add_argument("--name", help="bank file name without extension (default: FILE's)")
        parser.add_argument("--prefix", default="", help="prefix for question ids, e.g. 'kafka-'")
        parser.add_argument("--topics", default="", help="comma-separated topic ids, e.g. T30,T31")
        parser.add_argument("--difficulty", choices=["easy", "medium", "hard"])
        parser.add_argument("--lesson", help="lesson-slug#section-anchor for every question")
        parser.add_argument("--force", action="store_true", help="overwrite an existing file")

    def handle(self, *args, **opts):
        path = Path(opts["file"])
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc}") from exc
        try:
            questions = parse_gift(text)
        except GiftError as exc:
            raise CommandError(f"{path}:{exc.line}: {exc}") from exc
        extra: dict = {}
        if opts["topics"]:
            extra["topics"] = [t.strip() for t in opts["topics"].split(",") if t.strip()]
        if opts["difficulty"]:
            extra["difficulty"] = opts["difficulty"]
        if opts["lesson"]:
            extra["lesson"] = opts["lesson"]
        bank: list[dict] = []
        ids: set[str] = set()
        for i, q in enumerate(questions, 1):
            try:
                b = gift_to_bank(q, **extra)
            except ValueError as exc:
                self.stderr.write(f"skipped question {i} ({q.get('name', '')!r}): {exc}")
                continue
            qid = re.sub(r"[^a-z0-9_.-]+", "-", f"{opts['prefix']}{b['id']}".lower()).strip("-")
            base, n = qid or "question", 1
            while qid in ids or not qid:
                n += 1
                qid = f"{base}-{n}"
            ids.add(qid)
            b["id"] = qid
            for problem in validate_question(b):
                self.stderr.write(f"{qid}: {problem}")
            bank.append(b)
        out_dir = Path(opts["out"])
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / f"{opts['name'] or path.stem.split('.')[0]}.questions.yaml"
        if target.exists() and not opts["force"]:
            raise CommandError(f"{target} exists; use --force to overwrite")
        target.write_text(
            yaml.safe_dump({"questions": bank}, sort_keys=False, allow_unicode=True, width=100),
            encoding="utf-8",
        )
        self.stdout.write(f"wrote {len(bank)} question(s) to {target}")
