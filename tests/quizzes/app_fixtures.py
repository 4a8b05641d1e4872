"""Shared fixtures for the quiz app tests: a tiny test bank as the site content."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURE_SITE = Path(__file__).parent / "fixtures" / "site"


@pytest.fixture
def test_bank(settings):
    settings.SITE_CONTENT_DIR = FIXTURE_SITE
    settings.QUIZ_EXTRA_CONTENT_DIR = None
    settings.QUIZ_REVIEW_FUZZ = False
    return FIXTURE_SITE


@pytest.fixture
def learner(make_user, test_bank):
    return make_user("lena")
