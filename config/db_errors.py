"""A database that is unreachable answers 503 "try again", not a 500.

During a PostgreSQL restart or failover every query fails with OperationalError (connection
refused, "the database system is starting up", a connection cut mid-query) or InterfaceError
(a connection already closed). Those are not bugs in the app: the request can simply be retried
in a moment. This middleware turns them into a 503 page with `Retry-After`, rendered without
touching the database (no context processors), and logs one warning line instead of a
traceback. Every other exception still goes to the 500 handler.

It is the last entry in MIDDLEWARE so its process_exception runs first for a failing view.
Writes that were acknowledged before the outage are already committed; a write that fails
here was never acknowledged, so the page tells the learner to send it again.
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.utils.deprecation import MiddlewareMixin

logger = logging.getLogger("decoupled.db")
RETRY_AFTER_SECONDS = 5


def database_unavailable_response(request: HttpRequest) -> HttpResponse:
    if "application/json" in request.headers.get("Accept", ""):
        response: HttpResponse = JsonResponse(
            {"error": "database unavailable, try again"}, status=503
        )
    else:
        response = HttpResponse(loader.get_template("errors/503.html").render({}), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware(MiddlewareMixin):
    """process_exception: OperationalError / InterfaceError from a view become a 503 page."""

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.warning(
            "database unavailable on %s %s: %s",
            request.method,
            request.path,
            str(exception).strip().splitlines()[0][:200] if str(exception).strip() else "",
        )
        return database_unavailable_response(request)
