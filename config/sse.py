"""Server-sent events from a Redis Stream, for async views served by uvicorn.

The browser sends `Last-Event-ID` on reconnect (or the page passes `last_id`); we resume from
exactly there with XREAD BLOCK, so nothing is lost or repeated. Each event's SSE id is its
Redis stream id. A heartbeat comment keeps proxies from closing idle streams; a client that
disconnects cancels the generator, and the `finally` closes its Redis connection.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from django.http import HttpRequest, StreamingHttpResponse

from config.redis import new_async_redis

STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
HEARTBEAT_MS = 15_000


def resume_id(request: HttpRequest, default: str = "0-0") -> str:
    """Where to resume: Last-Event-ID header, else ?last_id=, else `default`."""
    candidate = request.headers.get("Last-Event-ID") or request.GET.get("last_id") or ""
    return candidate if STREAM_ID.match(candidate) else default


def format_event(data: Any, event: str | None = None, event_id: str | None = None) -> str:
    lines = []
    if event_id:
        lines.append(f"id: {event_id}")
    if event:
        lines.append(f"event: {event}")
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    lines.extend(f"data: {line}" for line in payload.split("\n"))
    return "\n".join(lines) + "\n\n"


async def stream_events(
    key: str,
    last_id: str,
    *,
    decode: Callable[[dict[str, str]], tuple[str, Any]] | None = None,
    is_terminal: Callable[[str, Any], bool] | None = None,
    before: Callable[[], Awaitable[list[str]]] | None = None,
    block_ms: int = HEARTBEAT_MS,
) -> AsyncIterator[str]:
    """Yield SSE frames for entries of stream `key` after `last_id` until a terminal entry.

    `decode(fields) -> (event_name, data)` maps a stream entry; the default expects a JSON
    `data` field and uses its `type` as the event name. `before()` may yield initial frames
    (a snapshot). A Redis failure ends the stream with an `interrupted` event.
    """
    from config.metrics import OPEN_STREAMS

    client = new_async_redis()
    decode = decode or _default_decode
    OPEN_STREAMS.inc()
    try:
        if before is not None:
            for frame in await before():
                yield frame
        while True:
            try:
                reply = await client.xread({key: last_id}, block=block_ms, count=500)
            except Exception as exc:  # Redis gone: tell the page, never leave a spinner
                yield format_event(
                    {"type": "interrupted", "reason": f"event stream lost: {exc}"},
                    event="interrupted",
                )
                return
            if not reply:
                yield ": heartbeat\n\n"
                continue
            for _stream, entries in reply:
                for entry_id, fields in entries:
                    last_id = entry_id
                    name, data = decode(fields)
                    yield format_event(data, event=name, event_id=entry_id)
                    if is_terminal is not None and is_terminal(name, data):
                        return
    finally:
        OPEN_STREAMS.dec()
        await client.aclose()


def _default_decode(fields: dict[str, str]) -> tuple[str, Any]:
    data = json.loads(fields.get("data", "{}"))
    return str(data.get("type", "message")), data


def sse_response(frames: AsyncIterator[str]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(frames, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache, no-transform"
    response["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return response
