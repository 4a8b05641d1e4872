"""In Chromium: read a lesson, jump through the table of contents, mark it complete and see the
course progress bar move."""

import pytest

from .conftest import FIXTURE

pytestmark = pytest.mark.django_db(transaction=True)


def test_read_jump_complete_and_progress_moves(asgi_server, page, login_as, make_user):
    from lessons.loader import load

    assert load(FIXTURE)[0] == []
    user = make_user("reader")
    login_as(page, user)

    page.goto(asgi_server + "/courses/demo/")
    bar = page.locator("#course-progress")
    assert bar.get_attribute("aria-valuenow") == "0"

    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.get_by_role("link", name="Introduction to widgets").first.click()
    page.wait_for_url("**/courses/demo/intro/")
    assert page.get_by_role("heading", name="Introduction to widgets", level=1).is_visible()
    page.locator("nav.toc").get_by_role("link", name="Second section").click()
    page.wait_for_url("**/courses/demo/intro/#second-section")
    assert page.locator("#second-section").is_visible()
    page.locator(".check-yourself .check-question").wait_for()  # the question loaded via htmx

    page.locator("pre.mermaid svg").wait_for()  # the vendored Mermaid drew the diagram
    assert page.locator(".highlight .copy-button").count() == 1
    page.get_by_role("button", name="Mark complete").click()
    page.get_by_text("Lesson complete").wait_for()
    page.wait_for_function(
        "document.querySelector('#course-progress').getAttribute('aria-valuenow') === '33'"
    )

    # Reading to the end of the next lesson completes it without a click (after 10 s on the page).
    page.get_by_role("link", name="Second lesson").first.click()
    page.wait_for_url("**/courses/demo/second/")
    page.locator("#lesson-end").scroll_into_view_if_needed()
    page.get_by_text("Lesson complete").wait_for(timeout=20_000)
    page.wait_for_function(
        "document.querySelector('#course-progress').getAttribute('aria-valuenow') === '67'"
    )
    assert errors == []
    page.goto(asgi_server + "/courses/demo/")
    assert page.locator("#course-progress").get_attribute("aria-valuenow") == "67"
    from lessons.models import LessonProgress

    done = LessonProgress.objects.filter(user=user, completed_at__isnull=False)
    assert sorted(done.values_list("lesson__slug", flat=True)) == ["intro", "second"]
