"""The API gateway visualiser in real Chromium, fed snapshots and events made by the engine.

The lab page is built elsewhere; this test serves the repository plus a generated harness page
(never written to disk) that imports static/labs/api-gateway.js, then replays the
load-balancing scenario second by second like the lab page does.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from labs.engines.gateway import GatewayEngine

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.browser

HARNESS = """<!doctype html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="/static/css/app.css">
<link rel="stylesheet" href="/static/labs/api-gateway.css"></head>
<body><div id="lab"></div><script type="module">
import { createVisualiser } from "/static/labs/api-gateway.js";
import data from "/__gateway_data.js";
const sent = [];
window.sentCommands = sent;
const vis = createVisualiser(document.getElementById("lab"),
  { sendCommand: async (cmd) => { sent.push(cmd); return { ok: true }; } });
window.step = (i) => { vis.render(data.snapshots[i]); for (const ev of data.events[i]) vis.event(ev); };
window.steps = data.snapshots.length;
document.body.dataset.ready = "1";
</script></body></html>"""


def replay() -> dict:
    scenario = yaml.safe_load(
        (ROOT / "site/microservices/labs/api-gateway/load-balancing.yaml").read_text()
    )["scenario"]
    engine = GatewayEngine.create(scenario, 0)
    commands = {
        3: {"type": "set_replica", "replica": "search_2", "state": "crash"},
        9: {"type": "set_strategy", "strategy": "least_conn"},
    }
    snapshots, events = [], []
    for second in range(1, 13):
        if second in commands:
            engine.apply(commands[second])
        events.append(engine.advance(second * 1000))
        snapshots.append(engine.snapshot())
    return {"snapshots": snapshots, "events": events}


class Handler(SimpleHTTPRequestHandler):
    data_js = b""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        generated = {
            "/__gateway.html": (HARNESS.encode(), "text/html"),
            "/__gateway_data.js": (self.data_js, "text/javascript"),
        }
        if self.path.split("?")[0] in generated:
            body, kind = generated[self.path.split("?")[0]]
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()


@pytest.fixture(scope="module")
def harness_url() -> Iterator[str]:
    Handler.data_js = ("export default " + json.dumps(replay()) + ";").encode()
    handler = functools.partial(Handler, directory=str(ROOT))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/__gateway.html"
    server.shutdown()
    server.server_close()


def test_a_crashed_replica_is_drawn_out_of_the_pool_and_strategies_compared(page, harness_url):
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(harness_url)
    page.wait_for_selector("body[data-ready='1']")
    page.evaluate("window.step(0)")
    assert page.locator(".gw-replica").count() == 4
    assert page.locator(".gw-replica.out").count() == 0
    assert "round robin" in page.locator(".gw-head").inner_text()
    # search_2 crashes at 2 s (before second 3); still in the pool after two failed probes
    page.evaluate("window.step(3)")
    sick = page.locator(".gw-replica.sick")
    assert sick.count() == 1 and "search_2" in sick.text_content()
    # the third failed probe (5 s) takes it out of the pool
    page.evaluate("window.step(4)")
    out = page.locator(".gw-replica.out")
    assert out.count() == 1 and "out (crash)" in out.text_content()
    assert page.locator(".gw-link.gw-cut").count() == 1
    assert "search_2 left the pool" in page.locator(".gw-log").inner_text()
    # after switching to least connections both strategies have a row of percentiles
    page.evaluate("for (let i = 7; i < window.steps; i++) window.step(i)")
    table = page.locator(".gw-latency table").inner_text()
    assert "round robin" in table and "least connections" in table
    assert page.locator(".gw-latency tr.current").inner_text().startswith("least connections")
    # clicking a replica asks the engine to crash it (or bring it back)
    page.locator(".gw-replica[data-replica=search_1]").click()
    page.locator(".gw-replica[data-replica=search_2]").click()
    assert page.evaluate("window.sentCommands") == [
        {"type": "set_replica", "replica": "search_1", "state": "crash"},
        {"type": "set_replica", "replica": "search_2", "state": "up"},
    ]
    assert not errors
