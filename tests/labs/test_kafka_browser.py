"""The Kafka visualiser in real Chromium, driven by the dev harness with engine-made data.

The lab page is built elsewhere; these tests load static/labs/dev/kafka.html, which feeds the
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
def harness(repo_file_server: str) -> str:
    return repo_file_server + "/static/labs/dev/kafka.html"


def dev_module():
    spec = importlib.util.spec_from_file_location("kafka_dev", DEV / "kafka.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def harness_data() -> dict:
    text = (DEV / "kafka.data.js").read_text()
    return json.loads(text.removeprefix("export default ").rstrip().removesuffix(";"))


def test_harness_data_is_what_the_engine_produces_today() -> None:
    fresh = dev_module().replay_durability()
    assert harness_data()["plays"]["durability"] == json.loads(json.dumps(fresh)), (
        "stale harness data: run .venv/bin/python static/labs/dev/kafka.py"
    )


def test_stopping_the_leaders_broker_moves_leadership(page, harness) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    first = harness_data()["plays"]["durability"]["snapshots"][0]
    leader = first["topics"][0]["partitions"][0]["leader"]
    page.goto(f"{harness}?play=durability&speed=4")
    row = '.kf-replica[data-partition="0"][data-role="leader"]'
    page.wait_for_selector(f'{row}[data-broker="{leader}"]')
    # The harness crashes that broker at 15 s; the controller fences it 3 s later.
    page.wait_for_selector(f'.kf-broker.down[data-broker="{leader}"]')
    page.wait_for_function(
        f"[...document.querySelectorAll('{row}')].length === 1 && "
        f"document.querySelector('{row}').dataset.broker !== '{leader}'",
        timeout=15_000,
    )
    new_leader = page.locator(row).get_attribute("data-broker")
    assert new_leader != str(leader)
    log = page.locator(".kf-log")
    assert "acknowledged records lost" in log.inner_text()
    assert page.locator(".kf-counter.bad").count() >= 1  # lost acknowledged records
    assert not errors


def test_buttons_send_commands_and_show_the_refusal(page, harness) -> None:
    page.goto(f"{harness}?frame=rebalancing")
    page.wait_for_selector("body[data-ready='1']")
    page.locator('.kf-broker[data-broker="1"] button', has_text="crash").click()
    page.locator(".kf-group button", has_text="+ consumer").click()
    sent = page.evaluate("window.sentCommands")
    assert sent == [{"type": "stop_broker", "broker": 1}, {"type": "add_consumer", "group": "g1"}]
    assert "harness: no engine" in page.locator(".kf-notice").inner_text()
    # Each broker is a column; each hosts the replicas the engine placed on it.
    frame = harness_data()["frames"]["rebalancing"]
    for broker in frame["brokers"]:
        hosted = [p for p in frame["topics"][0]["partitions"] if broker["id"] in p["replicas"]]
        rows = page.locator(f'.kf-broker[data-broker="{broker["id"]}"] .kf-replica[data-role]')
        assert rows.count() == len(hosted)
