"""The Celery app: broker and result backend are the Redis at settings.REDIS_URL.

Request ids travel with tasks: `before_task_publish` puts the current id in a message header,
`task_prerun` makes it current in the worker (a task published with none gets a fresh one), and
`task_postrun` clears it. A task published from inside a task therefore keeps the id (an
explicit `headers={"request_id": ...}` on apply_async wins; "" means a fresh id). Workers log
through the project's LOGGING (JSON in production), not Celery's format: `_use_django_logging`.
"""

from __future__ import annotations

import os
import threading

from celery import Celery, signals

from config import request_id

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("decoupled")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

HEADER = "request_id"
# Tokens to undo in task_postrun, per worker thread; a stack, since a task may run another
# eagerly. Not kept on task.request: Celery copies unknown request attributes into retries.
_tokens = threading.local()


@signals.setup_logging.connect
def _use_django_logging(**_kwargs) -> None:
    """Connected, so Celery does not install its own handlers: the worker logs through
    settings.LOGGING like the web processes (one format everywhere, request ids included)."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


@signals.before_task_publish.connect
def _publish_request_id(headers=None, **_kwargs) -> None:
    current = request_id.get()
    # an explicit header wins, even "": `headers={"request_id": ""}` starts a task afresh (a
    # long-lived self-rescheduling loop should not carry the first caller's id forever)
    if current and headers is not None and HEADER not in headers:
        headers[HEADER] = current


def incoming_request_id(task) -> str:
    """The id a task message carried: custom headers arrive as attributes of task.request."""
    request = getattr(task, "request", None)
    if request is None:
        return ""
    value = getattr(request, HEADER, None)
    if not value:
        value = (getattr(request, "headers", None) or {}).get(HEADER)
    return value if isinstance(value, str) and request_id.is_safe(value) else ""


@signals.task_prerun.connect
def _enter_task(task=None, **_kwargs) -> None:
    # the message's id; else the current one (a task run eagerly); else a fresh one (beat)
    token = request_id.set(incoming_request_id(task) or request_id.get() or request_id.new_id())
    stack = getattr(_tokens, "stack", None)
    if stack is None:
        stack = _tokens.stack = []
    stack.append(token)


@signals.task_postrun.connect
def _leave_task(**_kwargs) -> None:
    stack = getattr(_tokens, "stack", None)
    if not stack:
        return
    try:
        request_id.reset(stack.pop())
    except ValueError:  # made in another context (should not happen): just clear it
        request_id.set("")
