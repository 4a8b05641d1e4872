"""Prometheus metrics.

Per-process series (request latency, open SSE streams) live in this process's registry.
Cross-process facts are read at scrape time from where they already are: Celery task outcomes
from a Redis hash the workers increment (signals below), lab runs and quiz submissions from the
database. So any web replica answers /metrics with the whole picture for shared facts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from celery import signals
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

log = logging.getLogger(__name__)
REGISTRY = CollectorRegistry(auto_describe=True)
TASK_OUTCOMES_KEY = "metrics:celery:outcomes"
TICK_LAG_KEY = "metrics:labs:tick_lag_ms"  # each pump lane HSETs its slice lateness; max reported

REQUEST_LATENCY = Histogram(
    "decoupled_http_request_duration_seconds",
    "Time to produce a response (streams: until the headers), by route and status",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
REQUESTS = Counter(
    "decoupled_http_requests",
    "Requests by route and status",
    ["method", "route", "status"],
    registry=REGISTRY,
)
OPEN_STREAMS = Gauge(
    "decoupled_sse_open_streams",
    "Server-sent event streams open in this process",
    registry=REGISTRY,
)


class SharedStateCollector:
    """Facts shared by all processes, read when Prometheus scrapes."""

    def describe(self):
        return []  # no query at registration time

    def collect(self):
        outcomes = CounterMetricFamily(
            "decoupled_celery_tasks",
            "Celery task outcomes across all workers",
            labels=["task", "outcome"],
        )
        lag = GaugeMetricFamily(
            "decoupled_lab_tick_lag_ms",
            "How late the latest lab slices started after their due time (worst pump lane)",
        )
        try:
            from config.redis import get_redis

            client = get_redis()
            for field, count in client.hgetall(TASK_OUTCOMES_KEY).items():
                task, _, outcome = field.rpartition(":")
                outcomes.add_metric([task, outcome], float(count))
            lags = [float(v) for v in client.hvals(TICK_LAG_KEY)]
            lag.add_metric([], max(lags) if lags else 0.0)
        except Exception as exc:  # Redis down: report what we can
            log.debug("metrics: redis unavailable: %s", exc)
        yield outcomes
        yield lag
        yield from _database_metrics()


def _database_metrics():
    from django.apps import apps

    if apps.is_installed("labs"):
        try:
            LabRun = apps.get_model("labs", "LabRun")
            runs = GaugeMetricFamily("decoupled_lab_runs", "Lab runs by status", labels=["status"])
            for row in LabRun.objects.values("status").order_by().annotate(n=Count("pk")):
                runs.add_metric([row["status"]], row["n"])
            yield runs
        except Exception as exc:  # model missing or database down: skip the series
            log.debug("metrics: lab runs unavailable: %s", exc)
    try:
        Attempt = apps.get_model("quizzes", "Attempt")
        submitted = CounterMetricFamily("decoupled_quiz_submissions", "Quiz attempts submitted")
        submitted.add_metric([], Attempt.objects.filter(submitted_at__isnull=False).count())
        yield submitted
    except Exception as exc:  # model not there yet, or its fields differ
        log.debug("metrics: quiz submissions unavailable: %s", exc)


REGISTRY.register(SharedStateCollector())


def render_metrics() -> HttpResponse:
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    """Times every request and labels it with its URL route (not the raw path: bounded labels)."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None else "unmatched"
        labels = (request.method, route, str(response.status_code))
        REQUEST_LATENCY.labels(*labels).observe(time.perf_counter() - started)
        REQUESTS.labels(*labels).inc()
        return response


def _count_outcome(task_name: str, outcome: str) -> None:
    try:
        from config.redis import get_redis

        get_redis().hincrby(TASK_OUTCOMES_KEY, f"{task_name}:{outcome}", 1)
    except Exception as exc:
        log.debug("metrics: outcome not counted: %s", exc)


@signals.task_success.connect
def _on_success(sender=None, **_kwargs) -> None:
    _count_outcome(getattr(sender, "name", "unknown"), "success")


@signals.task_failure.connect
def _on_failure(sender=None, **_kwargs) -> None:
    _count_outcome(getattr(sender, "name", "unknown"), "failure")


@signals.task_retry.connect
def _on_retry(sender=None, **_kwargs) -> None:
    _count_outcome(getattr(getattr(sender, "task", None), "name", "unknown"), "retry")
