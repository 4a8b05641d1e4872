"""Fixed-window rate limits kept in Redis, shared by every web process.

`hit("login", ip, limit=10, window_s=60)` counts one attempt and says whether it is allowed.
With Redis down, requests are allowed (logging in must not depend on the lab infrastructure).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.http import HttpRequest

from config.redis import get_redis

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_s: int

    @property
    def message(self) -> str:
        return f"Too many attempts. Try again in {self.retry_after_s} seconds."


def client_ip(request: HttpRequest) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted proxy rewrites it.
    return request.META.get("REMOTE_ADDR", "unknown")


def hit(scope: str, who: str, limit: int, window_s: int) -> Verdict:
    now = int(time.time())
    window = now // window_s
    key = f"ratelimit:{scope}:{who}:{window}"
    try:
        client = get_redis()
        pipe = client.pipeline()
        pipe.incr(key)
        pipe.expire(key, window_s + 1)
        count = pipe.execute()[0]
    except Exception as exc:
        log.warning("rate limit %s not enforced (redis unavailable): %s", scope, exc)
        return Verdict(True, 0)
    retry_after = (window + 1) * window_s - now
    return Verdict(count <= limit, max(1, retry_after))
