"""The issue's scale: 500 learners × 40 lessons × 10 quizzes, seeded by seed_cohort; the
dashboard's query count equals the count for a 5-learner cohort of the same course."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from classroom.models import Cohort

pytestmark = pytest.mark.django_db


@pytest.fixture
def big_course(db):
    from lessons.models import BankQuestion, Course, LabScenario, Lesson, Module, QuizSpec

    course = Course.objects.create(slug="big", title="Big course")
    position = 0
    for m in range(10):
        module = Module.objects.create(course=course, slug=f"m{m}", title=f"M{m}", position=m)
        QuizSpec.objects.create(
            slug=f"quiz-{m}",
            course=course,
            module=module,
            data={
                "slug": f"quiz-{m}",
                "title": f"Quiz {m}",
                "draws": [{"count": 5, "module": f"m{m}"}],
            },
        )
        for q in range(8):
            BankQuestion.objects.create(
                qid=f"m{m}-q{q}",
                course=course,
                module=module,
                type="single",
                data={"id": f"m{m}-q{q}", "type": "single", "text": "?", "options": []},
                difficulty="easy",
                source_path=f"site/big/m{m}.yaml",
                source_line=q * 10 + 1,
            )
        for i in range(4):
            position += 1
            Lesson.objects.create(
                course=course,
                module=module,
                slug=f"l{m}-{i}",
                title=f"L{m}.{i}",
                position=position,
                quiz=f"quiz-{m}" if i == 3 else "",
                lab=f"breaker/s{m}" if i == 2 else "",
            )
        LabScenario.objects.create(
            lab="breaker", slug=f"s{m}", title="S", scenario={"objectives": ["a", "b", "c"]}
        )
    return course


def count(client, cohort) -> tuple:
    url = reverse("classroom:dashboard", args=[cohort.pk])
    client.get(url)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries), response


def test_500_learners_40_lessons_10_quizzes(client, big_course, django_assert_max_num_queries):
    call_command("seed_cohort", "--learners", "5", "--course", "big", "--name", "small")
    call_command("seed_cohort", "--learners", "500", "--course", "big", "--name", "large")
    small, large = Cohort.objects.get(name="small"), Cohort.objects.get(name="large")
    assert small.instructors.get() == large.instructors.get()
    client.force_login(large.instructors.get())
    n_small, _ = count(client, small)
    n_large, response = count(client, large)
    assert n_small == n_large
    board = response.context["board"]
    assert len(board.rows) == 500 and len(board.modules) == 10
    assert any(c.quiz is not None for r in board.rows for c in r.cells)
    assert any(c.objectives for r in board.rows for c in r.cells)
    with django_assert_max_num_queries(20):
        client.get(reverse("classroom:dashboard", args=[large.pk]))
