"""The SSE fan-out hub (config/sse_hub.py) on the real Redis.

Through uvicorn: many clients of one run are served by a single Redis reader connection and
each gets every event in order, including clients that resume from old ids while the reader is
live. In-process (a real hub on a real event loop and Redis): a subscriber too slow for its
bounded buffer is dropped and catches up by itself without gap or duplicate, heartbeats, `$`,
the reader closing when its last subscriber goes, and a Redis failure ending every subscriber
with `interrupted`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import time

import httpx
import pytest

from config import processes, sse_hub
from labs import driver, services
from labs.models import LabRun
from tests.integration.test_lab_stream import cookies_for, frames, paused_run, step

SUBSCRIBERS = 20


def xread_clients(redis_client) -> list[dict]:
    """Connections of the real Redis whose last command was XREAD (the hub's readers)."""
    return [c for c in redis_client.client_list() if c["cmd"] == "xread"]


def wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.1)


@pytest.mark.django_db(transaction=True)
def test_one_redis_reader_serves_every_subscriber_of_a_run(asgi_server, make_user, redis_client):
    owner = make_user("crowd")
    run = paused_run(owner)
    key = driver.events_key(run.pk)
    url = f"{asgi_server}/labs/runs/{run.pk}/events"
    wait_until(lambda: not xread_clients(redis_client))  # earlier tests' readers are gone
    before = len(redis_client.client_list())
    with (
        httpx.Client(cookies=cookies_for(owner), timeout=20) as http,
        contextlib.ExitStack() as stack,
    ):
        responses = []
        for _ in range(SUBSCRIBERS):
            response = stack.enter_context(http.stream("GET", url))
            assert frames(response, limit=1)[0]["event"] == "snapshot"
            responses.append(response)
        assert redis_client.xlen(key) == 0  # a fresh run: every entry from here on is live
        wait_until(lambda: len(xread_clients(redis_client)) == 1)
        time.sleep(0.3)
        assert len(xread_clients(redis_client)) == 1, "one XREAD reader for all subscribers"
        # the reader and at most a couple of pooled short-command connections, not one each
        assert len(redis_client.client_list()) - before <= 3

        step(run, 2)
        services.stop_run(LabRun.objects.get(pk=run.pk))
        expected = [i for i, _ in redis_client.xrange(key)]
        last_type = json.loads(redis_client.xrange(key)[-1][1]["data"])["type"]
        assert len(expected) >= 3 and last_type == "end"
        for response in responses:
            got = frames(response, limit=10_000, until="end")
            assert [f["id"] for f in got] == expected, "every event, in order, once"
            assert list(response._lab_lines) == []  # the server ended each stream
    wait_until(lambda: not xread_clients(redis_client))  # the reader left with the last client


@pytest.mark.django_db(transaction=True)
def test_resuming_subscribers_join_a_live_reader_without_gap_or_duplicate(
    asgi_server, make_user, redis_client
):
    owner = make_user("resumer")
    run = paused_run(owner)
    key = driver.events_key(run.pk)
    url = f"{asgi_server}/labs/runs/{run.pk}/events"
    step(run, 2)
    tail = redis_client.xrevrange(key, count=1)[0][0]
    with httpx.Client(cookies=cookies_for(owner), timeout=20) as http:
        with http.stream("GET", url) as live:  # starts the reader at the tail
            frames(live, limit=1)
            step(run, 2)  # the reader is now past every old id
            ids = [i for i, _ in redis_client.xrange(key)]
            middle = ids[len(ids) // 2]
            with (
                http.stream("GET", url, params={"last_id": "0-0"}) as from_start,
                http.stream("GET", url, headers={"Last-Event-ID": middle}) as from_middle,
            ):
                frames(from_start, limit=1)
                frames(from_middle, limit=1)
                step(run)
                services.stop_run(LabRun.objects.get(pk=run.pk))
                every = [i for i, _ in redis_client.xrange(key)]
                got_start = frames(from_start, limit=10_000, until="end")
                got_middle = frames(from_middle, limit=10_000, until="end")
            got_live = frames(live, limit=10_000, until="end")
    assert [f["id"] for f in got_start] == every
    assert [f["id"] for f in got_middle] == every[every.index(middle) + 1 :]
    assert [f["id"] for f in got_live] == every[every.index(tail) + 1 :]


# ------------------------------------------------------------------ in-process hub, real Redis


def is_end(name: str, _data) -> bool:
    return name == "end"


def in_loop(scenario):
    """Run `scenario(hub)` on a fresh event loop (so a fresh hub), closing its clients after.

    In a thread of its own: Playwright's sync API may already run a loop in this one."""

    async def main():
        hub = sse_hub.get_hub()
        try:
            return await asyncio.wait_for(scenario(hub), 60)
        finally:
            await hub.aclose()

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


def test_a_subscriber_too_slow_for_its_buffer_catches_up_without_gap(redis_client, monkeypatch):
    monkeypatch.setattr(sse_hub, "MAX_PENDING", 3)
    key = "test:hub:slow"
    published = 40

    async def scenario(hub):
        ids: list[str] = []
        done_publishing = asyncio.Event()
        got: dict[str, list[str]] = {"fast": [], "slow": []}

        async def consume(name: str) -> None:
            async for frame in sse_hub.subscribe(key, "0-0", is_terminal=is_end):
                if frame is sse_hub.HEARTBEAT:
                    continue
                got[name].append(frame.name)
                if name == "slow" and len(got[name]) == 1:
                    await done_publishing.wait()  # fall far behind the live feed

        consumers = [asyncio.create_task(consume(n)) for n in ("fast", "slow")]
        while len(hub.readers.get(key).subscribers if key in hub.readers else ()) < 2:
            await asyncio.sleep(0.01)
        client = hub.client()
        for i in range(published):
            ids.append(await client.xadd(key, {"data": json.dumps({"type": f"e{i}"})}))
            await asyncio.sleep(0.01)  # one XREAD batch per entry
        ids.append(await client.xadd(key, {"data": json.dumps({"type": "end"})}))
        done_publishing.set()
        await asyncio.gather(*consumers)
        return got, dict(hub.stats)

    got, stats = in_loop(scenario)
    names = [f"e{i}" for i in range(published)] + ["end"]
    assert got["fast"] == names
    assert got["slow"] == names, "dropped from the live feed, it read its gap itself"
    assert stats["dropped"] >= 1 and stats["catch_up_pages"] >= 1
    assert stats["readers"] == 1


def test_heartbeat_dollar_and_the_reader_closes_with_its_last_subscriber(redis_client):
    key = "test:hub:idle"
    old = redis_client.xadd(key, {"data": json.dumps({"type": "old"})})

    async def scenario(hub):
        hub.heartbeat_ms, hub.wake_ms = 200, 100
        stream = sse_hub.subscribe(key, "$")
        first = await anext(stream)  # nothing new: a heartbeat
        new = await hub.client().xadd(key, {"data": json.dumps({"type": "new"})})
        frame = await anext(stream)
        while frame is sse_hub.HEARTBEAT:
            frame = await anext(stream)
        during = len(xread_clients(redis_client))
        await stream.aclose()
        for _ in range(100):
            if not hub.readers and not xread_clients(redis_client):
                break
            await asyncio.sleep(0.02)
        return first, frame, new, during, dict(hub.readers), len(xread_clients(redis_client))

    first, frame, new, during, readers, after = in_loop(scenario)
    assert first == sse_hub.HEARTBEAT
    assert frame.name == "new" and frame.raw.startswith(f"id: {new}\nevent: new\n".encode())
    assert new != old and during == 1
    assert readers == {} and after == 0


def test_redis_failure_ends_every_subscriber_with_interrupted(redis_client, settings, tmp_path):
    redis_process, url = processes.start_redis(tmp_path / "redis")
    settings.REDIS_URL = url
    key = "test:hub:doomed"

    async def scenario(hub):
        streams = [sse_hub.subscribe(key, "$") for _ in range(5)]
        waits = [asyncio.create_task(anext(s)) for s in streams]
        while len(hub.readers[key].subscribers if key in hub.readers else ()) < 5:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        processes.stop(redis_process)
        frames = await asyncio.gather(*waits)
        ends = [await anext(s, None) for s in streams]
        return frames, ends

    try:
        got, ends = in_loop(scenario)
    finally:
        processes.stop(redis_process)
    assert [f.name for f in got] == ["interrupted"] * 5
    assert all("event stream lost" in f.data["reason"] for f in got)
    assert ends == [None] * 5, "each stream ends after `interrupted`"


def test_a_far_future_last_event_id_hides_nothing_from_other_subscribers(redis_client):
    key = "test:hub:future"
    redis_client.xadd(key, {"data": json.dumps({"type": "before"})})

    async def scenario(hub):
        future = sse_hub.subscribe(key, "99999999999999-0")  # first: it starts the reader
        waiting = asyncio.create_task(anext(future))
        while key not in hub.readers or hub.readers[key].position is None:
            await asyncio.sleep(0.01)
        other = sse_hub.subscribe(key, "$", is_terminal=is_end)
        first = asyncio.create_task(anext(other))
        await asyncio.sleep(0.1)
        new = await hub.client().xadd(key, {"data": json.dumps({"type": "end"})})
        got = await first
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
        await future.aclose()
        return got, new

    got, new = in_loop(scenario)
    assert got.name == "end" and got.raw.startswith(f"id: {new}\n".encode())
