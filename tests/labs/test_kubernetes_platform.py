"""The Kubernetes engine on the real lab platform (driver, Redis checkpoints, form commands)."""

from __future__ import annotations

import json

import pytest

from labs import services
from labs.engines import CommandError
from tests.labs.test_event_sourcing_platform import platform_run

pytestmark = pytest.mark.django_db


def test_rolling_update_through_the_platform(make_user, redis_client):
    forms = [
        {"type": "set_strategy", "max_surge": "1", "max_unavailable": "0"},
        {"type": "set_image", "image": "web:1.1"},
    ]
    run, entries = platform_run(make_user, redis_client, "kubernetes", "rolling-update", forms, 20)
    text = json.dumps(entries)
    assert "rs_scaled" in text and "rollout_complete" in text
    with pytest.raises(CommandError):
        services.enqueue_command(run, {"type": "set_image", "image": "nginx:latest"})
