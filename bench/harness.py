"""Set-up shared by the in-process benchmarks: a throw-away Redis and SQLite database.

    tmp, redis_process = isolated_django("lab-bench-")

Starts its own redis-server under a fresh temporary directory, points this process's
environment (and so every child started with `os.environ`) at it and at a new SQLite file
there, runs `django.setup()` and migrates. The caller stops `redis_process` when done.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def isolated_django(prefix: str) -> tuple[Path, subprocess.Popen]:
    from config import processes

    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    redis_process, redis_url = processes.start_redis(tmp / "redis")
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "1",
            "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
            "REDIS_URL": redis_url,
            "DECOUPLED_VAR_DIR": str(tmp),
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return tmp, redis_process
