"""Delivery latency of a run's SSE stream to many clients on one uvicorn process.

    .venv/bin/python bench/lab_sse.py [--clients 500] [--events 100] [--rounds 3]

Starts its own Redis, a fresh SQLite database and, per round, a fresh uvicorn process. Three
modes are measured in the same round, N clients each:

- redis-py: N bare redis-py asyncio clients in XREAD BLOCK loops (the baseline);
- resp: N raw-socket XREAD BLOCK loops parsing RESP by hand (a baseline as light as the SSE
  clients, so the client's own cost does not decide the comparison);
- sse: N streams of the run's events (`/labs/runs/<id>/events`) through uvicorn, read by raw
  asyncio sockets (the GET written by hand with the session cookie, the chunked body parsed in
  place).

Each mode's clients run in a process of their own; this process publishes: every 100 ms one
event per mode, each mode on its own stream, a third of the period apart in a rotating order,
so a burst of load from elsewhere on a shared machine hits the three modes alike. Each event
carries its send time: latency is XADD → the client process has it (p50/p99 over every
delivery). Memory per connection is uvicorn's RSS growth while the N streams open, divided by
N; CPU per delivery is uvicorn's CPU time while publishing over the SSE deliveries.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
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


MODES = ("redis-py", "resp", "sse")


def publish(redis_url: str, keys: dict[str, str], events: int) -> None:
    """Every 100 ms one event per mode, each to its own stream, a third of the period apart and
    in a rotating order: a burst of load on the shared machine hits every mode alike."""
    import redis

    client = redis.Redis.from_url(redis_url)
    order = list(MODES)
    for i in range(events):
        started = time.monotonic()
        for slot, mode in enumerate(order):
            time.sleep(max(0.0, started + slot * 0.1 / len(order) - time.monotonic()))
            data = json.dumps({"type": "bench", "t": i, "sent": time.time()})
            client.xadd(keys[mode], {"data": data})
        order = order[1:] + order[:1]
        time.sleep(max(0.0, started + 0.1 - time.monotonic()))
    for mode in MODES:
        client.xadd(keys[mode], {"data": json.dumps({"type": "end", "t": events})})
    client.close()


def start_clients(mode: str, common: list[str], key: str) -> subprocess.Popen:
    child = subprocess.Popen(
        [sys.executable, __file__, "--role", mode, *common, "--key", key],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = child.stdout.readline().strip()
    if line != "READY":
        child.kill()
        raise SystemExit(f"{mode} clients did not connect: {line}")
    return child


def measure(common: list[str], redis_url: str, keys: dict[str, str], events: int, pid: int):
    """Start the three client processes, wait until all listen, publish interleaved, collect."""
    children: dict[str, subprocess.Popen] = {}
    try:
        for mode in ("redis-py", "resp"):
            children[mode] = start_clients(mode, common, keys[mode])
        before = rss_kib(pid)
        children["sse"] = start_clients("sse", common, keys["sse"])
        time.sleep(0.5)
        rss_growth = rss_kib(pid) - before
        threads = proc_status(pid, "Threads")
        cpu_before = cpu_s(pid)
        publish(redis_url, keys, events)
        outputs = {mode: child.stdout.read() for mode, child in children.items()}
        cpu_used = cpu_s(pid) - cpu_before
    finally:
        for child in children.values():
            if child.poll() is None:
                child.kill()
    results = {}
    for mode, out in outputs.items():
        result = json.loads(out.split("RESULT ", 1)[1])
        results[mode] = (result["latencies"], result["problems"])
    return results, rss_growth, cpu_used, threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--role", choices=sorted(ROLES), help=argparse.SUPPRESS)
    for hidden in ("--host", "--port", "--path", "--cookie", "--redis-url", "--key"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        client_main(args)
        return

    from harness import isolated_django

    from config import processes

    tmp, redis_process = isolated_django("lab-sse-bench-")
    redis_url = os.environ["REDIS_URL"]
    import httpx
    from django.contrib.auth import get_user_model
    from django.test import Client

    from labs import driver, services
    from labs.models import LabRun

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
            server = processes.start_uvicorn(dict(os.environ), port, log_path=tmp / "uvicorn.log")
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
                common += ["--redis-url", redis_url]
                keys = {"sse": key, "redis-py": f"bench:{number}:redis-py"}
                keys["resp"] = f"bench:{number}:resp"
                results, growth, cpu, threads = measure(
                    common, redis_url, keys, args.events, server.pid
                )
                rows.append({"round": number, **results, "server": (growth, cpu, threads)})
            finally:
                processes.stop(server)
    finally:
        processes.stop(redis_process)
        shutil.rmtree(tmp, ignore_errors=True)
    report(rows, args)


def report(rows: list[dict], args) -> None:
    expected = args.clients * args.events
    print(
        f"{args.clients} clients × {args.events} events per mode, one uvicorn process. Each mode's"
    )
    print("clients run in a process of their own, the publisher in another; the three modes get")
    print("their events interleaved (each its own stream, 33 ms apart, rotating order), so load")
    print("from elsewhere hits them alike. Latency XADD → client process, ms.")
    print("  redis-py: bare redis-py asyncio XREAD BLOCK loops (the baseline of the brief)")
    print(
        "  resp:     raw-socket XREAD BLOCK loops, RESP parsed by hand (as light as the SSE client)"
    )
    print("  sse:      /labs/runs/<id>/events through uvicorn, raw-socket HTTP clients")
    print(f"{'round':>5} {'mode':>8} {'p50':>7} {'p99':>7} {'deliveries':>17}")
    for row in rows:
        for mode in MODES:
            latencies, problems = row[mode]
            line = f"{row['round']:>5} {mode:>8} {statistics.median(latencies):>7.1f}"
            print(line + f" {pct(latencies, 99):>7.1f} {len(latencies):>8}/{expected}")
            if problems:
                print(f"      {len(problems)} streams had problems, e.g. {problems[0]}")
        s99 = pct(row["sse"][0], 99)
        growth, cpu, threads = row["server"]
        print(
            f"      p99 ratio SSE / redis-py XREAD: {s99 / max(pct(row['redis-py'][0], 99), 0.001):.2f}"
            f", SSE / raw XREAD: {s99 / max(pct(row['resp'][0], 99), 0.001):.2f} (aim ≤ 2);"
            f" uvicorn: {growth / args.clients:.0f} KiB per stream, {threads} threads,"
            f" {cpu * 1e6 / max(1, len(row['sse'][0])):.0f} µs CPU per delivery"
        )


if __name__ == "__main__":
    main()
