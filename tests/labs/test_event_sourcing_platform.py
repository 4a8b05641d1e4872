"""The event-sourcing engine on the real lab platform: start a run, queue form-style commands,
advance slices through the driver (checkpoints in Redis) and read the streamed events."""

from __future__ import annotations

import json

import pytest

from labs import driver, services
from labs.engines import CommandError

pytestmark = pytest.mark.django_db


def platform_run(make_user, redis_client, lab: str, slug: str, commands: list[dict], slices: int):
    run = services.start_run(make_user(f"u-{lab}"), lab, slug, seed=3, enqueue=False)
    for _ in range(2):
        seq = driver.read_checkpoint(run.pk)["seq"]
        driver.advance_slice(run.pk, seq)
    for data in commands:
        services.enqueue_command(run, data)
    for _ in range(slices):
        seq = driver.read_checkpoint(run.pk)["seq"]
        assert driver.advance_slice(run.pk, seq) in ("advanced", "ended")
    entries = [json.loads(f["data"]) for _id, f in redis_client.xrange(driver.events_key(run.pk))]
    return run, entries


def test_race_through_the_platform(make_user, redis_client):
    form = {"type": "race_withdrawals", "account": "alice", "amount_a": "20", "amount_b": "30"}
    run, entries = platform_run(
        make_user, redis_client, "event-sourcing", "event-store-basics", [form], 3
    )
    text = json.dumps(entries)
    assert "concurrency_conflict" in text and "event_appended" in text
    with pytest.raises(CommandError):
        services.enqueue_command(run, {"type": "deposit", "account": "alice", "amount": "0"})
