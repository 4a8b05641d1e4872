"""Rendering and the sanitiser: scripts, event handlers and javascript: URLs never survive."""

import re

import pytest

from lessons.rendering import render, sanitise

ATTACKS = """
## Heading

<script>alert(1)</script>
<img src="x.png" onerror="alert(2)">
<a href="javascript:alert(3)">click</a>
<a href="JaVaScRiPt:alert(4)">click</a>
<a href=" javascript:alert(5)" onclick="alert(6)">click</a>
<div onmouseover="alert(7)">hover</div>
<svg onload="alert(8)"><script>alert(9)</script></svg>
<iframe src="https://evil.example"></iframe>
<style>body { display: none }</style>
[md link](javascript:alert(10))
![md image](javascript:alert(11))
<form action="/x"><input name="a"></form>
"""


def _assert_clean(html: str) -> None:
    low = html.lower()
    assert "<script" not in low
    assert "javascript:" not in low
    assert not re.search(r"\son[a-z]+\s*=", low)
    assert "<iframe" not in low and "<style" not in low and "<form" not in low


def test_render_removes_scripts_handlers_and_javascript_urls():
    _assert_clean(render(ATTACKS).html)


@pytest.mark.parametrize("fragment", ATTACKS.strip().splitlines())
def test_each_attack_alone(fragment):
    _assert_clean(render(fragment).html)
    if fragment.startswith("<"):
        _assert_clean(sanitise(fragment))


def test_sanitiser_keeps_highlighting_anchors_tables_admonitions_footnotes():
    r = render(
        "## A title {#custom}\n\n```go\nfunc main() {}\n```\n\n| a |\n|---|\n| 1 |\n\n"
        '!!! warning "Careful"\n    Body.\n\nText[^n]\n\n[^n]: Note.\n\n'
        "Term\n:   Definition\n\n![svg](pic.svg)\n"
    )
    html = r.html
    assert '<h2 id="custom">' in html and r.toc[0]["id"] == "custom"
    assert '<div class="highlight">' in html and '<span class="kd">func</span>' in html
    assert "<table>" in html and '<div class="admonition warning">' in html
    assert 'class="footnote-ref"' in html and '<li id="fn:n">' in html
    assert "<dl>" in html and '<img alt="svg" src="pic.svg"' in html


def test_code_in_lesson_is_shown_escaped_not_executed():
    html = render("```html\n<script>alert(1)</script>\n```\n").html
    assert "<script" not in html and "&lt;" in html


def test_check_marker_and_mermaid_placeholders():
    r = render("Intro\n\n[[check: q-1]]\n\n```mermaid\ngraph TD; A-->B\n```\n")
    assert r.checks == ["q-1"] and r.has_mermaid
    assert 'class="check-yourself" data-check="q-1"' in r.html
    assert '<pre class="mermaid">graph TD; A--&gt;B</pre>' in r.html


def test_stable_anchors():
    r = render("## Common mistakes!\n\n### Why, though?\n")
    assert [t["id"] for t in r.toc] == ["common-mistakes", "why-though"]
