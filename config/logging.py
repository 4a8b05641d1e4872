"""Log formatting: one JSON object per line (production), or readable text (development).

Every line carries the request id of the request (or of the task chain) it belongs to, and
inside a Celery task the task's id and name, so one grep follows a request through the web
process, the workers and the lab events. Chosen by LOG_FORMAT (see config/settings.py).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from config import request_id

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))) | {
    "message",
    "asctime",
    "request_id",
    "task_id",
    "task_name",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}


def current_task() -> tuple[str, str]:
    """(task id, task name) of the Celery task running in this thread, else ("", "")."""
    try:
        from celery import current_task as task
    except ImportError:  # pragma: no cover (celery is a dependency)
        return "", ""
    try:
        if task and task.request.id:
            return str(task.request.id), str(task.name)
    except Exception:  # noqa: S110 (logging must never fail on a half-set-up task)
        pass
    return "", ""


def _iso_utc(created: float) -> str:
    stamp = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def _request_id(record: logging.LogRecord) -> str:
    explicit = getattr(record, "request_id", None)
    return str(explicit) if explicit else request_id.get()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, request_id, task_id, task_name,
    exc_info, plus the record's JSON-serialisable `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _iso_utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": _request_id(record),
        }
        task_id, task_name = current_task()
        task_id = getattr(record, "task_id", None) or task_id
        task_name = getattr(record, "task_name", None) or task_name
        if task_id:
            entry["task_id"] = str(task_id)
            entry["task_name"] = str(task_name)
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        for key, value in vars(record).items():
            if key in _STANDARD or key in entry or key.startswith("_"):
                continue
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                continue  # e.g. django.request's `request` object
            entry[key] = value
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Readable lines for development: time, level, logger, [request id], message."""

    default_format = "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s"

    def __init__(self, fmt: str | None = None, datefmt: str | None = None, **kwargs: Any) -> None:
        super().__init__(fmt or self.default_format, datefmt, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        rid = _request_id(record) or "-"
        task_id, task_name = current_task()
        if task_id:
            rid = f"{rid} {task_name}[{task_id}]"
        had = "request_id" in vars(record)
        old = getattr(record, "request_id", None)
        record.request_id = rid
        try:
            return super().format(record)
        finally:  # the record may go to other handlers too: leave it as it was
            if had:
                record.request_id = old
            else:
                del record.request_id


def formatter(kind: str) -> logging.Formatter:
    return JsonFormatter() if kind == "json" else TextFormatter()
