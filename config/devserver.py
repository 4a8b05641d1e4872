"""`make run`: Redis (embedded unless REDIS_URL is set), a Celery worker and uvicorn, in the
foreground; one Ctrl-C stops them all."""

from __future__ import annotations

import os
import signal
import sys
import time

from config.processes import (
    BASE_DIR,
    StartError,
    port_taken,
    start_redis,
    start_uvicorn,
    start_worker,
    stop,
    wait_for_http,
    wait_for_redis,
)


def main() -> int:
    port = int(os.environ.get("PORT", "8000"))
    var_dir = BASE_DIR / "var"
    env = dict(os.environ)
    env.setdefault("DJANGO_DEBUG", "1")
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    env["PYTHONUNBUFFERED"] = "1"
    children = []

    def shutdown(*_: object) -> None:
        print("\nStopping…", flush=True)
        for child in reversed(children):
            stop(child)
        print("Stopped.", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)
    try:
        if port_taken(port):
            raise StartError(
                f"port {port} is already in use; stop that program or run with PORT=<other>"
            )
        if env.get("REDIS_URL"):
            wait_for_redis(env["REDIS_URL"], timeout=3)
            print(f"  redis   {env['REDIS_URL']} (from REDIS_URL)", flush=True)
        else:
            redis_process, url = start_redis(var_dir / "redis")
            children.append(redis_process)
            env["REDIS_URL"] = url
            print(f"  redis   {url} (embedded, files in var/redis)", flush=True)
        worker = start_worker(env, log_path=var_dir / "worker.log")
        children.append(worker)
        print(f"  worker  celery pid {worker.pid} (log: var/worker.log)", flush=True)
        web = start_uvicorn(env, port)
        children.append(web)
        wait_for_http(f"http://127.0.0.1:{port}/healthz", web)
        print(f"  web     http://127.0.0.1:{port}/  (Ctrl-C stops everything)", flush=True)
    except StartError as exc:
        print(f"make run: {exc}", file=sys.stderr, flush=True)
        for child in reversed(children):
            stop(child)
        return 1
    while True:
        for child in children:
            if child.poll() is not None:
                print(
                    f"make run: a component (pid {child.pid}) exited with code {child.returncode}; "
                    "stopping the rest",
                    file=sys.stderr,
                    flush=True,
                )
                for other in reversed(children):
                    stop(other)
                return 1
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
