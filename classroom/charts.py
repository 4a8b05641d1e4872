"""Server-rendered SVG charts. Colours are CSS classes (static/classroom/classroom.css) that use
the design tokens, so light and dark mode both work; each chart ships the table behind it."""

from __future__ import annotations

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe


def bar_chart(
    data: list[tuple[str, int | float]],
    title: str,
    unit: str = "",
    columns: tuple[str, str] = ("Band", "Learners"),
) -> SafeString:
    """A vertical bar chart of (label, value) with an accessible title and a visible table.

    The SVG is hidden from assistive technology; its data table is the accessible version and
    sits in a disclosure that is *open* by default, so a screen reader reaches it (table
    semantics intact) without a click; sighted users may fold it away. ``columns`` names the
    table's two header cells.
    """
    width, height, pad, base = 520, 200, 28, 30
    n = max(1, len(data))
    top = max([v for _, v in data] + [1])
    slot = (width - 2 * pad) / n
    bar_w = slot * 0.75
    parts = []
    for i, (label, value) in enumerate(data):
        h = (height - base - pad) * (value / top)
        x = pad + i * slot + (slot - bar_w) / 2
        y = height - base - h
        parts.append(
            f'<rect class="chart-bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
            f'height="{h:.1f}"><title>{escape(label)}: {value}{escape(unit)}</title></rect>'
        )
        if value:
            parts.append(
                f'<text class="chart-value" x="{x + bar_w / 2:.1f}" y="{y - 4:.1f}" '
                f'text-anchor="middle">{value}</text>'
            )
        parts.append(
            f'<text class="chart-label" x="{x + bar_w / 2:.1f}" y="{height - base + 14:.1f}" '
            f'text-anchor="middle">{escape(label.split("–")[0])}</text>'
        )
    axis = (
        f'<line class="chart-axis" x1="{pad}" y1="{height - base}" '
        f'x2="{width - pad}" y2="{height - base}"/>'
    )
    rows = "".join(
        format_html("<tr><th scope='row'>{}</th><td>{}{}</td></tr>", label, value, unit)
        for label, value in data
    )
    svg = (
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-hidden="true" '
        f'focusable="false">{axis}{"".join(parts)}</svg>'
    )
    table = (
        f'<details class="chart-data" open><summary>Data table</summary><table class="table">'
        f"<caption>{escape(title)}</caption><thead><tr><th scope='col'>{escape(columns[0])}</th>"
        f"<th scope='col'>{escape(columns[1])}</th></tr></thead><tbody>{rows}</tbody></table>"
        "</details>"
    )
    return mark_safe(
        f'<figure class="chart-figure"><figcaption>{escape(title)}</figcaption>'
        f"{svg}{table}</figure>"
    )


def heatmap_rows(rows, learner_base: str, now=None) -> SafeString:
    """The progress grid's body rows, built here rather than in the template language: at 500
    learners × 10 modules the template loop alone took ~350 ms; this takes a few."""
    from django.utils import timezone
    from django.utils.timesince import timesince

    now = now or timezone.now()
    out = []
    for r in rows:
        risk = ' <span class="pill bad">at risk</span>' if r.at_risk else ""
        cells = []
        for c in r.cells:
            text = "–" if c.completion is None else f"{c.completion}%"
            if c.quiz is not None:
                text += f'<span class="cell-quiz" title="best quiz score">Q {c.quiz:.0f}</span>'
            if c.objectives_total or c.objectives:
                text += (
                    f'<span class="cell-lab" title="lab objectives met">'
                    f"◎ {c.objectives}/{c.objectives_total}</span>"
                )
            cells.append(f'<td class="heat heat-{c.heat}">{text}</td>')
        overall = 0 if not r.completion else min(4, 1 + r.completion // 25)
        if r.last_activity:
            seen = (
                f'<time datetime="{r.last_activity.isoformat()}">'
                f"{escape(timesince(r.last_activity, now))} ago</time>"
            )
        else:
            seen = "never"
        quiz = "–" if r.quiz is None else f"{r.quiz:g}"
        tr_class = ' class="risk"' if r.at_risk else ""
        out.append(
            f"<tr{tr_class}>"
            f'<th scope="row"><a href="{escape(learner_base)}{r.user_id}/">{escape(r.name)}</a>'
            f"{risk}</th>"
            f'<td class="heat heat-{overall}">{r.completion}%</td>{"".join(cells)}'
            f"<td>{quiz}</td><td>{seen}</td></tr>"
        )
    if not out:
        out.append('<tr><td colspan="99" class="muted">No learners.</td></tr>')
    return mark_safe("\n".join(out))
