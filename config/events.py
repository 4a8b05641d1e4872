"""Learning events: lesson completed, question answered, lab objective met.

Apps call `publish()` after writing their own rows; the event is appended to a capped Redis
Stream that feeds the instructor dashboard's live view. Publishing never breaks the caller:
with Redis down the event is only logged, since the database rows are the record. Each event
carries the request id (config/request_id.py) of the request or task that published it.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from config import request_id
from config.redis import get_redis

log = logging.getLogger(__name__)
STREAM_KEY = "learning:events"
MAX_LEN = 10_000


def publish(kind: str, user_id: int, username: str, **fields: Any) -> str | None:
    event = {
        "type": kind,
        "user_id": user_id,
        "username": username,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        **fields,
    }
    if request_id.get() and "request_id" not in event:
        event["request_id"] = request_id.get()  # follow the event back to its request's logs
    try:
        return get_redis().xadd(
            STREAM_KEY, {"data": json.dumps(event)}, maxlen=MAX_LEN, approximate=True
        )
    except Exception as exc:  # the database row is the source of truth; the feed is best effort
        log.warning("learning event %s not published: %s", kind, exc)
        return None
