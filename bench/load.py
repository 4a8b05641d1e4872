"""End-to-end load run: N simulated learners for S seconds against a server this script starts.

    .venv/bin/python bench/load.py [--users 200] [--seconds 60] [--spawn-rate 20]
                                   [--web-workers 2] [--sqlite] [--debug]

One command reproduces the run in bench/README.md:

1. `.venv-bench` with locust (created when missing; locust stays out of pyproject.toml);
2. its own Redis (`config.processes.start_redis`) and a fresh database: a new PostgreSQL
   database `decoupled_load_<pid>` on the machine's server at 127.0.0.1:5432 (trust auth, user
   postgres) when it answers, dropped at the end; otherwise a SQLite file (the output says
   which);
3. `migrate`, `load_site`, a Celery worker with beat (threads pool, as `make run`) and uvicorn
   with `--web-workers` processes (default 2, see below), configured as production:
   DJANGO_DEBUG=0, a random secret key, JSON logs, secure cookies, HTTPS redirect and HSTS on
   (locust plays the TLS proxy, see bench/locustfile.py); `--debug` runs as `make run` instead;
4. locust headless with `bench/locustfile.py`, `--csv` into the run folder
   (`var/load-<pid>/`, also holding every process's log);
5. the percentile table and the failure count, then the server-side errors found in the logs;
   exit code 1 when any request failed (or the logs hold a traceback), 0 otherwise.

Everything it started is stopped (SIGTERM to each process group, then SIGKILL) and the database
is dropped, also on Ctrl-C.

Why 2 uvicorn workers by default: each request runs in its own thread, but a process executes
Python on one core at a time (the GIL), so one process uses one core. Two processes use both
cores of this machine; more would only compete for the same two cores with locust, the worker,
Redis and PostgreSQL. The SSE streams are async and cost no CPU while they wait.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config import processes  # noqa: E402  (needs ROOT on sys.path)

BENCH_VENV = ROOT / ".venv-bench"
LOCUST_SPEC = "locust>=2.30,<3"
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
PERCENTILES = ["50%", "90%", "95%", "99%", "100%"]


def say(message: str) -> None:
    print(f"[load] {message}", flush=True)


# --- set-up ---------------------------------------------------------------------------------


def ensure_locust() -> Path:
    """`.venv-bench/bin/locust`, creating the environment when it is missing."""
    locust = BENCH_VENV / "bin" / "locust"
    if locust.exists():
        return locust
    say(f"creating {BENCH_VENV.name} with {LOCUST_SPEC} (once)")
    # the base interpreter, not this venv's: .venv-bench must not depend on .venv
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    subprocess.run([str(base), "-m", "venv", str(BENCH_VENV)], check=True)
    subprocess.run(
        [str(BENCH_VENV / "bin" / "pip"), "install", "-q", LOCUST_SPEC], check=True, cwd=ROOT
    )
    return locust


class Database:
    """A fresh PostgreSQL database when the local server answers, else a SQLite file."""

    def __init__(self, run_dir: Path, force_sqlite: bool) -> None:
        self.pg_name: str | None = None
        if not force_sqlite:
            try:
                import psycopg

                with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                    self.server = conn.execute("SHOW server_version").fetchone()[0]
                    name = f"decoupled_load_{os.getpid()}"
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                    conn.execute(f'CREATE DATABASE "{name}"')
                self.pg_name = name
            except Exception as exc:  # any reason PostgreSQL is not usable: fall back
                say(f"PostgreSQL at 127.0.0.1:5432 not usable ({exc}); using SQLite")
        if self.pg_name:
            self.url = f"postgres://postgres@127.0.0.1:5432/{self.pg_name}"
            self.label = f"PostgreSQL {self.server} (fresh database {self.pg_name})"
        else:
            path = run_dir / "load.sqlite3"
            self.url = f"sqlite:///{path}"
            self.label = f"SQLite (fresh file {path})"

    def drop(self) -> None:
        if not self.pg_name:
            return
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
        say(f"dropped database {self.pg_name}")


def manage(env: dict[str, str], *args: str, log: Path) -> None:
    with open(log, "ab") as out:
        done = subprocess.run(
            [processes.python(), "manage.py", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0:
        raise processes.StartError(f"manage.py {' '.join(args)} failed; see {log}")


def wait_for_worker(log: Path, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise processes.StartError(f"the Celery worker exited; see {log}")
        if log.exists() and " ready." in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise processes.StartError(f"the Celery worker was not ready within {timeout:.0f}s")


# --- results --------------------------------------------------------------------------------


def read_stats(prefix: Path) -> list[dict[str, str]]:
    path = Path(f"{prefix}_stats.csv")
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def read_failures(prefix: Path) -> list[dict[str, str]]:
    path = Path(f"{prefix}_failures.csv")
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def print_table(rows: list[dict[str, str]]) -> None:
    head = f"{'method':<6} {'name':<38} {'reqs':>6} {'fails':>5} " + " ".join(
        f"{p:>6}" for p in PERCENTILES
    )
    print("\nResponse time percentiles (ms)")
    print(head)
    print("-" * len(head))
    for row in rows:
        name = row["Name"] if row["Name"] != "Aggregated" else "ALL (aggregated)"
        print(
            f"{row['Type']:<6} {name[:38]:<38} {row['Request Count']:>6} "
            f"{row['Failure Count']:>5} " + " ".join(f"{row[p]:>6}" for p in PERCENTILES)
        )


TRACEBACK = re.compile(r"^Traceback|\bERROR\b|\bCRITICAL\b", re.MULTILINE)


def log_errors(paths: list[Path]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in paths:
        if not path.exists():
            continue
        lines = [
            line for line in path.read_text(errors="replace").splitlines() if TRACEBACK.search(line)
        ]
        if lines:
            found[path.name] = lines
    return found


# --- main -----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--spawn-rate", type=float, default=20, help="users started per second")
    parser.add_argument("--web-workers", type=int, default=2, help="uvicorn processes")
    parser.add_argument("--sqlite", action="store_true", help="use SQLite even if PG answers")
    parser.add_argument("--debug", action="store_true", help="DJANGO_DEBUG=1 as `make run`")
    args = parser.parse_args()

    locust = ensure_locust()
    run_dir = ROOT / "var" / f"load-{os.getpid()}"
    run_dir.mkdir(parents=True, exist_ok=True)
    started: list[subprocess.Popen] = []
    database: Database | None = None

    # Ctrl-C or SIGTERM: unwind through `finally`, which stops everything.
    def interrupted(signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    try:
        redis_process, redis_url = processes.start_redis(run_dir / "redis")
        started.append(redis_process)
        database = Database(run_dir, args.sqlite)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": database.url,
            "REDIS_URL": redis_url,
            "DECOUPLED_VAR_DIR": str(run_dir),
            "PYTHONUNBUFFERED": "1",
        }
        if args.debug:
            env.update({"DJANGO_DEBUG": "1", "LOG_FORMAT": "text"})
            mode = "DJANGO_DEBUG=1 (as make run)"
        else:
            env.update(
                {
                    "DJANGO_DEBUG": "0",
                    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
                    "ALLOWED_HOSTS": "127.0.0.1,localhost",
                }
            )
            mode = "DJANGO_DEBUG=0 (production settings, locust as the TLS proxy)"
        say(f"database: {database.label}")
        say(f"settings: {mode}")
        say(f"redis: {redis_url}; run folder (logs, csv): {run_dir.relative_to(ROOT)}")
        manage(env, "migrate", "--no-input", log=run_dir / "setup.log")
        manage(env, "load_site", log=run_dir / "setup.log")

        worker_log = run_dir / "worker.log"
        worker = processes.start_worker(env, name="load", beat=True, log_path=worker_log)
        started.append(worker)
        wait_for_worker(worker_log, worker)
        port = processes.free_port()
        web = processes.start_uvicorn(
            env, port, log_path=run_dir / "web.log", workers=args.web_workers
        )
        started.append(web)
        host = f"http://127.0.0.1:{port}"
        processes.wait_for_http(f"{host}/healthz", web, timeout=60)
        say(
            f"processes: redis-server, celery worker (threads x4, beat), "
            f"uvicorn x{args.web_workers} on {host}"
        )

        prefix = run_dir / "locust"
        say(
            f"locust: {args.users} users, spawn rate {args.spawn_rate}/s, "
            f"{args.seconds} s, csv {prefix.relative_to(ROOT)}_*.csv"
        )
        locust_run = subprocess.Popen(
            [
                str(locust),
                "-f",
                str(ROOT / "bench" / "locustfile.py"),
                "--headless",
                "-u",
                str(args.users),
                "-r",
                str(args.spawn_rate),
                "-t",
                f"{args.seconds}s",
                "--stop-timeout",
                "25",  # let open lab streams (read timeout 20 s) finish, not count as errors
                "--host",
                host,
                "--csv",
                str(prefix),
                "--only-summary",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env={**env, "BENCH_USERS": str(args.users), "BENCH_PYTHON": processes.python()},
            start_new_session=True,
        )
        started.append(locust_run)
        locust_rc = locust_run.wait()

        rows = read_stats(prefix)
        failures = read_failures(prefix)
        if not rows:
            say(f"locust wrote no statistics (exit code {locust_rc})")
            return 1
        print_table(rows)
        total = next(row for row in rows if row["Name"] == "Aggregated")
        n_failed = int(total["Failure Count"])
        print(
            f"\n{args.users} users, {args.seconds} s, {database.label}, {mode}, "
            f"uvicorn x{args.web_workers}: {total['Request Count']} requests, "
            f"{total['Requests/s']} req/s, {n_failed} failures"
        )
        for failure in failures:
            print(
                f"  FAILED {failure['Occurrences']}x {failure['Method']} {failure['Name']}: "
                f"{failure['Error']}"
            )
        errors = log_errors([run_dir / "web.log", worker_log])
        for name, lines in errors.items():
            print(f"  {len(lines)} error lines in {name}, first: {lines[0][:200]}")
        ok = n_failed == 0 and not errors and locust_rc in (0, 1)
        # locust exits 1 when any request failed; n_failed already says so
        print("RESULT: " + ("zero errors" if ok else "ERRORS (see above)"))
        return 0 if ok else 1
    except processes.StartError as exc:
        say(f"could not start: {exc}")
        return 1
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        for process in reversed(started):
            processes.stop(process)
        if database is not None:
            with contextlib.suppress(Exception):
                database.drop()


if __name__ == "__main__":
    sys.exit(main())
