"""Health of the parts the app needs: the database, Redis and the Celery workers."""

from __future__ import annotations

from typing import Any

from django.db import connection

from config.redis import get_redis


def check_database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return {"ok": True, "vendor": connection.vendor}
    except Exception as exc:  # any driver error means "down"; the message says why
        return {"ok": False, "error": str(exc)[:200]}


def check_redis() -> dict[str, Any]:
    try:
        get_redis().ping()
        return {"ok": True}
    except Exception as exc:
        return {"ok": False, "error": str(exc)[:200]}


def live_workers(timeout: float = 1.0) -> int:
    from config.celery import app

    try:
        replies = app.control.inspect(timeout=timeout).ping() or {}
    except Exception:
        return 0
    return len(replies)


def health_report() -> tuple[bool, dict[str, Any]]:
    database = check_database()
    redis_state = check_redis()
    workers = live_workers() if redis_state["ok"] else 0
    report = {
        "database": database,
        "redis": redis_state,
        "workers": {"ok": workers > 0, "live": workers},
    }
    down = [name for name, part in report.items() if not part["ok"]]
    report["status"] = "ok" if not down else "down"
    report["down"] = down
    return not down, report
