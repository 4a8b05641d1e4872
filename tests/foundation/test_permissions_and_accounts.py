from __future__ import annotations

import pytest
from django.core import mail
from django.urls import URLPattern, URLResolver, get_resolver

from config.permissions import RULES


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            if entry.app_name == "admin":
                continue  # Django's admin enforces is_staff itself
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def test_every_view_declares_a_permission_rule():
    missing = [
        route
        for route, view in _walk(get_resolver().url_patterns)
        if getattr(view, "permission_rule", None) not in RULES
    ]
    assert not missing, f"views without @permission(...): {missing}"


@pytest.mark.django_db
def test_signup_with_bad_input_shows_errors_inline_and_keeps_what_was_typed(client):
    response = client.post(
        "/accounts/signup/",
        {"username": "ada", "email": "not-an-email", "password1": "abc", "password2": "abd"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Enter a valid email address." in html
    assert "The two password fields didn" in html
    assert 'value="ada"' in html


@pytest.mark.django_db
def test_signup_then_login_logout(client, django_user_model):
    response = client.post(
        "/accounts/signup/",
        {
            "username": "ada",
            "email": "ada@example.com",
            "password1": "Unusual-pass-4242",
            "password2": "Unusual-pass-4242",
        },
    )
    assert response.status_code == 302
    assert django_user_model.objects.get(username="ada").email == "ada@example.com"
    assert client.post("/accounts/logout/").status_code == 302
    assert client.login(username="ada", password="Unusual-pass-4242")


@pytest.mark.django_db
def test_password_reset_sends_a_working_link(client, make_user):
    make_user("ada")
    client.post("/accounts/password/reset/", {"email": "ada@example.com"})
    assert len(mail.outbox) == 1
    link = next(word for word in mail.outbox[0].body.split() if "/accounts/reset/" in word)
    path = link.split("testserver", 1)[-1] if "testserver" in link else link
    response = client.get(path, follow=True)
    assert b"Choose a new password" in response.content


@pytest.mark.django_db
def test_password_change_needs_login(client):
    response = client.get("/accounts/password/change/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.django_db
def test_activity_stream_needs_instructor(client, make_user):
    assert client.get("/events/activity").status_code == 302
    client.force_login(make_user("learner"))
    assert client.get("/events/activity").status_code == 403


@pytest.mark.django_db
def test_error_pages_use_the_site_layout(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"Page not found" in response.content and b"site-header" in response.content


@pytest.mark.django_db
def test_login_is_rate_limited_per_username(client, make_user, redis_client):
    from classroom.accounts import LOGIN_LIMIT_PER_USER

    make_user("ada")
    for _ in range(LOGIN_LIMIT_PER_USER):
        response = client.post("/accounts/login/", {"username": "ada", "password": "wrong"})
        assert response.status_code == 200
    response = client.post("/accounts/login/", {"username": "ada", "password": "pw-ada-1X"})
    assert response.status_code == 429
    assert b"Too many attempts" in response.content
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_signup_is_rate_limited_per_address(client, redis_client):
    from classroom.accounts import SIGNUP_LIMIT

    for number in range(SIGNUP_LIMIT):
        client.post("/accounts/signup/", {"username": f"u{number}", "email": "bad"})
    response = client.post("/accounts/signup/", {"username": "late", "email": "late@example.com"})
    assert response.status_code == 429
    assert b"Too many attempts" in response.content and b'value="late"' in response.content
