"""Per-process fan-out of Redis Streams to server-sent-event subscribers.

One reader task per stream key per event loop (i.e. per uvicorn process) does XREAD BLOCK on
its own connection and hands every batch of entries to all local subscribers; the frame bytes
of an entry are formatted once and shared by every subscriber (`Entry.frame`). So 500 browsers
watching one lab run cost one Redis connection and one JSON parse per event, not 500.

A subscriber:

1. registers with the reader of its key (creating it when there is none) before any await, so
   nothing the reader reads from then on can pass it by; a new reader starts at the stream's
   tail, which it reads itself (never at an id a client sent);
2. if it resumes from an id older than the reader's position, catches up with XRANGE pages on
   the process's pooled short-command client;
3. then takes live batches from its own bounded buffer, skipping ids it has already sent
   (dedupe by stream-id order), so the hand-over has no gap and no duplicate.

A subscriber that falls more than `MAX_PENDING` batches behind is detached; once it has drained
what it holds, it catches up from its last id by itself and joins again. The reader stops (and
closes its connection) when its last subscriber leaves: the hub sends CLIENT UNBLOCK to it
instead of cancelling it. A Redis error ends every subscriber with an `interrupted` event. An
idle stream gets a heartbeat comment every `HEARTBEAT_MS`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from django.conf import settings

log = logging.getLogger(__name__)
T = TypeVar("T")

HEARTBEAT_MS = 15_000  # an idle stream gets a heartbeat comment this often
WAKE_MS = 3_000  # XREAD BLOCK of a reader: how late it may notice its last subscriber left
READ_COUNT = 200  # entries per XREAD / XRANGE page
MAX_PENDING = 256  # live batches a subscriber may hold before it must catch up by itself
TOUCH_EVERY_S = 30.0  # how often a reader refreshes its keep-alive key while it has subscribers
HEARTBEAT = b": heartbeat\n\n"

# Decoder: parsed JSON `data` field -> event name, or None to skip the entry for this decoder.
NameOf = Callable[[Any], "str | None"]
# Legacy decoder: the entry's fields -> (event name, data to JSON-encode).
Decode = Callable[[dict[str, str]], tuple[str, Any]]


def id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def next_id(entry_id: str) -> str:
    """The smallest stream id strictly after `entry_id` (XRANGE start, exclusive of it)."""
    ms, seq = id_key(entry_id)
    return f"{ms + 1}-0" if seq >= 2**64 - 1 else f"{ms}-{seq + 1}"


def format_frame(payload: str, event: str | None = None, event_id: str | None = None) -> str:
    head = (f"id: {event_id}\n" if event_id else "") + (f"event: {event}\n" if event else "")
    if "\n" in payload or "\r" in payload:
        body = "".join(f"data: {line}\n" for line in payload.splitlines())
    else:
        body = f"data: {payload}\n"
    return head + body + "\n"


def default_name(data: Any) -> str:
    return str(data.get("type", "message")) if isinstance(data, dict) else "message"


class Frame:
    """One entry as seen by one decoder: its event name, data, and SSE frame (text and bytes)."""

    __slots__ = ("name", "data", "text", "raw")

    def __init__(self, name: str | None, data: Any, text: str) -> None:
        self.name, self.data, self.text = name, data, text
        self.raw = text.encode()


class Entry:
    """A stream entry read once and shared by every subscriber; frames are cached per decoder."""

    __slots__ = ("id", "key", "fields", "_parsed", "_bad", "_frames")

    def __init__(self, entry_id: str, fields: dict[str, str]) -> None:
        self.id, self.key, self.fields = entry_id, id_key(entry_id), fields
        self._parsed: Any = _UNPARSED
        self._bad = False
        self._frames: dict[Any, Frame] = {}

    @property
    def parsed(self) -> Any:
        if self._parsed is _UNPARSED:
            try:
                self._parsed = json.loads(self.fields.get("data", "{}"))
            except ValueError:  # not JSON: pass the text on as a JSON string
                self._parsed, self._bad = {"type": "message", "raw": self.fields.get("data")}, True
        return self._parsed

    def frame(self, name_of: NameOf | None = None, decode: Decode | None = None) -> Frame:
        """The frame for this decoder, formatted on first use and shared afterwards."""
        cache_key = decode or name_of or default_name
        found = self._frames.get(cache_key)
        if found is not None:
            return found
        if decode is not None:
            name, data = decode(self.fields)
            payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
            frame = Frame(name, data, format_frame(payload, name, self.id))
        else:
            data = self.parsed
            name = (name_of or default_name)(data)
            raw = self.fields.get("data")
            if raw is None or self._bad:
                raw = json.dumps(data, separators=(",", ":"))
            # The stored JSON text is sent as is: no re-encoding per event.
            frame = Frame(name, data, format_frame(raw, name, self.id) if name else "")
        self._frames[cache_key] = frame
        return frame


_UNPARSED = object()


class Interrupted:
    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


class Subscription:
    """One SSE client's mailbox: a deque of batches plus the future its consumer waits on."""

    __slots__ = ("items", "waiter", "lagging")

    def __init__(self) -> None:
        self.items: deque[Any] = deque()
        self.waiter: asyncio.Future | None = None
        self.lagging = False

    def push(self, item: Any) -> bool:
        """Queue `item`; False when the subscriber is too far behind (it will catch up itself)."""
        if len(self.items) >= MAX_PENDING and not isinstance(item, Interrupted):
            self.lagging = True
            self._wake()
            return False
        self.items.append(item)
        self._wake()
        return True

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        self.waiter = asyncio.get_running_loop().create_future()
        try:
            await self.waiter
        finally:
            self.waiter = None


class Reader:
    """The one XREAD BLOCK loop for a stream key in this process."""

    def __init__(self, hub: Hub, key: str) -> None:
        # The position starts at the stream's tail, read by the reader itself: never at an id
        # a client sent (a far-future Last-Event-ID would hide entries from everyone else).
        self.hub, self.key = hub, key
        self.position: str | None = None
        self.started = asyncio.Event()
        self.subscribers: set[Subscription] = set()
        self.client_id: int | None = None
        self.touch: dict[str, int] = {}  # keep-alive keys to SET ... EX ttl while streaming
        self._touched = 0.0
        self.task = asyncio.get_running_loop().create_task(self.run(), name=f"sse-reader {key}")

    async def run(self) -> None:
        client = aioredis.Redis.from_url(
            settings.REDIS_URL,
            decode_responses=True,
            socket_timeout=60,
            socket_connect_timeout=2,
            single_connection_client=True,
        )
        heartbeat_due = time.monotonic() + self.hub.heartbeat_ms / 1000
        try:
            # Never cancelled (a cancel landing as redis-py starts a command can be swallowed
            # and hang the task: redis/redis-py#2028): when its last subscriber leaves, the hub
            # sends CLIENT UNBLOCK to this connection, XREAD returns empty and the loop ends.
            # It also wakes every `wake_ms` on its own.
            while self.subscribers:
                self._maybe_touch()
                try:
                    if self.position is None:
                        self.client_id = await client.client_id()
                        tail = await client.xrevrange(self.key, count=1)
                        self.position = tail[0][0] if tail else "0-0"
                        self.started.set()
                    reply = await client.xread(
                        {self.key: self.position}, block=self.hub.wake_ms, count=READ_COUNT
                    )
                except Exception as exc:  # Redis gone: every subscriber ends with `interrupted`
                    self.interrupt(f"event stream lost: {exc}")
                    return
                if reply and reply[0][1]:
                    batch = [Entry(entry_id, fields) for entry_id, fields in reply[0][1]]
                    self.position = batch[-1].id
                    self.broadcast(batch)
                elif time.monotonic() >= heartbeat_due:
                    self.broadcast(HEARTBEAT)
                else:
                    continue
                heartbeat_due = time.monotonic() + self.hub.heartbeat_ms / 1000
        finally:
            self.hub._forget(self)  # synchronous with the emptiness check: no join can slip in
            self.started.set()  # a subscriber waiting for the position finds `interrupted`
            await client.aclose()

    async def stop_when_idle(self) -> None:
        """Unblock this reader's XREAD once it has no subscribers, so it closes at once."""
        for _attempt in range(40):
            if self.task.done() or self.subscribers:
                return
            if self.client_id is not None:
                try:
                    if await self.hub.client().client_unblock(self.client_id):
                        return
                except Exception:  # Redis gone: the reader notices by itself
                    return
            await asyncio.sleep(0.025)  # not blocked yet (connecting, or between reads)

    def broadcast(self, item: Any) -> None:
        lagging = [sub for sub in self.subscribers if not sub.push(item)]
        for sub in lagging:
            self.subscribers.discard(sub)
        self.hub.stats["dropped"] += len(lagging)

    def interrupt(self, reason: str) -> None:
        item = Interrupted(reason)
        for sub in self.subscribers:
            sub.push(item)
        self.subscribers.clear()

    def _maybe_touch(self) -> None:
        if not self.touch or time.monotonic() - self._touched < TOUCH_EVERY_S:
            return
        self._touched = time.monotonic()
        task = asyncio.get_running_loop().create_task(self._touch(dict(self.touch)))
        self.hub.pending.add(task)  # the hub holds it until done, even after this reader stops
        task.add_done_callback(self.hub.pending.discard)

    async def _touch(self, keys: dict[str, int]) -> None:
        try:
            async with self.hub.client().pipeline(transaction=False) as pipe:
                for key, ttl in keys.items():
                    pipe.set(key, "sse", ex=ttl)
                await pipe.execute()
        except Exception as exc:  # best effort: a missed refresh only risks an idle pause
            log.warning("keep-alive of %s failed: %s", list(keys), exc)


class Hub:
    """The readers of one event loop, and a pooled client for short commands (XRANGE, SET)."""

    def __init__(self) -> None:
        self.readers: dict[str, Reader] = {}
        self.heartbeat_ms = HEARTBEAT_MS
        self.wake_ms = WAKE_MS
        self.pending: set[asyncio.Task] = set()
        # readers started, subscribers dropped for lagging, catch-up XRANGE pages read
        self.stats = {"readers": 0, "dropped": 0, "catch_up_pages": 0}
        self._clients: dict[str, aioredis.Redis] = {}

    def client(self) -> aioredis.Redis:
        url = settings.REDIS_URL
        client = self._clients.get(url)
        if client is None:
            pool = aioredis.BlockingConnectionPool.from_url(
                url,
                max_connections=50,  # a burst of connects waits for one, never fails fast
                timeout=30,
                decode_responses=True,
                socket_timeout=30,
                socket_connect_timeout=2,
            )
            client = self._clients[url] = aioredis.Redis(connection_pool=pool)
        return client

    async def join(self, key: str, sub: Subscription, touch: tuple[str, int] | None) -> str | None:
        """Register `sub` for entries of `key`; the reader's position: every entry after it
        reaches `sub` live. None when the reader failed (`sub` then holds `interrupted`)."""
        reader = self.readers.get(key)
        if reader is None:
            reader = self.readers[key] = Reader(self, key)
            self.stats["readers"] += 1
        reader.subscribers.add(sub)  # before any await: no batch can pass `sub` by
        if touch is not None and touch[0] not in reader.touch:
            reader.touch[touch[0]] = touch[1]
            reader._touched = 0.0
        sub.lagging = False
        if reader.position is None:
            await reader.started.wait()
        return reader.position

    def leave(self, key: str, sub: Subscription) -> None:
        """Unregister `sub`; the last one out wakes the reader, which then closes."""
        reader = self.readers.get(key)
        if reader is None:
            return
        reader.subscribers.discard(sub)
        if not reader.subscribers:
            task = asyncio.get_running_loop().create_task(reader.stop_when_idle())
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)

    async def short(self, coro: Awaitable[T]) -> T:
        """Await a short Redis command in a task of its own that a disconnect cannot cancel.

        A cancel landing just as redis-py starts a command can be swallowed and leave the task
        hanging on its socket with a pool connection (redis/redis-py#2028, #2551); shielded, the
        command just finishes and gives its connection back.
        """
        task = asyncio.ensure_future(coro)
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)
        return await asyncio.shield(task)

    async def aclose(self) -> None:
        """Close the pooled clients (for a loop that ends; uvicorn's lives as long as the process)."""
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    def _forget(self, reader: Reader) -> None:
        if self.readers.get(reader.key) is reader:
            del self.readers[reader.key]

    def reader_count(self) -> int:
        return len(self.readers)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def get_hub() -> Hub:
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub()
    return hub


async def subscribe(
    key: str,
    last_id: str,
    *,
    name_of: NameOf | None = None,
    decode: Decode | None = None,
    is_terminal: Callable[[str, Any], bool] | None = None,
    before: list[bytes] | None = None,
    touch: tuple[str, int] | None = None,
) -> AsyncIterator[Frame | bytes]:
    """Frames of stream `key` after `last_id` (`$`: from now), in order, until a terminal entry.

    Yields `Frame`s (shared, never mutate them), the `before` byte strings first, `HEARTBEAT`,
    and a final `Frame` named `interrupted` if Redis fails. `touch=(key, ttl)` keeps `key` set
    while anyone in this process streams this stream.
    """
    hub = get_hub()
    sub = Subscription()
    try:
        position = await hub.join(key, sub, touch)
        if last_id == "$":  # from now on: from the live feed's position
            last_id = position or "0-0"
        last = id_key(last_id)
        for chunk in before or ():
            yield chunk
        while True:
            # Older than the live feed's position: read the gap ourselves.
            while position is not None and last < id_key(position):
                try:
                    page = await hub.short(
                        hub.client().xrange(key, min=next_id(last_id), count=READ_COUNT)
                    )
                    hub.stats["catch_up_pages"] += 1
                except Exception as exc:
                    yield interrupted_frame(f"event stream lost: {exc}")
                    return
                for entry_id, fields in page:
                    entry = Entry(entry_id, fields)
                    frame = entry.frame(name_of, decode)
                    last, last_id = entry.key, entry.id
                    if frame.name:
                        yield frame
                        if is_terminal is not None and is_terminal(frame.name, frame.data):
                            return
                if len(page) < READ_COUNT:
                    break
            while True:
                if not sub.items:
                    if sub.lagging:
                        break
                    await sub.wait()
                    continue
                item = sub.items.popleft()
                if item is HEARTBEAT:
                    yield HEARTBEAT
                    continue
                if isinstance(item, Interrupted):
                    yield interrupted_frame(item.reason)
                    return
                for entry in item:
                    if entry.key <= last:
                        continue  # already sent during catch-up
                    frame = entry.frame(name_of, decode)
                    last, last_id = entry.key, entry.id
                    if frame.name:
                        yield frame
                        if is_terminal is not None and is_terminal(frame.name, frame.data):
                            return
            # Fell behind and was detached: catch up from `last_id`, then join again.
            position = await hub.join(key, sub, touch)
    finally:
        hub.leave(key, sub)


def interrupted_frame(reason: str) -> Frame:
    data = {"type": "interrupted", "reason": reason}
    return Frame("interrupted", data, format_frame(json.dumps(data), "interrupted"))
