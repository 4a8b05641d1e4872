"""seed_cohort builds a realistic cohort; the dashboard renders in Chromium, light and dark."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from classroom import services
from classroom.models import Cohort

ARTIFACTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts"


@pytest.mark.django_db
def test_seed_cohort_makes_progress_attempts_and_runs(course, capsys):
    call_command("seed_cohort", "--learners", "40", "--course", "demo", "--seed", "3")
    cohort = Cohort.objects.get()
    assert cohort.memberships.count() == 40
    assert cohort.instructors.filter(username="seed-instructor").exists()
    board = services.dashboard(cohort)
    completions = [r.completion for r in board.rows]
    assert len(set(completions)) > 3, "learners progress at different rates"
    assert board.at_risk, "some learners drifted away"
    assert any(r.last_activity for r in board.rows)
    assert "lab runs" in capsys.readouterr().out


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_dashboard_in_chromium_light_and_dark(asgi_server, browser, login_as, course):
    call_command("seed_cohort", "--learners", "25", "--course", "demo")
    cohort = Cohort.objects.get()
    teacher = cohort.instructors.get()
    ARTIFACTS.mkdir(exist_ok=True)
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport={"width": 1300, "height": 1000}, color_scheme=scheme)
        page = context.new_page()
        login_as(page, teacher)
        page.goto(f"{asgi_server}/classroom/{cohort.pk}/")
        assert page.locator("table.heatmap tbody tr").count() == 25
        bar = page.locator("rect.chart-bar").first
        fill = bar.evaluate("el => getComputedStyle(el).fill")
        assert fill not in ("", "none", "rgb(0, 0, 0)")
        page.fill("#grid-q", "learner-0001")
        expect(page.locator("table.heatmap tbody tr")).to_have_count(1)
        page.screenshot(path=str(ARTIFACTS / f"classroom-dashboard-{scheme}.png"), full_page=True)
        context.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_live_page_shows_a_members_event(asgi_server, page, login_as, course, make_user):
    from classroom.models import Membership
    from config import events

    teacher = make_user("teacher", instructor=True)
    cohort = Cohort.objects.create(course=course, name="Live")
    cohort.instructors.add(teacher)
    member, outsider = make_user("member"), make_user("outsider")
    Membership.objects.create(cohort=cohort, user=member)
    login_as(page, teacher)
    page.goto(f"{asgi_server}/classroom/{cohort.pk}/live/")
    expect(page.locator("#live-status")).to_contain_text("Live")
    events.publish("lesson_completed", outsider.id, "outsider", title="Secret")
    events.publish("lesson_completed", member.id, "member", title="Sagas")
    item = page.locator("#live-feed li").first
    expect(item).to_contain_text("member")
    expect(item).to_contain_text("Sagas")
    expect(page.locator("#live-feed li")).to_have_count(1)
