"""Tasks that belong to no app: a ping that proves a worker is alive and reaches the database,
and a task that logs the request id it runs under (observability checks)."""

from __future__ import annotations

import logging
import os
import socket

from celery import shared_task
from django.contrib.auth import get_user_model

import config.metrics  # noqa: F401  (connects the task-outcome signals in every worker)

log = logging.getLogger(__name__)


@shared_task(name="config.ping")
def ping(token: str) -> dict:
    return {
        "token": token,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "users": get_user_model().objects.count(),
    }


@shared_task(name="config.log_request_id")
def log_request_id(token: str, then: int = 0) -> str:
    """Log one line (with the request id the task runs under) and, when `then` > 0, start
    another of itself: proves ids reach workers and tasks started by tasks. Returns the id."""
    from config import request_id

    log.info("log_request_id %s", token, extra={"token": token, "then": then})
    if then > 0:
        log_request_id.delay(f"{token}-next", then - 1)
    return request_id.get()
