"""Every engine takes only a plain integer seed (the contract's `create(scenario, seed)`)."""

from __future__ import annotations

import pytest

from labs.engines import ScenarioError, engine_slugs, get_engine


@pytest.mark.parametrize("slug", engine_slugs())
@pytest.mark.parametrize("seed", [True, False, "7", 7.0, None])
def test_a_seed_that_is_not_an_int_is_refused(slug, seed):
    with pytest.raises(ScenarioError, match="seed"):
        get_engine(slug).create(None, seed)


@pytest.mark.parametrize("slug", engine_slugs())
def test_an_int_seed_is_taken(slug):
    assert (
        get_engine(slug).create(None, 7).snapshot() == get_engine(slug).create(None, 7).snapshot()
    )
