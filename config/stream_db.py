"""Streaming responses give their database connection back before they stream.

Under ASGI a request's connection is closed by `request_finished`, which Django sends only when
the response is closed: for a server-sent-events stream, when the learner leaves, minutes later.
Every open lab stream or instructor activity feed therefore held a PostgreSQL connection doing
nothing (measured: 6 open streams, 6 connections), so a class watching its labs used up
`max_connections`, and with the per-process bound (`DB_POOL_MAX_SIZE`, config/postgres/base.py)
20 watchers would block every other page of that process.

The streams read Redis, not the database, once the view has returned; a view that touched the
database did so before returning. So when the response is streaming, this middleware closes the
request's connections right away (in the request's own thread, where they live). A query made
later while streaming would simply open a new connection.
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.db import connections
from django.utils.decorators import sync_and_async_middleware


def close_request_connections() -> None:
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()


@sync_and_async_middleware
def StreamingReleasesDatabaseMiddleware(get_response):  # noqa: N802 (a middleware class name)
    if iscoroutinefunction(get_response):

        async def middleware(request):
            response = await get_response(request)
            if response.streaming:
                await sync_to_async(close_request_connections)()
            return response

    else:

        def middleware(request):
            response = get_response(request)
            if response.streaming:
                close_request_connections()
            return response

    return middleware
