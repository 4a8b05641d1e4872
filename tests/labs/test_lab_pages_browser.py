"""Kafka and saga labs on the real lab page: uvicorn, a real Celery worker, real Chromium."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _start(page, asgi_server, login_as, user, url: str) -> None:
    login_as(page, user)
    page.goto(asgi_server + url)
    page.get_by_role("button", name="Start a run").click()
    page.wait_for_url(re.compile(r"\?run="))
    page.wait_for_selector("body[data-lab-ready]")


def test_stopping_the_leaders_broker_moves_leadership(
    asgi_server, celery_worker, page, login_as, make_user
):
    _start(page, asgi_server, login_as, make_user("kafka-learner"), "/labs/kafka/durability/")
    leader = page.locator('.kf-replica[data-role="leader"][data-partition="0"]').first
    expect(leader).to_be_attached(timeout=20_000)
    old_broker = leader.get_attribute("data-broker")

    form = page.locator('form[data-command="stop_broker"]')
    form.locator("input[name=broker]").fill(old_broker)
    form.get_by_role("button").click()
    expect(form.locator(".lab-command-result")).to_contain_text("Queued")
    page.wait_for_function(
        """old => {
          const el = document.querySelector('.kf-replica[data-role="leader"][data-partition="0"]');
          return el && el.getAttribute('data-broker') !== old;
        }""",
        arg=old_broker,
        timeout=30_000,
    )
    new_broker = leader.get_attribute("data-broker")
    assert new_broker != old_broker


def test_a_declined_payment_compensates_in_reverse_order(
    asgi_server, celery_worker, page, login_as, make_user
):
    # Record, in order, every step box that turns "compensated" in the saga diagram.
    page.add_init_script(
        """
        window.__compensated = [];
        window.__compensationBoxes = 0;  // most compensation boxes drawn compensated at once
        // The diagram is redrawn as well as updated, so scan after every change of any kind.
        // It follows the newest saga, so what it showed is recorded when it showed it.
        new MutationObserver(() => {
          for (const el of document.querySelectorAll('[data-step][data-status="compensated"]')) {
            if (!window.__compensated.includes(el.dataset.step)) {
              window.__compensated.push(el.dataset.step);
            }
          }
          window.__compensationBoxes = Math.max(window.__compensationBoxes,
            document.querySelectorAll("rect.comp.compensated").length);
        }).observe(document, {subtree: true, childList: true, attributes: true,
                              attributeFilter: ['data-status']});
        """
    )
    _start(page, asgi_server, login_as, make_user("saga-learner"), "/labs/saga/payment-declined/")
    form = page.locator('form[data-command="decline_next_payment"]')
    form.get_by_role("button").click()
    expect(form.locator(".lab-command-result")).to_contain_text("Queued")
    page.wait_for_function(
        "() => window.__compensated.includes('create_order')"
        " && window.__compensated.includes('reserve_stock')",
        timeout=40_000,
    )
    order = page.evaluate("() => window.__compensated")
    assert order.index("reserve_stock") < order.index("create_order"), order
    assert page.evaluate("() => window.__compensationBoxes") >= 1, "no compensation box drawn"


@pytest.mark.parametrize(
    "url",
    [
        "/labs/event-sourcing/event-store-basics/",
        "/labs/api-gateway/load-balancing/",
        "/labs/kubernetes/self-healing/",
    ],
)
def test_newer_labs_run_live_on_the_lab_page(
    asgi_server, celery_worker, page, login_as, make_user, url
):
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _start(page, asgi_server, login_as, make_user("lab-" + url.split("/")[2]), url)
    # The simulated clock advances and the visualiser draws something from the snapshots.
    expect(page.locator("[data-clock]")).not_to_have_text("t = 0.0 s", timeout=20_000)
    expect(
        page.locator("#lab-visual svg, #lab-visual table, #lab-visual .card").first
    ).to_be_attached(timeout=20_000)
    assert not errors, errors
