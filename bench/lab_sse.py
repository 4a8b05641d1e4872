"""Delivery latency of a run's SSE stream to many clients on one uvicorn process.

    .venv/bin/python bench/lab_sse.py [--clients 500] [--events 30] [--rounds 1]

Starts its own Redis, a fresh SQLite database and one uvicorn process. Each round measures,
one after the other, the same way:

- baseline: N bare redis-py asyncio clients doing XREAD BLOCK on the run's stream;
- SSE: N streams of the run's events (`/labs/runs/<id>/events`) through uvicorn.

In both cases the N clients live in one separate client process (light raw asyncio sockets for
SSE: the request is written by hand and the chunked body parsed in place), and this process
publishes: XADDs of events carrying their send time, 100 ms apart. Latency is XADD → the client
process has the event (p50/p99 over every delivery); memory per connection is uvicorn's RSS
growth with N streams open, divided by N; server CPU is uvicorn's CPU time while publishing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def proc_status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def rss_kib(pid: int) -> int:
    return proc_status(pid, "VmRSS")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- client process (--role)


def _latency(payload: bytes, now: float, latencies: list[float]) -> bool:
    """Record one event's latency; True when it is the end event."""
    data = json.loads(payload)
    if data.get("type") == "end":
        return True
    if "sent" in data:
        latencies.append((now - data["sent"]) * 1000)
    return False


async def sse_clients(args) -> dict:
    """N raw-socket SSE clients: one GET each, the chunked body parsed by hand."""
    latencies: list[float] = []
    problems: list[str] = []
    connected = 0
    all_connected = asyncio.Event()
    request = (
        f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
        f"Cookie: sessionid={args.cookie}\r\nAccept: text/event-stream\r\n\r\n"
    ).encode()

    async def one() -> None:
        nonlocal connected
        reader, writer = await asyncio.open_connection(args.host, args.port)
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                problems.append(head.split(b"\r\n", 1)[0].decode())
                return
            raw, body, seen_first, finished = b"", b"", False, False
            while True:
                chunk = await reader.read(65536)
                now = time.time()
                if not chunk:
                    problems.append("closed by the server before the end event")
                    return
                raw += chunk
                while True:  # de-chunk (Transfer-Encoding: chunked)
                    eol = raw.find(b"\r\n")
                    if eol < 0:
                        break
                    size = int(raw[:eol].split(b";", 1)[0], 16)
                    if len(raw) < eol + 2 + size + 2:
                        break
                    body += raw[eol + 2 : eol + 2 + size]
                    raw = raw[eol + 2 + size + 2 :]
                    if size == 0:
                        finished = True
                        break
                *frames, body = body.split(b"\n\n")
                for frame in frames:
                    if not seen_first:  # the snapshot: this stream is open
                        seen_first = True
                        connected += 1
                        if connected == args.clients:
                            all_connected.set()
                        continue
                    for line in frame.split(b"\n"):
                        if line.startswith(b"data: "):
                            if b'"interrupted"' in line:
                                problems.append(line[6:200].decode())
                                return
                            if _latency(line[6:], now, latencies):
                                return
                if finished:
                    problems.append("stream ended before the end event")
                    return
        finally:
            writer.close()

    tasks = [asyncio.create_task(one()) for _ in range(args.clients)]
    done = asyncio.create_task(all_connected.wait())
    await asyncio.wait([done, *tasks], return_when=asyncio.FIRST_COMPLETED, timeout=180)
    print("READY" if all_connected.is_set() else f"FAILED {problems[:3]}", flush=True)
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 180)
    return {"latencies": latencies, "problems": problems}


async def xread_clients(args) -> dict:
    """N bare redis-py asyncio clients, each in its own XREAD BLOCK loop."""
    import redis.asyncio as aioredis

    latencies: list[float] = []
    clients = [
        aioredis.Redis.from_url(args.redis_url, decode_responses=True, socket_timeout=60)
        for _ in range(args.clients)
    ]
    waiting = 0
    all_waiting = asyncio.Event()

    async def one(client) -> None:
        nonlocal waiting
        last = (await client.xrevrange(args.key, count=1) or [("0-0", {})])[0][0]
        waiting += 1
        if waiting == args.clients:
            all_waiting.set()
        while True:
            reply = await client.xread({args.key: last}, block=30_000, count=500)
            now = time.time()
            for _s, entries in reply or []:
                for entry_id, fields in entries:
                    last = entry_id
                    if _latency(fields["data"], now, latencies):
                        return

    tasks = [asyncio.create_task(one(c)) for c in clients]
    await asyncio.wait_for(all_waiting.wait(), 120)
    await asyncio.sleep(0.5)  # every client is inside its XREAD BLOCK
    print("READY", flush=True)
    await asyncio.wait_for(asyncio.gather(*tasks), 180)
    for client in clients:
        await client.aclose()
    return {"latencies": latencies, "problems": []}


def _resp(buf: bytes, pos: int):
    """Parse one RESP2 value at `pos`: (value, next pos), or None when `buf` is incomplete."""
    eol = buf.find(b"\r\n", pos)
    if eol < 0:
        return None
    kind, line = buf[pos : pos + 1], buf[pos + 1 : eol]
    if kind == b"$":
        size = int(line)
        if size < 0:
            return None, eol + 2
        if len(buf) < eol + 2 + size + 2:
            return None
        return buf[eol + 2 : eol + 2 + size], eol + 2 + size + 2
    if kind == b"*":
        count, items, pos = int(line), [], eol + 2
        for _ in range(max(count, 0)):
            parsed = _resp(buf, pos)
            if parsed is None:
                return None
            item, pos = parsed
            items.append(item)
        return (items if count >= 0 else None), pos
    if kind == b"-":
        raise RuntimeError(line.decode())
    return line, eol + 2


def _command(*parts: str) -> bytes:
    out = [f"*{len(parts)}\r\n".encode()]
    for part in parts:
        data = part.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


async def resp_clients(args) -> dict:
    """N raw-socket XREAD BLOCK loops: RESP written and parsed by hand, as light as the SSE side."""
    host, port = args.redis_url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    latencies: list[float] = []

    async def one(ready: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        last, buf = "$", b""
        try:
            while True:
                writer.write(_command("XREAD", "BLOCK", "30000", "STREAMS", args.key, last))
                ready.set()
                while True:
                    chunk = await reader.read(65536)
                    now = time.time()
                    if not chunk:
                        return
                    buf += chunk
                    parsed = _resp(buf, 0)
                    if parsed is not None:
                        break
                reply, used = parsed
                buf = buf[used:]
                for _key, entries in reply or []:
                    for entry_id, fields in entries:
                        last = entry_id.decode()
                        if _latency(fields[fields.index(b"data") + 1], now, latencies):
                            return
        finally:
            writer.close()

    readies = [asyncio.Event() for _ in range(args.clients)]
    tasks = [asyncio.create_task(one(ready)) for ready in readies]
    for ready in readies:
        await asyncio.wait_for(ready.wait(), 120)
    await asyncio.sleep(0.5)  # every XREAD BLOCK has reached the server
    print("READY", flush=True)
    await asyncio.wait_for(asyncio.gather(*tasks), 180)
    return {"latencies": latencies, "problems": []}


ROLES = {"sse": sse_clients, "redis-py": xread_clients, "resp": resp_clients}


def client_main(args) -> None:
    role = ROLES[args.role]
    result = asyncio.run(role(args))
    print("RESULT " + json.dumps(result), flush=True)


# ---------------------------------------------------------------- orchestration


def publish(redis_url: str, key: str, events: int) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    for i in range(events):
        client.xadd(key, {"data": json.dumps({"type": "bench", "t": i, "sent": time.time()})})
        time.sleep(0.1)
    client.xadd(key, {"data": json.dumps({"type": "end", "t": events, "sent": time.time()})})
    client.close()


def measure(role: str, common: list[str], redis_url: str, key: str, events: int, pid: int):
    """Start the client process, wait until its N clients listen, publish, collect."""
    before = rss_kib(pid)
    child = subprocess.Popen(
        [sys.executable, __file__, "--role", role, *common],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline().strip()
        if line != "READY":
            raise SystemExit(f"{role} clients did not connect: {line}")
        time.sleep(0.5)
        rss_growth = rss_kib(pid) - before
        threads = proc_status(pid, "Threads")
        cpu_before = cpu_s(pid)
        publish(redis_url, key, events)
        out = child.stdout.read()
        child.wait(60)
    finally:
        if child.poll() is None:
            child.kill()
    cpu_used = cpu_s(pid) - cpu_before
    result = json.loads(out.split("RESULT ", 1)[1])
    return result["latencies"], result["problems"], rss_growth, cpu_used, threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--events", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--role", choices=sorted(ROLES), help=argparse.SUPPRESS)
    for hidden in ("--host", "--port", "--path", "--cookie", "--redis-url", "--key"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        client_main(args)
        return

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
    import httpx
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
    cookie = client.cookies["sessionid"].value
    key = driver.events_key(run.pk)
    path = f"/labs/runs/{run.pk}/events"
    rows = []
    try:
        for number in range(1, args.rounds + 1):
            port = processes.free_port()  # a fresh uvicorn per round: clean memory figures
            server = processes.start_uvicorn(
                {**os.environ, **env}, port, log_path=tmp / "uvicorn.log"
            )
            try:
                base = f"http://127.0.0.1:{port}"
                processes.wait_for_http(base + "/healthz", server)
                with httpx.stream(  # warm-up: imports and pools, so RSS growth is per stream
                    "GET", base + path, cookies={"sessionid": cookie}, timeout=10
                ) as response:
                    next(response.iter_lines())
                time.sleep(0.5)
                common = ["--clients", str(args.clients), "--host", "127.0.0.1"]
                common += ["--port", str(port), "--path", path, "--cookie", cookie]
                common += ["--redis-url", redis_url, "--key", key]
                row = {"round": number}
                for role in ("redis-py", "resp", "sse"):
                    row[role] = measure(role, common, redis_url, key, args.events, server.pid)
                rows.append(row)
            finally:
                processes.stop(server)
    finally:
        processes.stop(redis_process)
    report(rows, args)


def report(rows: list[dict], args) -> None:
    expected = args.clients * args.events
    print(f"{args.clients} clients × {args.events} events, one uvicorn process; the clients run in")
    print("a separate process from the publisher. Latency XADD → client process, ms.")
    print("  redis-py: bare redis-py asyncio XREAD BLOCK loops (the baseline of the brief)")
    print(
        "  resp:     raw-socket XREAD BLOCK loops, RESP parsed by hand (as light as the SSE client)"
    )
    print("  sse:      /labs/runs/<id>/events through uvicorn, raw-socket HTTP clients")
    head = f"{'round':>5} {'client':>8} {'p50':>7} {'p99':>7} {'deliveries':>17}"
    print(head + f" {'KiB/stream':>10} {'uvicorn CPU':>11} {'threads':>7}")
    for row in rows:
        for role in ("redis-py", "resp", "sse"):
            latencies, problems, growth, cpu, threads = row[role]
            line = f"{row['round']:>5} {role:>8} {statistics.median(latencies):>7.1f}"
            line += f" {pct(latencies, 99):>7.1f} {len(latencies):>8}/{expected}"
            if role == "sse":
                line += f" {growth / args.clients:>10.0f} {cpu:>10.2f}s {threads:>7}"
            print(line)
            if problems:
                print(f"      {len(problems)} streams had problems, e.g. {problems[0]}")
        s99 = pct(row["sse"][0], 99)
        print(
            f"      p99 ratio SSE / redis-py XREAD: {s99 / max(pct(row['redis-py'][0], 99), 0.001):.2f}"
            f", SSE / raw XREAD: {s99 / max(pct(row['resp'][0], 99), 0.001):.2f} (aim ≤ 2)"
        )


if __name__ == "__main__":
    main()
