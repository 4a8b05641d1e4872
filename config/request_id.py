"""The current request id: one id follows a request through web, Celery tasks and lab events.

The middleware (config.middleware.RequestIdMiddleware) sets it for each HTTP request, Celery
signals (config.celery) carry it in a message header into every task the request starts (and
every task those tasks start), and the JSON log formatter (config.logging) writes it on every
line. Backed by a ContextVar, so each asyncio task and each sync_to_async thread sees its own.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import uuid
from collections.abc import Iterator

HEADER = "X-Request-ID"
# What we accept from a client or proxy: short, printable, no spaces or quotes (it is logged).
SAFE = re.compile(r"[A-Za-z0-9._-]{8,64}")  # used with fullmatch: no trailing newline slips in

_current: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def get() -> str:
    """The current request id, "" when none is set."""
    return _current.get()


def set(value: str) -> contextvars.Token:  # noqa: A001 (the module's API: request_id.set)
    return _current.set(value or "")


def reset(token: contextvars.Token) -> None:
    _current.reset(token)


def new_id() -> str:
    return uuid.uuid4().hex


def is_safe(value: str | None) -> bool:
    return isinstance(value, str) and SAFE.fullmatch(value) is not None


def accept(value: str | None) -> str:
    """An incoming id when it is safe to carry and log, else a new one."""
    return value if is_safe(value) else new_id()


@contextlib.contextmanager
def scope(value: str) -> Iterator[str]:
    """`with request_id.scope(rid):` makes `rid` current for the block (e.g. per lab run in a
    batch of runs advanced by one task), then restores the previous id."""
    token = set(value)
    try:
        yield value
    finally:
        reset(token)
