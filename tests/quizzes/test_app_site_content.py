"""Every quiz of the real site content can be taken, answered right, submitted and reviewed."""

from __future__ import annotations

import pytest

from quizzes import services, source
from quizzes.grading import correct_response, to_display
from quizzes.views import parse_post  # noqa: F401  (the form parser used by the pages)

pytestmark = pytest.mark.django_db


def _post_data(q: dict, shown) -> dict:
    t = q["type"]
    if t == "multiple":
        return {"answer": [str(i) for i in shown]}
    if t == "ordering":
        return {"order": [str(i) for i in shown]}
    if t == "matching":
        return {f"m-{k}": str(v) for k, v in shown.items()}
    if t == "truefalse":
        return {"answer": "true" if shown else "false"}
    return {"answer": str(shown)}


def test_every_site_quiz_round_trips(client, make_user, settings):
    settings.QUIZ_EXTRA_CONTENT_DIR = None
    quizzes = services.list_quizzes()
    if not quizzes:
        pytest.skip("no site content")
    user = make_user("reader")
    client.force_login(user)
    for quiz in quizzes:
        r = client.post(f"/quizzes/{quiz['slug']}/start/")
        assert r.status_code == 302 and "/attempt/" in r["Location"], quiz["slug"]
        url = r["Location"]
        page = client.get(url)
        assert page.status_code == 200
        attempt = user.quiz_attempts.get(quiz_slug=quiz["slug"])
        for qid in attempt.question_ids:
            q = source.get_question(qid)
            right = correct_response(q)
            if right is None:
                continue
            shown = to_display(q, right, attempt.seed, shuffle=quiz["shuffle"])
            save = client.post(f"{url}save/{qid}/", _post_data(q, shown), HTTP_HX_REQUEST="true")
            assert b"Saved" in save.content, (qid, save.content)
        client.post(f"{url}submit/")
        attempt.refresh_from_db()
        skipped = [
            r.qid
            for r in attempt.responses.all()
            if correct_response(source.get_question(r.qid)) is None
        ]
        wrong = [
            (r.qid, r.fraction)
            for r in attempt.responses.all()
            if r.fraction != 1.0 and r.qid not in skipped
        ]
        assert not wrong, (quiz["slug"], wrong)
        assert client.get(f"{url}review/").status_code == 200


def test_questions_come_from_the_lessons_models_when_loaded(settings, tmp_path):
    lessons = pytest.importorskip("lessons.models")
    if not hasattr(lessons, "BankQuestion"):
        pytest.skip("lessons.models.BankQuestion not there yet")
    settings.SITE_CONTENT_DIR = tmp_path  # nothing on disk: rows only
    settings.QUIZ_EXTRA_CONTENT_DIR = None
    course = lessons.Course.objects.create(slug="microservices", title="M")
    module = lessons.Module.objects.create(course=course, slug="basics", title="B")
    data = {
        "id": "db-q",
        "type": "truefalse",
        "text": "T?",
        "topics": ["T01"],
        "difficulty": "easy",
        "lesson": "intro#x",
        "answer": True,
        "feedback_true": "y",
        "feedback_false": "n",
        "explanation": "e",
    }
    lessons.BankQuestion.objects.create(
        qid="db-q",
        course=course,
        module=module,
        type="truefalse",
        data=data,
        topics=["T01"],
        difficulty="easy",
    )
    lessons.QuizSpec.objects.create(
        slug="db-quiz",
        course=course,
        module=module,
        data={"slug": "db-quiz", "title": "DB", "questions": ["db-q"]},
    )
    assert source.get_question("db-q")["_module"] == "basics"
    assert [q["id"] for q in source.questions_matching(module="basics")] == ["db-q"]
    assert source.get_quiz_spec("db-quiz")["title"] == "DB"
    assert source.lesson_url(source.get_question("db-q")) == "/courses/microservices/intro/#x"
