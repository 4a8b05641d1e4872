"""Each chart's data table is in the accessibility tree without a click (the SVG is hidden from
it): checked in Chromium through the roles a screen reader sees."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from classroom.charts import bar_chart
from tests.classroom.conftest import fill


def test_the_table_names_its_columns_and_is_not_folded():
    html = bar_chart([("0–9", 3), ("10–19", 1)], "Learners by completion", "", ("Band", "People"))
    assert '<details class="chart-data" open>' in html
    assert "<th scope='col'>Band</th><th scope='col'>People</th>" in html
    assert "<caption>Learners by completion</caption>" in html
    assert 'aria-hidden="true"' in html.split("<svg", 1)[1].split(">", 1)[0]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_chart_tables_are_reachable_by_role_without_a_click(
    asgi_server, page, login_as, cohort, instructor, make_user
):
    fill(cohort, make_user, 6)
    login_as(page, instructor)
    checks = [
        (f"/classroom/{cohort.pk}/", "Learners by course completion", "Completion (%)"),
        (
            f"/classroom/{cohort.pk}/quizzes/quiz-0/",
            "Scores on quiz-0 (first attempts)",
            "Score (%)",
        ),
        (f"/classroom/{cohort.pk}/labs/", "Completion rate per lab scenario (%)", "Scenario"),
    ]
    for path, name, first_column in checks:
        page.goto(f"{asgi_server}{path}")
        # get_by_role only finds what is exposed to assistive technology: a table inside a
        # closed <details> is not, so this fails unless the table is reachable at once.
        table = page.get_by_role("table", name=name)
        expect(table).to_be_visible()
        expect(table.get_by_role("columnheader").first).to_have_text(first_column)
        assert table.get_by_role("row").count() >= 2, path  # header row + data
        # the SVG itself stays out of the accessibility tree (the table replaces it)
        assert page.locator("svg.chart").get_attribute("aria-hidden") == "true"
        # sighted users can still fold the table away
        page.locator("details.chart-data summary").click()
        expect(table).to_be_hidden()
