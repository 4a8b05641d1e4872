"""The lab page in real Chromium against uvicorn and a real Celery worker."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from labs.models import LabRun

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
URL = "/labs/circuit-breaker/outage-and-recovery/"


def test_outage_opens_the_breaker_live(asgi_server, celery_worker, page, login_as, make_user):
    user = make_user("browser-learner")
    login_as(page, user)
    page.goto(asgi_server + URL)
    expect(page.get_by_text("Before you press start, predict")).to_be_visible()
    page.get_by_role("button", name="Start a run").click()
    page.wait_for_url(re.compile(r"\?run="))
    page.wait_for_selector("body[data-lab-ready]")
    run = LabRun.objects.get(owner=user)
    expect(page.locator("#lab-visual")).to_have_attribute("data-state", "CLOSED", timeout=15_000)

    form = page.locator('form[data-command="start_outage"]')
    form.locator("select[name=mode]").select_option("error")
    form.get_by_role("button", name="Start an outage").click()
    expect(form.locator(".lab-command-result")).to_contain_text("Queued")
    expect(page.locator('#lab-visual[data-state="OPEN"]')).to_be_attached(timeout=20_000)
    expect(page.locator('[data-objective="breaker_opens"]')).to_have_attribute(
        "data-met", "true", timeout=15_000
    )
    page.locator("[data-log-type]").select_option("command_applied")
    expect(page.locator("#lab-log li:not([hidden])").first).to_contain_text("start_outage")

    # An invalid value gets its reason next to the control, not a silent failure.
    rps = page.locator('form[data-command="set_rps"]')
    rps.locator("input[name=value]").evaluate(
        "el => { el.removeAttribute('max'); el.value = 9999 }"
    )
    rps.get_by_role("button").click()
    expect(rps.locator(".lab-command-error")).to_contain_text("500")

    page.get_by_role("button", name="Stop").click()
    expect(page.locator("#lab-banner")).to_contain_text("finished", timeout=15_000)
    run.refresh_from_db()
    assert run.status == LabRun.Status.FINISHED

    # The replay recomputes the run and plays it in the same page, outage and all.
    page.get_by_role("link", name="Replay this run").click()
    page.wait_for_url(f"**/labs/runs/{run.pk}/replay")
    page.locator("[data-replay-speed]").select_option("10.0")
    expect(page.locator('#lab-visual[data-state="OPEN"]')).to_be_attached(timeout=20_000)


def test_anonymous_sees_brief_and_log_in(asgi_server, page):
    page.goto(asgi_server + URL)
    expect(page.get_by_text("Before you press start, predict")).to_be_visible()
    expect(page.get_by_role("link", name="Log in to start this lab")).to_be_visible()
