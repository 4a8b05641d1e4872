"""The slice scheduler: due slices in a Redis sorted set, advanced in batches by pump tasks.

One Celery task per slice costs more in Celery (publish, ETA timer, pool hand-off, ack) than
the slice itself, so two worker processes saturated near 60-80 runs. Instead:

- `lab:due:<queue>` (sorted set) holds one member `<run id>:<seq>` per live run, scored by the
  wall time its next slice is due. The seq is the checkpoint seq the slice expects, so a
  member that is claimed twice (watchdog re-kick after a crash) is a no-op the second time.
- *Lanes*: `LAB_PUMP_LANES` (default 2) per queue live while any run is due, each a chain of
  `labs.pump` tasks; a pump whose slices started more than 250 ms late starts one more lane
  (up to `LAB_PUMP_MAX_LANES`, default 16) so added workers get used, and an extra lane that
  finds every slice on time lets go. A pump claims due members atomically (Lua: range +
  remove), advances each run by one slice (`driver.advance_slice`), puts the run's next slice
  back in the set, and keeps going for about a second; then it hands over to the next task of
  its lane (countdown = until the next slice is due) so other tasks get the process in between.
- `lab:pump:<queue>:<lane>` holds the lane's token while a pump of that lane is running or
  waiting (TTL). A pump whose token is not the lane's exits, so a lane never runs twice for
  long. A lane whose key expired (its worker died) is restarted by the watchdog.

A worker killed mid-batch loses the members it had claimed; the watchdog puts back any run whose
checkpoint is older than a few seconds, at the seq the checkpoint holds, so at most the slice
being computed is lost (and it is recomputed, never applied twice).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from typing import Any

import redis
from django.conf import settings

from config.metrics import TICK_LAG_KEY
from config.redis import get_redis
from labs import driver
from labs.models import LabRun

log = logging.getLogger(__name__)

QUEUES_KEY = "lab:queues"  # every Celery queue a run was ever scheduled on ("" = default)
BUDGET_S = 1.0  # a pump keeps its process about this long, then hands over
IDLE_HANDOVER_S = 0.05  # nothing due within this long: free the process until it is
LANE_TTL_S = 5.0  # a lane key outlives its pump by this long (then the watchdog restarts it)
CLAIM_BATCH = 16
SATURATED_AFTER_S = 2.0  # slices waiting this long for a running pump: refuse new runs
GROW_AFTER_LATE_S = 0.25  # a pump whose slices started this late starts one more lane
SHRINK_BELOW_LATE_S = 0.05  # an extra lane whose slices all started sooner than this ends

# Atomically take up to ARGV[2] members due at or before ARGV[1]: {member, due, member, ...}.
_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, ARGV[2])
for i = 1, #due, 2 do redis.call('ZREM', KEYS[1], due[i]) end
return due
"""
# Hold the lane: ours already, or free (then take it). Returns 1 when held.
_HOLD = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] or not current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
# Let go of the lane if it is still ours.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def lanes() -> int:
    """Lanes kept alive per queue while any run is due."""
    return max(1, int(getattr(settings, "LAB_PUMP_LANES", 2)))


def max_lanes() -> int:
    """Lanes a queue may grow to while slices start late (more worker processes to use)."""
    return max(lanes(), int(getattr(settings, "LAB_PUMP_MAX_LANES", 16)))


def due_key(queue: str | None) -> str:
    return f"lab:due:{queue or ''}"


def lane_key(queue: str | None, lane: int) -> str:
    return f"lab:pump:{queue or ''}:{lane}"


def alive_key(queue: str | None) -> str:
    """Set (TTL) by every pump as it hands over: some worker is serving this queue."""
    return f"lab:pumps-alive:{queue or ''}"


def member(run_id: Any, seq: int) -> str:
    return f"{run_id}:{seq}"


def schedule(
    run_id: Any,
    seq: int,
    *,
    due: float | None = None,
    queue: str | None = None,
    client: redis.Redis | None = None,
) -> bool:
    """Make slice `seq` of run `run_id` due at `due` (now by default). True if newly added.

    A member already waiting keeps its place (NX), so re-kicking a queued run adds nothing.
    """
    client = client or get_redis()
    added = client.zadd(due_key(queue), {member(run_id, seq): due or time.time()}, nx=True)
    client.sadd(QUEUES_KEY, queue or "")
    ensure_lanes(queue, client)
    return bool(added)


def ensure_lanes(queue: str | None, client: redis.Redis | None = None) -> int:
    """Start a pump for every lane of `queue` that has none. Returns how many were started."""
    client = client or get_redis()
    return sum(_start_lane(client, queue, lane) for lane in range(lanes()))


def _start_lane(client: redis.Redis, queue: str | None, lane: int) -> bool:
    token = uuid.uuid4().hex
    if client.set(lane_key(queue, lane), token, nx=True, px=int(LANE_TTL_S * 1000)):
        _send(queue, lane, token, 0.0)
        return True
    return False


def add_lane(queue: str | None, client: redis.Redis | None = None) -> int | None:
    """Start one extra lane (beyond `lanes()`, up to `max_lanes()`); its number, or None."""
    client = client or get_redis()
    for lane in range(lanes(), max_lanes()):
        if _start_lane(client, queue, lane):
            return lane
    return None


def _send(queue: str | None, lane: int, token: str, countdown: float) -> None:
    from labs.tasks import pump  # tasks import this module

    options: dict[str, Any] = {"queue": queue} if queue else {}
    # A lane serves every run, so it must not inherit the id of the request that woke it
    # ("" = a fresh id per pump task); each slice runs under its run's own id (driver).
    pump.apply_async(
        (queue, lane, token), countdown=countdown, headers={"request_id": ""}, **options
    )


def run_lane(queue: str | None, lane: int, token: str) -> dict[str, int]:
    """One pump task: advance due runs for about BUDGET_S, then hand the lane over."""
    client = get_redis()
    key, due = lane_key(queue, lane), due_key(queue)
    hold = client.register_script(_HOLD)
    hold_ms = int((BUDGET_S + LANE_TTL_S) * 1000)
    if not hold(keys=[key], args=[token, hold_ms]):
        return {"superseded": 1}
    claim = client.register_script(_CLAIM)
    outcomes: Counter[str] = Counter()
    deadline = time.monotonic() + BUDGET_S
    next_due: float | None = None
    lateness = 0.0  # the latest any slice of this pump started after its due time (s)
    while True:
        claimed = claim(keys=[due], args=[time.time(), CLAIM_BATCH])
        if claimed:
            lateness = max(lateness, time.time() - float(claimed[1]))  # oldest first
            _advance_batch(client, queue, claimed[::2], outcomes)
            if time.monotonic() >= deadline:
                break
            continue
        head = client.zrange(due, 0, 0, withscores=True)
        if not head:
            # Nothing left: free the lane. A run scheduled between the peek and the release
            # found the lane held and started no pump, so look once more after letting go.
            _let_go(client, key, token)
            if client.zcard(due):
                ensure_lanes(queue, client)
            return dict(outcomes)
        next_due = head[0][1]
        wait = next_due - time.time()
        if wait > IDLE_HANDOVER_S or time.monotonic() + wait >= deadline:
            break
        time.sleep(max(0.0, wait))
    # /metrics reports the worst lane: how late slices start when the workers fall behind
    client.hset(TICK_LAG_KEY, key, round(lateness * 1000))
    client.set(alive_key(queue), "1", ex=int(LANE_TTL_S))
    if lateness > GROW_AFTER_LATE_S:
        add_lane(queue, client)  # more lanes than processes just wait their turn in the queue
    elif lane >= lanes() and lateness < SHRINK_BELOW_LATE_S and (next_due or 0.0) > time.time():
        # an extra lane that found every slice on time is not needed any more
        _let_go(client, key, token)
        return dict(outcomes)
    countdown = max(0.0, (next_due or 0.0) - time.time())
    if hold(keys=[key], args=[token, int((countdown + LANE_TTL_S) * 1000)]):
        _send(queue, lane, token, countdown)
    return dict(outcomes)


def _let_go(client: redis.Redis, key: str, token: str) -> None:
    """End the lane if it is still ours; its lateness no longer counts in /metrics."""
    client.register_script(_RELEASE)(keys=[key], args=[token])
    client.hdel(TICK_LAG_KEY, key)


def _advance_batch(
    client: redis.Redis, queue: str | None, claimed: list[bytes], outcomes: Counter[str]
) -> None:
    parsed = []
    for raw in claimed:
        run_id, _, seq = (raw.decode() if isinstance(raw, bytes) else raw).rpartition(":")
        parsed.append((run_id, int(seq)))
    rows = LabRun.objects.in_bulk([run_id for run_id, _seq in parsed])
    for run_id, seq in parsed:
        run = rows.get(uuid.UUID(run_id))
        if run is None:
            outcomes["inactive"] += 1
            continue
        info: dict[str, Any] = {}
        outcome = driver.advance_slice(run_id, seq, info=info, run=run)
        outcomes[outcome] += 1
        if outcome == "advanced":
            client.zadd(due_key(queue), {member(run_id, seq + 1): info["due"]}, nx=True)


def saturated(queue: str | None = None, client: redis.Redis | None = None) -> bool:
    """Workers are serving this queue yet a slice has waited more than SATURATED_AFTER_S.

    With no worker at all this is False: new runs wait for a worker rather than being refused.
    """
    client = client or get_redis()
    oldest = client.zrange(due_key(queue), 0, 0, withscores=True)
    if not oldest or time.time() - oldest[0][1] < SATURATED_AFTER_S:
        return False
    return bool(client.exists(alive_key(queue)))


def live_queues(client: redis.Redis | None = None) -> list[str | None]:
    client = client or get_redis()
    names = [raw.decode() if isinstance(raw, bytes) else raw for raw in client.smembers(QUEUES_KEY)]
    return [name or None for name in sorted(names)]


def revive_lanes(client: redis.Redis | None = None) -> int:
    """Start pumps for lanes that died (their key expired) on queues with slices waiting."""
    client = client or get_redis()
    started = 0
    for queue in live_queues(client):
        if client.zcard(due_key(queue)):
            started += ensure_lanes(queue, client)
    return started
