# ruff: noqa: F811  (pytest fixtures imported from app_fixtures)
"""import_gift / export_gift management commands."""

from __future__ import annotations

import io

import pytest
import yaml
from django.core.management import CommandError, call_command

from quizzes.bank import validate_bank
from quizzes.gift import parse_gift
from tests.quizzes.app_fixtures import test_bank  # noqa: F401

GIFT = """$CATEGORY: kafka

::acks::Which acks setting waits for all in-sync replicas? {
=all#Right.
~1#Only the leader.
~0#Nobody.
####acks=all waits for the ISR.
}

::isr::A follower that falls behind leaves the ISR. {TRUE#Yes.#No: it does.####Lagging replicas drop out.}

::parts::How many partitions does a topic with p0..p2 have? {#3####Three: p0, p1, p2.}
"""


def test_import_gift_writes_a_valid_bank(tmp_path):
    src = tmp_path / "kafka.gift.txt"
    src.write_text(GIFT, encoding="utf-8")
    out = io.StringIO()
    call_command(
        "import_gift",
        str(src),
        "--out",
        str(tmp_path / "bank"),
        "--prefix",
        "k-",
        "--topics",
        "T30",
        "--difficulty",
        "medium",
        "--lesson",
        "kafka#acks",
        stdout=out,
        stderr=io.StringIO(),
    )
    data = yaml.safe_load((tmp_path / "bank" / "kafka.questions.yaml").read_text())
    assert [q["id"] for q in data["questions"]] == ["k-acks", "k-isr", "k-parts"]
    assert [q["type"] for q in data["questions"]] == ["single", "truefalse", "numeric"]
    assert validate_bank(data) == []
    assert "wrote 3" in out.getvalue()
    with pytest.raises(CommandError, match="exists"):
        call_command("import_gift", str(src), "--out", str(tmp_path / "bank"))


def test_import_gift_reports_line_of_bad_input(tmp_path):
    src = tmp_path / "bad.gift"
    src.write_text("::x:: broken {\n=a\n", encoding="utf-8")
    with pytest.raises(CommandError, match=r"bad.gift:\d+"):
        call_command("import_gift", str(src), "--out", str(tmp_path))


def test_export_gift_round_trips(test_bank, tmp_path):
    target = tmp_path / "out.gift"
    err = io.StringIO()
    call_command("export_gift", "--module", "basics", "--out", str(target), stderr=err)
    questions = parse_gift(target.read_text(encoding="utf-8"))
    names = {q["name"] for q in questions}
    assert names == {"tq-single", "tq-tf", "tq-match", "tq-num", "tq-short"}
    assert "skipped tq-order" in err.getvalue()
    assert all(q["category"] == "basics" for q in questions)
    single = next(q for q in questions if q["name"] == "tq-single")
    assert [a["fraction"] for a in single["answers"]] == [1.0, 0.0, 0.0]
