"""Middleware that must run before everything else."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.utils.functional import empty

from config import request_id

request_log = logging.getLogger("decoupled.request")


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


class RequestIdMiddleware:
    """Give every request an id: the client's `X-Request-ID` when it is safe, else a new one.

    The id is current (config.request_id) while the request is handled, so log lines, Celery
    tasks and lab events it causes carry it; it is sent back in the `X-Request-ID` header.
    Logs one line per request on `decoupled.request` (not for /healthz and /metrics).
    Sync and async capable (the chain is synchronous, see SyncChainMiddleware); a streaming
    body, sync or async, is iterated with the id current, so what the stream logs carries it.
    """

    sync_capable = True
    async_capable = True
    QUIET_PATHS = frozenset({"/healthz", "/metrics"})

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if self.async_mode:
            return self.__acall__(request)
        rid = request_id.accept(request.headers.get(request_id.HEADER))
        request.request_id = rid
        token = request_id.set(rid)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            self._finish(request, response, started)
        finally:
            request_id.reset(token)
        if response.streaming:  # an async view's stream (SSE) is iterated on the loop later
            wrap = _with_id_async if response.is_async else _with_id_sync
            response.streaming_content = wrap(rid, response.streaming_content)
        return response

    async def __acall__(self, request: HttpRequest):
        rid = request_id.accept(request.headers.get(request_id.HEADER))
        request.request_id = rid
        token = request_id.set(rid)
        started = time.perf_counter()
        try:
            response = await self.get_response(request)
            self._finish(request, response, started)
        finally:
            request_id.reset(token)
        if response.streaming and response.is_async:
            response.streaming_content = _with_id_async(rid, response.streaming_content)
        return response

    def _finish(self, request: HttpRequest, response: HttpResponse, started: float) -> None:
        response[request_id.HEADER] = request_id.get()
        if request.path in self.QUIET_PATHS:
            return
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        user_id = _user_id(request)
        request_log.info(
            "%s %s %s %.1fms",
            request.method,
            request.path,
            response.status_code,
            duration_ms,
            extra={
                "request_id": request_id.get(),  # on the record: read by queued handlers too
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": duration_ms,
                "user_id": user_id,
            },
        )


def _user_id(request: HttpRequest) -> int | None:
    """The signed-in user's id when something already loaded the user (never queries: the
    async path must not touch the database, and a log line is not worth a query)."""
    user = getattr(request, "_cached_user", None) or getattr(request, "_acached_user", None)
    if user is None:
        lazy = getattr(request, "user", None)
        wrapped = getattr(lazy, "_wrapped", empty) if lazy is not None else empty
        user = None if wrapped is empty else wrapped
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user.pk


def _with_id_sync(rid: str, content: Iterator) -> Iterator:
    token = request_id.set(rid)
    try:
        yield from content
    finally:
        with contextlib.suppress(ValueError):
            request_id.reset(token)


async def _with_id_async(rid: str, content: AsyncIterator) -> AsyncIterator:
    token = request_id.set(rid)
    try:
        async for chunk in content:
            yield chunk
    finally:
        aclose = getattr(content, "aclose", None)
        if aclose is not None:  # `async for` leaves the inner generator open when we are closed
            with contextlib.suppress(RuntimeError):
                await aclose()
        with contextlib.suppress(ValueError):
            request_id.reset(token)


class SyncChainMiddleware:
    """Innermost: keeps Django's middleware chain synchronous under ASGI.

    Django runs each middleware in the mode of the one below it. With an async-capable
    middleware innermost, every `MiddlewareMixin` above it (sessions, CSRF, auth, messages...)
    ran in async mode, moving its `process_request` and `process_response` to a thread and
    back through the event loop: about a dozen hops per request, each queued behind the open
    SSE streams on that loop. Sync-only here makes the whole chain one thread per request;
    async views (the SSE streams) are called once through `async_to_sync` and their body is
    still streamed by the ASGI handler on the loop.
    """

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)
