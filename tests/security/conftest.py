"""Shared fixtures for the security tests: real content, six people, objects owned by them."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from config.permissions import INSTRUCTOR_GROUP


@pytest.fixture(scope="package")
def world(django_db_setup, django_db_blocker):
    """Real content, people and objects owned by them, committed for the whole module."""
    from classroom.models import Cohort, Membership
    from labs import services as lab_services
    from labs.scenarios import list_scenarios
    from lessons.loader import load
    from lessons.models import BankQuestion, Course
    from quizzes import services as quiz_services

    with django_db_blocker.unblock():
        problems, _ = load(settings.SITE_CONTENT_DIR)
        assert problems == [], problems
        users = get_user_model().objects
        group, _ = Group.objects.get_or_create(name=INSTRUCTOR_GROUP)
        people = {
            "owner": users.create_user("mx-owner", "mx-owner@example.com", "pw-Owner-1X"),
            "other": users.create_user("mx-other", "mx-other@example.com", "pw-Other-1X"),
            "teacher": users.create_user("mx-teach", "mx-teach@example.com", "pw-Teach-1X"),
            "teacher2": users.create_user("mx-teach2", "mx-teach2@example.com", "pw-Teach-1X"),
            "staff": users.create_user("mx-staff", "mx-staff@example.com", "pw-Staff-1X"),
        }
        people["staff"].is_staff = True
        people["staff"].save()
        people["teacher"].groups.add(group)
        people["teacher2"].groups.add(group)

        course = Course.objects.filter(published=True).order_by("position").first()
        lesson = course.lessons.filter(published=True).order_by("position").first()
        question = BankQuestion.objects.filter(published=True).first()
        quiz = quiz_services.list_quizzes()[0]
        attempt = quiz_services.start_attempt(people["owner"], quiz["slug"])
        scenario = list_scenarios()[0]
        run = lab_services.start_run(
            people["owner"], scenario.lab, scenario.slug, seed=1, enqueue=False
        )
        cohort = Cohort.objects.create(course=course, name="Matrix cohort")
        cohort.instructors.add(people["teacher"])
        Membership.objects.create(cohort=cohort, user=people["owner"])
        asset = next(
            (
                p.relative_to(course.source_dir).as_posix()
                for p in sorted(Path(course.source_dir).rglob("*"))
                if p.suffix.lower() in {".svg", ".png", ".jpg", ".jpeg", ".gif", ".webp"}
            ),
            "missing.png",
        )
        values = {
            "lessons": {
                "course": course.slug,
                "slug": lesson.slug,
                "rel": asset,
                "qid": question.qid if question else "x",
            },
            "quizzes": {"pk": attempt.pk, "slug": quiz["slug"], "qid": attempt.question_ids[0]},
            "labs": {
                "run_id": run.pk,
                "action": "pause",
                "lab": scenario.lab,
                "scenario": scenario.slug,
            },
            "classroom": {
                "pk": cohort.pk,
                "cohort": cohort.pk,
                "cohort_id": cohort.pk,
                "cohort_pk": cohort.pk,
                "code": cohort.join_code,
                "join_code": cohort.join_code,
                "course": course.slug,
                "user_id": people["owner"].pk,
                "slug": quiz["slug"],
                "kind": "gradebook",
            },
        }
        try:
            yield {"people": people, "values": values}
        finally:
            for user in people.values():
                user.delete()
            Cohort.objects.filter(pk=cohort.pk).delete()
            Course.objects.all().delete()
