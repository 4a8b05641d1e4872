"""Middleware that must run before everything else."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class HealthCheckMiddleware:
    """Answer /healthz before host validation: load balancers and Kubernetes probes call it by
    pod IP, which is (rightly) not in ALLOWED_HOSTS."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/healthz" and request.method in ("GET", "HEAD"):
            from config.views import health_response

            return health_response()
        return self.get_response(request)
