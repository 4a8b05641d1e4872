"""The saga visualiser in real Chromium, driven by the dev harness with engine-made data.

The lab page is built elsewhere; these tests load static/labs/dev/saga.html, which feeds the
visualiser snapshots and events recorded from the engine, over a tiny static file server.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEV = ROOT / "static/labs/dev"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def static_server(repo_file_server: str) -> str:
    return repo_file_server + "/static/labs/dev/saga.html"


def harness_data() -> dict:
    text = (DEV / "saga.data.js").read_text()
    return json.loads(text.removeprefix("export default ").rstrip().removesuffix(";"))


def test_harness_data_is_what_the_engine_produces_today() -> None:
    spec = importlib.util.spec_from_file_location("saga_dev", DEV / "saga.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fresh = module.replay("payment-declined", 8_000, [(50, {"type": "decline_next_payment"})])
    assert harness_data()["plays"]["declined"] == json.loads(json.dumps(fresh)), (
        "stale harness data: run .venv/bin/python static/labs/dev/saga.py"
    )


def test_a_declined_payment_shows_compensations_in_reverse_order(page, static_server) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{static_server}?play=declined&speed=1")
    status = "document.querySelector('rect[data-step=\"{}\"]')?.getAttribute('data-status')"
    # the failing pivot, while the earlier steps are still done
    page.wait_for_function(
        f"{status.format('charge_payment')} === 'failed' && {status.format('reserve_stock')} === 'done'"
    )
    assert page.locator(".saga-focus").get_attribute("data-saga") == "s-1"
    # the newest completed step is compensated first ...
    page.wait_for_function(
        f"{status.format('reserve_stock')} === 'compensated'"
        f" && {status.format('create_order')} === 'done'"
    )
    # ... then the one before it
    page.wait_for_function(f"{status.format('create_order')} === 'compensated'")
    assert page.locator(".saga-focus").get_attribute("data-saga") == "s-1"
    assert page.locator("rect.comp.compensated").count() == 2
    page.wait_for_function(
        "document.querySelector('.saga-focus .status')?.textContent === 'compensated'"
    )
    row = page.locator(".saga-card[data-service=order] tr", has_text="o-1")
    page.wait_for_function(
        "[...document.querySelectorAll('.saga-card[data-service=order] tr')]"
        ".some((tr) => tr.textContent.includes('o-1') && tr.textContent.includes('rejected'))"
    )
    assert "rejected" in row.inner_text()
    assert page.locator("line.msg[data-kind=release_stock]").count() >= 1
    assert not errors


def test_two_phase_commit_frame_shows_blocked_participants(page, static_server) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{static_server}?frame=tpc")
    page.wait_for_selector("body[data-ready='1']")
    panel = page.locator(".saga-tpc")
    assert "participants are in doubt, holding locks" in panel.inner_text()
    assert panel.locator("li.warn").count() >= 1  # a lock still held
    waiting = panel.locator("h4", has_text="Waiting for a lock").locator("xpath=..")
    assert waiting.locator("li").count() >= 1  # coordinator B's transactions queue behind it
    assert "Coord. A down" in page.locator(".saga-seq-svg").text_content()
    assert not errors


def test_refused_command_is_shown_to_the_learner(page, static_server) -> None:
    page.goto(f"{static_server}?frame=duplicates")
    page.wait_for_selector("body[data-ready='1']")
    page.locator(".saga-card[data-service=order] button", has_text="cancel").first.click()
    page.wait_for_selector(".saga-notice")
    assert page.locator(".saga-notice").inner_text().startswith("Refused:")
    assert page.evaluate("window.sentCommands[0].type") == "cancel_order"
