"""Redis clients for the whole project, built from settings.REDIS_URL at call time."""

from __future__ import annotations

import threading

import redis
import redis.asyncio as aioredis
from django.conf import settings

_lock = threading.Lock()
_clients: dict[str, redis.Redis] = {}


def get_redis() -> redis.Redis:
    """A shared, thread-safe (connection-pooled) client. socket_timeout stays above any XREAD BLOCK."""
    url = settings.REDIS_URL
    with _lock:
        client = _clients.get(url)
        if client is None:
            # Blocking pool: under a burst a thread waits briefly for a connection instead of
            # failing with "Too many connections".
            pool = redis.BlockingConnectionPool.from_url(
                url,
                max_connections=200,
                timeout=5,
                decode_responses=True,
                socket_timeout=30,
                socket_connect_timeout=2,
                health_check_interval=15,
            )
            client = redis.Redis(connection_pool=pool)
            _clients[url] = client
        return client


def new_async_redis() -> aioredis.Redis:
    """A fresh asyncio client; create it inside the coroutine that uses it and close it there."""
    return aioredis.Redis.from_url(
        settings.REDIS_URL, decode_responses=True, socket_timeout=60, socket_connect_timeout=2
    )
