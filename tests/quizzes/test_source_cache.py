"""quizzes.source caches the lessons-model rows; a row edited in place must show at once.

The cache's time limit (`DB_CACHE_SECONDS`) is raised to an hour here, so only the signature
(count, highest id, latest `updated_at`) can make an edit visible.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
from django.test import Client

from quizzes import services, source

FIXTURE_SITE = Path(__file__).parents[1] / "lessons" / "fixtures" / "site"


@pytest.fixture
def site(tmp_path, settings, monkeypatch):
    """A writable copy of the lessons fixture site, loaded into the database."""
    from lessons.loader import load

    target = tmp_path / "site"
    shutil.copytree(FIXTURE_SITE, target)
    settings.SITE_CONTENT_DIR = tmp_path / "nothing-on-disk"  # rows only
    settings.QUIZ_EXTRA_CONTENT_DIR = None
    monkeypatch.setattr(source, "DB_CACHE_SECONDS", 3600.0)
    source._db_cache.clear()
    problems, _ = load(target)
    assert problems == []
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.django_db
def test_a_question_saved_in_place_shows_on_the_next_read(site):
    from lessons.models import BankQuestion

    assert source.get_question("demo-q1")["text"] == "What is a widget?"
    row = BankQuestion.objects.get(qid="demo-q1")
    row.data = {**row.data, "text": "What is a widget, really?"}
    row.save()
    assert source.get_question("demo-q1")["text"] == "What is a widget, really?"
    # save(update_fields=...) too, which is how load_site writes a changed row
    row.data = {**row.data, "text": "Widgets: what are they?"}
    row.save(update_fields=["data"])
    assert source.get_question("demo-q1")["text"] == "Widgets: what are they?"


@pytest.mark.django_db
def test_load_site_edits_show_without_a_restart(site):
    assert source.get_question("demo-q1")["text"] == "What is a widget?"
    assert source.get_quiz_spec("demo-quiz")["title"] == "Demo check"
    from lessons.loader import load

    _edit(site / "demo" / "01-basics" / "questions.yaml", "What is a widget?", "Widget, what?")
    _edit(site / "demo" / "quizzes.yaml", "title: Demo check", "title: Demo check, edited")
    problems, stats = load(site)
    assert problems == [] and stats["updated"] == 2, stats
    assert source.get_question("demo-q1")["text"] == "Widget, what?"
    assert source.get_quiz_spec("demo-quiz")["title"] == "Demo check, edited"


@pytest.mark.django_db(transaction=True)
def test_the_running_server_sees_an_edit_at_once(asgi_server, redis_client, make_user, site):
    """uvicorn (its own process and cache) shows the edited question on the next request."""
    from lessons.models import BankQuestion, QuizSpec

    user = make_user("cache-reader")
    attempt = services.start_attempt(user, "demo-quiz")
    client = Client()
    client.force_login(user)
    cookies = {"sessionid": client.cookies["sessionid"].value}
    with httpx.Client(base_url=asgi_server, cookies=cookies, timeout=10) as http:
        page = http.get(f"/quizzes/attempt/{attempt.pk}/").text
        assert "What is a widget?" in page and "Demo check" in page
        row = BankQuestion.objects.get(qid="demo-q1")
        row.data = {**row.data, "text": "Edited in place: what is a widget?"}
        row.save(update_fields=["data"])
        spec = QuizSpec.objects.get(slug="demo-quiz")
        spec.data = {**spec.data, "title": "Retitled quiz"}
        spec.save(update_fields=["data"])
        page = http.get(f"/quizzes/attempt/{attempt.pk}/").text
    assert "Edited in place: what is a widget?" in page
    assert "Retitled quiz" in page


@pytest.mark.django_db
def test_one_request_looks_at_the_tables_once(site, django_assert_max_num_queries):
    """A page reading questions one by one (the attempt and review pages do) pays for the
    signature once per request, not once per question; the next request looks again."""
    from config import request_id
    from lessons.models import BankQuestion

    source.get_question("demo-q1")  # warm the cache
    with request_id.scope("request-one-0001"), django_assert_max_num_queries(2):
        for _ in range(40):
            assert source.get_question("demo-q1")["text"] == "What is a widget?"
    row = BankQuestion.objects.get(qid="demo-q1")
    row.data = {**row.data, "text": "Edited between requests"}
    row.save()
    with request_id.scope("request-two-0002"):
        assert source.get_question("demo-q1")["text"] == "Edited between requests"
