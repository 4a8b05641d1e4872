"""The Celery app: broker and result backend are the Redis at settings.REDIS_URL."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("decoupled")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
