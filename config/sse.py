"""Server-sent events from a Redis Stream, for async views served by uvicorn.

The browser sends `Last-Event-ID` on reconnect (or the page passes `last_id`); we resume from
exactly there, so nothing is lost or repeated. Each event's SSE id is its Redis stream id. The
entries come from the process's fan-out hub (`config.sse_hub`): one XREAD BLOCK per stream key
per process, shared by every client of that stream, each frame formatted once. A heartbeat
comment keeps proxies from closing idle streams; a client that disconnects cancels its
generator and leaves the hub, and the hub's reader closes its Redis connection when the last
client of a stream has gone. A Redis failure ends the stream with an `interrupted` event.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from django.http import HttpRequest, StreamingHttpResponse

from config import sse_hub
from config.sse_hub import HEARTBEAT_MS, Decode, Frame, NameOf  # noqa: F401 (re-exported)

STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


def resume_id(request: HttpRequest, default: str = "0-0") -> str:
    """Where to resume: Last-Event-ID header, else ?last_id=, else `default`."""
    candidate = request.headers.get("Last-Event-ID") or request.GET.get("last_id") or ""
    return candidate if STREAM_ID.match(candidate) else default


def format_event(data: Any, event: str | None = None, event_id: str | None = None) -> str:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return sse_hub.format_frame(payload, event, event_id)


async def stream_events(
    key: str,
    last_id: str,
    *,
    decode: Decode | None = None,
    name_of: NameOf | None = None,
    is_terminal: Callable[[str, Any], bool] | None = None,
    before: Callable[[], Awaitable[list[str]]] | None = None,
    touch: tuple[str, int] | None = None,
    as_bytes: bool = False,
) -> AsyncIterator[str] | AsyncIterator[bytes]:
    """Yield SSE frames for entries of stream `key` after `last_id` until a terminal entry.

    `name_of(data) -> event name | None` maps an entry's JSON `data` field to its event name
    (None skips it; the default uses its `type`) and the stored JSON text is sent unchanged.
    `decode(fields) -> (event_name, data)` is the general form (data is JSON-encoded again,
    per decoder, still once per entry). `before()` may return initial frames (a snapshot).
    `touch=(key, ttl)` keeps `key` set while the stream is watched. `as_bytes=True` yields the
    shared frame bytes (the cheap path for `sse_response`), otherwise text.
    `last_id="$"` means: only entries added from now on.
    """
    from config.metrics import OPEN_STREAMS

    prefix = [f.encode() for f in await before()] if before is not None else []
    frames = sse_hub.subscribe(
        key,
        last_id,
        name_of=name_of,
        decode=decode,
        is_terminal=is_terminal,
        before=prefix,
        touch=touch,
    )
    OPEN_STREAMS.inc()
    try:
        async for frame in frames:
            if as_bytes:
                yield frame.raw if isinstance(frame, Frame) else frame
            else:
                yield frame.text if isinstance(frame, Frame) else frame.decode()
    finally:
        OPEN_STREAMS.dec()
        await frames.aclose()


def sse_response(frames: AsyncIterator[str]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(frames, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache, no-transform"
    response["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return response
