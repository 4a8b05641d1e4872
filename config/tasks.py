"""Tasks that belong to no app: a ping that proves a worker is alive and reaches the database."""

from __future__ import annotations

import os
import socket

from celery import shared_task
from django.contrib.auth import get_user_model

import config.metrics  # noqa: F401  (connects the task-outcome signals in every worker)


@shared_task(name="config.ping")
def ping(token: str) -> dict:
    return {
        "token": token,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "users": get_user_model().objects.count(),
    }
