"""Tick lag of N concurrent lab runs on one Celery worker with two processes.

    .venv/bin/python bench/lab_ticks.py [--runs 50 100 200] [--seconds 20]

Starts its own Redis, a fresh SQLite database and `celery worker --pool=prefork
--concurrency=2`, then starts N breaker runs at speed 1 and samples every run's checkpoint once
a second. Lag = wall time since the run started × speed − the simulated time reached (ms). The
first slice waits for the queue like any other, so lag includes queueing. Printed beside a
baseline of a single run measured in the same invocation.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[50, 100, 200])
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()

    from harness import isolated_django

    from config import processes

    tmp, redis_process = isolated_django("lab-bench-")
    from django.contrib.auth import get_user_model

    worker = processes._spawn(
        [
            processes.python(),
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=prefork",
            "--concurrency=2",
            "--loglevel=WARNING",
            "-B",
            "--schedule",
            str(tmp / "beat"),
        ],
        dict(os.environ),
        tmp / "worker.log",
    )
    try:
        from config.celery import app

        deadline = time.monotonic() + 30
        while not app.control.ping(timeout=0.5):
            if time.monotonic() > deadline:
                raise SystemExit("the worker did not start; see " + str(tmp / "worker.log"))
        results = {}
        for n in [1, *args.runs]:
            results[n] = measure(n, args.seconds, get_user_model())
        base = results[1]
        print(
            f"\ntick lag over {args.seconds} s (ms; baseline = 1 run: p50 {base[0]:.0f}, "
            f"p95 {base[1]:.0f})"
        )
        print(f"{'runs':>6} {'p50':>8} {'p95':>8} {'p95/base':>9} {'target p95<250':>15}")
        for n in args.runs:
            p50, p95 = results[n]
            ok = "yes" if p95 < 250 else "no"
            print(f"{n:>6} {p50:>8.0f} {p95:>8.0f} {p95 / max(base[1], 1):>9.2f} {ok:>15}")
    finally:
        processes.stop(worker)
        processes.stop(redis_process)


def measure(n: int, seconds: int, user_model) -> tuple[float, float]:
    from labs import driver, services
    from labs.models import LabRun

    LabRun.objects.filter(status__in=LabRun.ACTIVE).update(status=LabRun.Status.FINISHED)
    runs, started = [], {}
    for i in range(n):
        user, _ = user_model.objects.get_or_create(username=f"bench-{n}-{i}")
        run = services.start_run(user, "circuit-breaker", "outage-and-recovery", seed=i)
        runs.append(run)
        started[run.pk] = time.time()
    lags: list[float] = []
    lateness: list[float] = []  # how long after its due time each sampled slice was computed
    sim_start = sum(driver.read_checkpoint(run.pk)["sim_ms"] for run in runs)
    end = time.time() + seconds
    while time.time() < end:
        time.sleep(1)
        now = time.time()
        for run in runs:
            checkpoint = driver.read_checkpoint(run.pk)
            if checkpoint and now - started[run.pk] > 3:  # skip the start-up transient
                # a slice is computed ahead, so an on-time run is never behind: lag >= 0
                lags.append(max(0.0, (now - started[run.pk]) * 1000 - checkpoint["sim_ms"]))
                late = checkpoint["at"] - (checkpoint["due"] - driver.SLICE_WALL_S)
                lateness.append(max(0.0, late * 1000))
    simulated = sum(driver.read_checkpoint(run.pk)["sim_ms"] for run in runs) - sim_start
    for run in runs:
        services.stop_run(LabRun.objects.get(pk=run.pk))
    p50, p95 = statistics.median(lags), percentile(lags, 95)
    late50, late95 = statistics.median(lateness), percentile(lateness, 95)
    print(
        f"{n:>4} runs: lag p50 {p50:.0f} ms, p95 {p95:.0f} ms ({len(lags)} samples); "
        f"slice lateness p50 {late50:.0f} ms, p95 {late95:.0f} ms; "
        f"{simulated / 1000 / seconds:.0f} simulated s per wall s",
        flush=True,
    )
    return p50, p95


if __name__ == "__main__":
    main()
