"""PostgreSQL that the integration tests start themselves.

The suite's own test database is SQLite (config/test_settings.py), so the in-process ORM of a
pytest session is never PostgreSQL. Tests that must prove behaviour on PostgreSQL (two web
processes and two workers on one database; a database restart under a live site) therefore
bring their own server and reach it only through child processes and HTTP:

- `embedded_postgres` (session): `initdb` + `pg_ctl start` in a temporary directory on a free
  loopback port, trust authentication, its unix socket in that directory. As root, initdb and
  the server run as the `postgres` OS user (`runuser`), because PostgreSQL refuses to run as
  root. It is stopped and deleted at the end of the session. Missing binaries fail the test
  with a message naming the fix (`make test` installs Debian's postgresql); nothing is skipped.
- `pg_template` (session): one database migrated with `manage.py migrate` and loaded with
  `manage.py load_site`, as subprocesses, exactly as a deployment's migrate job does.
- `pg_database` (function): a fresh database copied from that template (CREATE DATABASE ...
  TEMPLATE, a file copy: well under a second) and its DATABASE_URL. Tests start their
  uvicorn and Celery children on it with `pg_env(url)`.

The machine's own PostgreSQL (127.0.0.1:5432, used by .ci/run) is never touched: a test that
restarts "the database" must own it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from config import processes
from tests.conftest import ARTIFACTS, ROOT, child_env

PG_USER = "postgres"
TEMPLATE_DB = "decoupled_template"


def pg_bindir() -> Path | None:
    """Where initdb and pg_ctl live: PG_BINDIR, PATH, or Debian's /usr/lib/postgresql/N/bin."""
    candidates = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(os.path.realpath(on_path)).parent)
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True
    )
    candidates += [Path(p) for p in versions]
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    return None


class EmbeddedPostgres:
    """A throwaway PostgreSQL cluster owned by the test session."""

    def __init__(self, bindir: Path, root: Path) -> None:
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.sockets = root / "run"
        self.log = ARTIFACTS / "embedded-postgres.log"
        self.port = processes.free_port()
        self.as_root = os.geteuid() == 0

    # -- running the server's tools -------------------------------------------------------
    def _run(self, tool: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        command = [str(self.bindir / tool), *args]
        if self.as_root:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", PG_USER, "--", *command]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=self.root
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{tool} {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}\nserver log: {self.log}"
            )
        return result

    def init(self) -> None:
        self.sockets.mkdir(parents=True, exist_ok=True)
        ARTIFACTS.mkdir(exist_ok=True)
        self.log.write_text("")
        if self.as_root:
            user = pwd.getpwnam(PG_USER)
            for path in (self.root, self.sockets, self.log):
                os.chown(path, user.pw_uid, user.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            PG_USER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",  # initdb's own fsync only; the running server keeps fsync on
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 "
            "-c max_connections=100 -c shared_buffers=32MB"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """mode "fast" is a clean shutdown; "immediate" is a crash (recovery replays the WAL)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        command = [str(self.bindir / "pg_ctl"), "-D", str(self.data), "status"]
        if self.as_root:
            command = ["runuser", "-u", PG_USER, "--", *command]
        return subprocess.run(command, capture_output=True).returncode == 0

    # -- databases ----------------------------------------------------------------------
    def url(self, dbname: str = "postgres") -> str:
        return f"postgres://{PG_USER}@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres", **kwargs):
        import psycopg

        return psycopg.connect(self.url(dbname), connect_timeout=5, **kwargs)

    def create_database(self, name: str, template: str | None = None) -> str:
        with self.connect(autocommit=True) as conn:
            sql = f'CREATE DATABASE "{name}"'
            if template:
                sql += f' TEMPLATE "{template}"'
            conn.execute(sql)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with self.connect(autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def embedded_postgres() -> Iterator[EmbeddedPostgres]:
    bindir = pg_bindir()
    if bindir is None:
        pytest.fail(
            "PostgreSQL server binaries (initdb, pg_ctl) are missing: run `make test`, which "
            "installs Debian's postgresql when they are absent, or `apt-get install postgresql`, "
            "or set PG_BINDIR to the directory holding them."
        )
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.fail("running as root needs `runuser` to start PostgreSQL as the postgres user")
    root = Path(tempfile.mkdtemp(prefix="decoupled-pg-"))
    server = EmbeddedPostgres(bindir, root)
    try:
        server.init()
        server.start()
        yield server
    finally:
        if server.data.exists() and server.running():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def pg_env(url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a child process (manage.py, uvicorn, celery) on a PostgreSQL database."""
    env = child_env({"DATABASE_URL": url})
    env.update(extra or {})
    return env


def manage(url: str, *args: str, timeout: float = 180) -> str:
    result = subprocess.run(
        [processes.python(), "manage.py", *args],
        env=pg_env(url),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"manage.py {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result.stdout


@pytest.fixture(scope="session")
def pg_template(embedded_postgres: EmbeddedPostgres) -> str:
    """A database migrated and loaded with the course, copied by every `pg_database`."""
    url = embedded_postgres.create_database(TEMPLATE_DB)
    manage(url, "migrate", "--noinput", "-v0")
    manage(url, "load_site")
    return TEMPLATE_DB


@pytest.fixture
def pg_database(embedded_postgres: EmbeddedPostgres, pg_template: str) -> Iterator[str]:
    """A fresh, migrated database with the course loaded; yields its DATABASE_URL."""
    name = f"decoupled_{uuid.uuid4().hex[:10]}"
    url = embedded_postgres.create_database(name, template=pg_template)
    try:
        yield url
    finally:
        # The server may be mid-restart if the test failed there: wait for it, then drop.
        deadline = time.monotonic() + 30
        while not embedded_postgres.running() and time.monotonic() < deadline:
            time.sleep(0.2)
        with contextlib.suppress(Exception):
            embedded_postgres.drop_database(name)


@pytest.fixture
def own_redis() -> Iterator[str]:
    """A redis-server for one test's cluster alone, so the session's Celery worker (on the
    SQLite test database) can never take its tasks or answer its pings."""
    directory = Path(tempfile.mkdtemp(prefix="decoupled-redis-pg-"))
    process, url = processes.start_redis(directory)
    try:
        yield url
    finally:
        processes.stop(process)
        shutil.rmtree(directory, ignore_errors=True)


def csrf_post(client, path: str, data: dict | None = None, **kwargs):
    """A form POST through real CSRF: the token comes from the cookie the site set."""
    token = client.cookies.get("csrftoken")
    assert token, "the site set no CSRF cookie before this POST"
    return client.post(
        path,
        data={"csrfmiddlewaretoken": token, **(data or {})},
        headers={"X-CSRFToken": token},
        **kwargs,
    )


def sign_up(client, username: str) -> None:
    """Create an account through the sign-up form; the client keeps the signed-in session."""
    assert client.get("/accounts/signup/").status_code == 200
    password = "Quorum-lease-7-offsets"  # passes every password validator
    response = csrf_post(
        client,
        "/accounts/signup/",
        {
            "username": username,
            "email": f"{username}@example.com",
            "password1": password,
            "password2": password,
        },
    )
    errors = re.findall(r'class="[^"]*error[^"]*"[^>]*>(.*?)<', response.text, re.S)
    assert response.status_code == 302, (response.status_code, errors)
    assert client.cookies.get("sessionid"), "sign-up did not sign the learner in"
