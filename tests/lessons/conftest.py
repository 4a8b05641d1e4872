import shutil
from pathlib import Path

import pytest

FIXTURE = Path(__file__).parent / "fixtures" / "site"


@pytest.fixture
def site(tmp_path) -> Path:
    """A writable copy of the fixture site; the course is at site / "demo"."""
    target = tmp_path / "site"
    shutil.copytree(FIXTURE, target)
    return target


@pytest.fixture
def loaded(db):
    from lessons.loader import load

    problems, _ = load(FIXTURE)
    assert problems == []
    from lessons.models import Course

    return Course.objects.get(slug="demo")
