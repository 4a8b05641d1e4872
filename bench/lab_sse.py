"""Delivery latency of a run's SSE stream to many clients on one uvicorn process.

    .venv/bin/python bench/lab_sse.py [--clients 500] [--events 30]

Starts its own Redis, a fresh SQLite database and one uvicorn process, opens N streams of
one run's events (`/labs/runs/<id>/events`), XADDs events carrying their send time and
measures XADD → client latency (p50/p99) and uvicorn's memory per open connection. The
baseline, measured in the same run: N bare redis-py asyncio clients doing XREAD BLOCK on the
same stream.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def publish(redis_url: str, key: str, events: int, ready: asyncio.Event) -> None:
    import redis.asyncio as aioredis

    await ready.wait()
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    for i in range(events):
        data = json.dumps({"type": "bench", "t": i, "sent": time.time()})
        await client.xadd(key, {"data": data})
        await asyncio.sleep(0.1)
    await client.xadd(key, {"data": json.dumps({"type": "end", "t": events, "sent": time.time()})})
    await client.aclose()


async def run_sse(base, url, cookies, n, events, pid, redis_url, key):
    import httpx

    latencies: list[float] = []
    interrupted: list[str] = []
    connected = 0
    ready = asyncio.Event()
    limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=0)

    async def one(http) -> None:
        nonlocal connected
        async with http.stream("GET", url) as response:
            lines = response.aiter_lines()
            async for line in lines:
                if line == "":
                    break
                if line.startswith("data: ") and '"interrupted"' in line:
                    interrupted.append(line[6:200])
            connected += 1
            if connected == n:
                ready.set()
            async for line in lines:
                if line.startswith("data: "):
                    data = json.loads(line[6:])
                    if data["type"] == "end":
                        return
                    if "sent" not in data:  # an `interrupted` event: count it, stop
                        interrupted.append(str(data.get("reason")))
                        return
                    latencies.append((time.time() - data["sent"]) * 1000)
            short.append(time.time())
            statuses.append(response.status_code)

    short: list[float] = []
    statuses: list[int] = []
    async with httpx.AsyncClient(
        base_url=base, cookies=cookies, timeout=120, limits=limits
    ) as http:
        before = rss_kib(pid)
        tasks = [asyncio.create_task(one(http)) for _ in range(n)]
        await asyncio.wait_for(ready.wait(), 180)
        per_conn = (rss_kib(pid) - before) / n
        published = time.time()
        await publish(redis_url, key, events, ready)
        await asyncio.wait_for(asyncio.gather(*tasks), 120)
    if interrupted:
        print(f"{len(interrupted)} streams interrupted, e.g.: {interrupted[0]}")
    if short:
        print(
            f"{len(short)} streams closed by the server before the end event, "
            f"{min(short) - published:.1f}..{max(short) - published:.1f} s after publishing began,"
            f" statuses {sorted(set(statuses))}"
        )
    return latencies, per_conn


async def run_baseline(redis_url: str, key: str, n: int, events: int) -> list[float]:
    import redis.asyncio as aioredis

    latencies: list[float] = []
    clients = [
        aioredis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=60)
        for _ in range(n)
    ]
    ready = asyncio.Event()
    waiting = 0

    async def one(client) -> None:
        nonlocal waiting
        last = (await client.xrevrange(key, count=1) or [("0-0", {})])[0][0]
        waiting += 1
        if waiting == n:
            ready.set()
        while True:
            reply = await client.xread({key: last}, block=30_000, count=500)
            for _s, entries in reply or []:
                for entry_id, fields in entries:
                    last = entry_id
                    data = json.loads(fields["data"])
                    if data["type"] == "end":
                        return
                    latencies.append((time.time() - data["sent"]) * 1000)

    tasks = [asyncio.create_task(one(c)) for c in clients]
    await asyncio.wait_for(ready.wait(), 60)
    await asyncio.sleep(0.5)
    await publish(redis_url, key, events, ready)
    await asyncio.wait_for(asyncio.gather(*tasks), 120)
    for client in clients:
        await client.aclose()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--events", type=int, default=30)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="lab-sse-bench-"))
    from config import processes

    redis_process, redis_url = processes.start_redis(tmp / "redis")
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
        "REDIS_URL": redis_url,
        "DECOUPLED_VAR_DIR": str(tmp),
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from labs import driver, services
    from labs.models import LabRun

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", password="x-Long-pass-1")
    run = services.start_run(user, "circuit-breaker", "outage-and-recovery", enqueue=False)
    LabRun.objects.filter(pk=run.pk).update(status=LabRun.Status.PAUSED)
    client = Client()
    client.force_login(user)
    cookies = {"sessionid": client.cookies["sessionid"].value}
    port = processes.free_port()
    server = processes.start_uvicorn({**os.environ, **env}, port, log_path=tmp / "uvicorn.log")
    base = f"http://127.0.0.1:{port}"
    key = driver.events_key(run.pk)
    try:
        processes.wait_for_http(base + "/healthz", server)
        baseline = asyncio.run(run_baseline(redis_url, key, args.clients, args.events))
        sse, per_conn = asyncio.run(
            run_sse(
                base,
                f"/labs/runs/{run.pk}/events",
                cookies,
                args.clients,
                args.events,
                server.pid,
                redis_url,
                key,
            )
        )
    finally:
        processes.stop(server)
        processes.stop(redis_process)
    b50, b99 = statistics.median(baseline), pct(baseline, 99)
    s50, s99 = statistics.median(sse), pct(sse, 99)
    print(f"{args.clients} clients × {args.events} events, one uvicorn process")
    print(f"{'':24} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"{'bare redis-py XREAD':24} {b50:>8.1f} {b99:>8.1f}")
    print(f"{'SSE via uvicorn':24} {s50:>8.1f} {s99:>8.1f}")
    print(f"p99 ratio SSE / baseline: {s99 / max(b99, 0.001):.2f} (target ≤ 2)")
    print(f"uvicorn memory per open stream: {per_conn:.0f} KiB")
    print(
        f"deliveries: SSE {len(sse)}, baseline {len(baseline)} (expected {args.clients * args.events})"
    )


if __name__ == "__main__":
    main()
