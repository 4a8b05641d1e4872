"""Generate a realistic cohort for demos and the scale test.

    manage.py seed_cohort --learners 500 [--course microservices] [--instructor NAME] [--seed 1]

Each learner gets an ability and an engagement: engaged learners read further (in course
order), take each module's quiz once they have read most of it (score from an item-response
model, so the item statistics look real), and run the module's labs (more objectives met with
more ability). About one learner in seven drifted away weeks ago, so the at-risk list is not
empty. Everything is written with bulk_create: 500 learners take seconds.
"""

from __future__ import annotations

import contextlib
import math
import random
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from classroom import sources
from classroom.models import Cohort, Membership
from config.permissions import INSTRUCTOR_GROUP


@contextlib.contextmanager
def explicit_timestamps(*fields):
    """Let bulk_create keep our timestamps on auto_now_add fields."""
    saved = [(f, f.auto_now_add) for f in fields]
    for f in fields:
        f.auto_now_add = False
    try:
        yield
    finally:
        for f, value in saved:
            f.auto_now_add = value


class Command(BaseCommand):
    help = "Create a cohort of generated learners with progress, quiz attempts and lab runs."

    def add_arguments(self, parser):
        parser.add_argument("--learners", type=int, default=50)
        parser.add_argument("--course", default="", help="course slug (default: the first)")
        parser.add_argument("--instructor", default="seed-instructor")
        parser.add_argument("--name", default="")
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args, **opts):
        from lessons.models import Course

        if not 1 <= opts["learners"] <= 20000:
            raise CommandError("--learners must be between 1 and 20000")
        course = (
            Course.objects.filter(slug=opts["course"]).first()
            if opts["course"]
            else Course.objects.first()
        )
        if course is None:
            raise CommandError("No course: run `manage.py load_site site/` first.")
        rng = random.Random(opts["seed"])
        with transaction.atomic():
            cohort = self.seed(course, opts, rng)
        self.stdout.write(
            self.style.SUCCESS(
                f"Cohort {cohort.pk} “{cohort.name}”: {opts['learners']} learners "
                f"→ /classroom/{cohort.pk}/ (instructor: {opts['instructor']})"
            )
        )

    def seed(self, course, opts, rng):
        from labs.models import LabRun
        from lessons.models import LessonProgress
        from quizzes.models import Attempt, Response

        user_model = get_user_model()
        now = timezone.now()
        instructor, created = user_model.objects.get_or_create(username=opts["instructor"])
        if created:
            instructor.set_unusable_password()
            instructor.save()
        instructor.groups.add(Group.objects.get_or_create(name=INSTRUCTOR_GROUP)[0])
        n = opts["learners"]
        cohort = Cohort.objects.create(course=course, name=opts["name"] or f"Demo cohort ({n})")
        cohort.instructors.add(instructor)

        prefix = f"c{cohort.pk}-"
        first = ["Ada", "Ben", "Chen", "Dara", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo"]
        last = ["Okafor", "Silva", "Nguyen", "Smith", "Kowalski", "Haddad", "Tanaka", "Ruiz"]
        users = [
            user_model(
                username=f"{prefix}learner-{i:04d}",
                email=f"{prefix}learner-{i:04d}@example.com",
                first_name=rng.choice(first),
                last_name=rng.choice(last),
                password="!",
            )
            for i in range(n)
        ]
        user_model.objects.bulk_create(users, batch_size=500)
        users = list(user_model.objects.filter(username__startswith=prefix).order_by("username"))
        Membership.objects.bulk_create(
            [Membership(cohort=cohort, user=u) for u in users], batch_size=500
        )

        lessons = sources.lessons(course)
        quiz_module = sources.quiz_modules(course, lessons)
        lab_module = sources.lab_modules(lessons)
        objectives = sources.scenario_objectives()
        module_lessons: dict[int, list[int]] = {}
        for i, lesson in enumerate(lessons):
            module_lessons.setdefault(lesson["module_id"], []).append(i)
        pools = {slug: self.pool(slug) for slug in quiz_module}
        difficulty = {q: rng.uniform(-1.2, 1.2) for pool in pools.values() for q in pool}

        progress, attempts, runs, answers = [], [], [], []
        for user in users:
            drifted = rng.random() < 0.15
            ability = rng.gauss(0, 1)
            engagement = rng.uniform(0, 0.2) if drifted else rng.betavariate(2.5, 1.8)
            done = round(engagement * len(lessons))
            start = now - timedelta(days=rng.uniform(20, 45))
            last_day = rng.uniform(10, 30) if drifted else rng.uniform(0, 8)
            end = now - timedelta(days=last_day)
            span = max((end - start).total_seconds(), 3600)
            times = sorted(start + timedelta(seconds=rng.uniform(0, span)) for _ in range(done))
            finished_at = {}
            for i, at in enumerate(times):
                finished_at[i] = at
                progress.append(
                    LessonProgress(
                        user=user,
                        lesson_id=lessons[i]["id"],
                        started_at=at - timedelta(minutes=rng.uniform(5, 40)),
                        completed_at=at,
                        seconds_spent=rng.randint(240, 2400),
                    )
                )
            if done < len(lessons) and not drifted and rng.random() < 0.6:
                progress.append(
                    LessonProgress(user=user, lesson_id=lessons[done]["id"], started_at=end)
                )
            for slug, module_id in quiz_module.items():
                idx = module_lessons.get(module_id, [])
                read = [i for i in idx if i in finished_at]
                if not idx or len(read) < max(1, len(idx) // 2) or not pools[slug]:
                    continue
                taken = max(finished_at[i] for i in read) + timedelta(hours=rng.uniform(0, 30))
                taken = min(taken, now - timedelta(minutes=5))
                for number in range(1, 1 + (2 if rng.random() < 0.25 else 1)):
                    qids = rng.sample(pools[slug], min(10, len(pools[slug])))
                    marks = [
                        1.0
                        if rng.random() < 1 / (1 + math.exp(-1.7 * (ability - difficulty[q])))
                        else 0.0
                        for q in qids
                    ]
                    score = 100 * sum(marks) / len(marks)
                    at = taken + timedelta(days=number - 1)
                    attempt = Attempt(
                        user=user,
                        quiz_slug=slug,
                        number=number,
                        mode="practice",
                        started_at=at,
                        submitted_at=at + timedelta(minutes=rng.uniform(4, 20)),
                        state=Attempt.SUBMITTED,
                        question_ids=qids,
                        seed=f"seed-{rng.random():.8f}",
                        score=score,
                        passed=score >= 70,
                    )
                    attempts.append(attempt)
                    answers.append((attempt, qids, marks))
            for (lab, scenario), module_id in lab_module.items():
                idx = [i for i in module_lessons.get(module_id, []) if i in finished_at]
                if not idx or rng.random() < 0.2:
                    continue
                wanted = objectives.get((lab, scenario), [])
                chance = 1 / (1 + math.exp(-1.2 * (ability + 0.8)))
                met = [o for o in wanted if rng.random() < chance]
                at = finished_at[idx[-1]] + timedelta(minutes=rng.uniform(1, 60))
                runs.append(
                    LabRun(
                        owner=user,
                        lab=lab,
                        scenario_slug=scenario,
                        status=LabRun.Status.FINISHED,
                        created_at=at,
                        started_at=at,
                        finished_at=at + timedelta(minutes=rng.uniform(3, 25)),
                        objectives_met=met,
                        seed=rng.randint(1, 10**9),
                    )
                )
        created = LessonProgress._meta.get_field("started_at")
        run_created = LabRun._meta.get_field("created_at")
        with explicit_timestamps(created, run_created):
            LessonProgress.objects.bulk_create(progress, batch_size=2000)
            LabRun.objects.bulk_create(runs, batch_size=1000)
        Attempt.objects.bulk_create(attempts, batch_size=1000)
        saved = {
            (a.user_id, a.quiz_slug, a.number): a.pk
            for a in Attempt.objects.filter(user__in=users).only(
                "id", "user_id", "quiz_slug", "number"
            )
        }
        responses = []
        for attempt, qids, marks in answers:
            pk = saved[(attempt.user_id, attempt.quiz_slug, attempt.number)]
            for pos, (qid, mark) in enumerate(zip(qids, marks, strict=True)):
                responses.append(
                    Response(
                        attempt_id=pk,
                        qid=qid,
                        position=pos,
                        response=[0 if mark else 1],
                        fraction=mark,
                        finished=True,
                        tries=1,
                    )
                )
        Response.objects.bulk_create(responses, batch_size=2000)
        self.stdout.write(
            f"{len(progress)} lesson progress rows, {len(attempts)} attempts, "
            f"{len(responses)} responses, {len(runs)} lab runs"
        )
        return cohort

    def pool(self, slug: str) -> list[str]:
        """The question ids a quiz can deal: its fixed questions plus its draws' pools."""
        from quizzes import source

        spec = sources.quiz_spec(slug)
        if not spec:
            return []
        ids = [q for q in spec.get("questions", []) if source.get_question(q)]
        for draw in spec.get("draws", []):
            for q in source.questions_matching(
                module=draw.get("module"),
                topics=draw.get("topics"),
                difficulty=draw.get("difficulty"),
            ):
                if q["id"] not in ids:
                    ids.append(q["id"])
        return ids
