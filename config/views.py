from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from config.events import STREAM_KEY
from config.health import health_report
from config.metrics import render_metrics
from config.permissions import INSTRUCTOR, PUBLIC, permission
from config.sse import resume_id, sse_response, stream_events


@permission(PUBLIC)
def home(request: HttpRequest) -> HttpResponse:
    courses = []
    try:
        from lessons.services import catalog  # filled in by the lessons app
    except ImportError:
        catalog = None
    if catalog is not None:
        courses = catalog(request.user)
    return render(request, "home.html", {"courses": courses})


def health_response() -> JsonResponse:
    healthy, report = health_report()
    response = JsonResponse(report, status=200 if healthy else 503)
    response["Cache-Control"] = "no-store"
    return response


@never_cache
@permission(PUBLIC)
def healthz(request: HttpRequest) -> JsonResponse:
    return health_response()


@permission(PUBLIC)
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, for scrapers only.

    With METRICS_TOKEN set, a scraper sends it as a bearer token. Without one, only requests
    from loopback or private addresses (Prometheus inside the cluster) are answered, so the
    public Ingress does not publish the app's internals.
    """
    token = settings.METRICS_TOKEN
    if token:
        sent = request.headers.get("Authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return HttpResponse(
                "metrics need the bearer token\n", status=401, content_type="text/plain"
            )
    elif not _is_internal(request.META.get("REMOTE_ADDR", "")):
        raise Http404("no metrics here")
    return render_metrics()


def _is_internal(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private


def error_403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "errors/403.html", status=403)


def error_404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "errors/404.html", status=404)


def error_500(request: HttpRequest) -> HttpResponse:
    # No context processors that touch the database: the 500 page must render when it is down.
    from django.template import loader

    return HttpResponse(loader.get_template("errors/500.html").render({}), status=500)


@permission(INSTRUCTOR)
async def activity_stream(request: HttpRequest) -> StreamingHttpResponse:
    """Live feed of learning events for instructors (the dashboard filters it per cohort)."""
    return sse_response(stream_events(STREAM_KEY, resume_id(request, default="$")))
