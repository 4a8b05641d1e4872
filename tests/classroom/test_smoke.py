import pytest
from django.urls import reverse

from tests.classroom.conftest import fill

pytestmark = pytest.mark.django_db


def test_pages_render(client, cohort, instructor, make_user):
    users = fill(cohort, make_user, 3)
    client.force_login(instructor)
    for url in [
        reverse("classroom:list"),
        reverse("classroom:dashboard", args=[cohort.pk]),
        reverse("classroom:manage", args=[cohort.pk]),
        reverse("classroom:learner", args=[cohort.pk, users[1].pk]),
        reverse("classroom:quiz_report", args=[cohort.pk, "quiz-0"]),
        reverse("classroom:lab_report", args=[cohort.pk]),
        reverse("classroom:live", args=[cohort.pk]),
        reverse("classroom:export", args=[cohort.pk, "gradebook"]),
        reverse("classroom:export", args=[cohort.pk, "responses"]),
        reverse("classroom:export", args=[cohort.pk, "xapi"]),
    ]:
        r = client.get(url)
        assert r.status_code == 200, url
