"""The driver: one slice of a run at a time, committed atomically to Redis.

Keys of run R (all JSON strings unless noted):
- lab:R:state     checkpoint {seq, engine, snapshot, objectives, log, sim_ms, at, ended}
- lab:R:commands  list of queued commands, drained by the next slice
- lab:R:events    stream (capped ~5000): engine events, `tick` and `end` entries, field `data`
- lab:R:watchers  present (TTL) while a browser streams the run; its absence pauses the run

A slice WATCHes the checkpoint and the command list, computes, then MULTI/EXECs the events and
the new checkpoint (seq + 1). A redelivered or duplicated tick carries an old seq and is a
no-op, so a killed worker loses at most the slice it was computing.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import redis
from django.db import transaction
from django.utils import timezone

from config import events as learning_events
from config import request_id
from config.redis import get_redis
from labs.engines import CommandError, get_engine
from labs.models import LabRun

log = logging.getLogger(__name__)

SLICE_MS = 1000  # simulated ms per slice at speed 1
SLICE_WALL_S = 1.0  # wall time between slices
ROW_EVERY = 10  # copy the checkpoint's progress to the database every this many slices
STREAM_MAXLEN = 5000
WATCH_TTL_S = 120  # idle timeout: a run nobody watches for this long is paused
KEEP_AFTER_END_S = 24 * 3600
Status = LabRun.Status


def state_key(run_id: Any) -> str:
    return f"lab:{run_id}:state"


def commands_key(run_id: Any) -> str:
    return f"lab:{run_id}:commands"


def events_key(run_id: Any) -> str:
    return f"lab:{run_id}:events"


def watchers_key(run_id: Any) -> str:
    return f"lab:{run_id}:watchers"


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def read_checkpoint(run_id: Any, client: redis.Redis | None = None) -> dict[str, Any] | None:
    raw = (client or get_redis()).get(state_key(run_id))
    return json.loads(raw) if raw else None


def load_engine(run: LabRun, checkpoint: dict[str, Any]):
    return get_engine(run.lab).load(checkpoint["engine"])


def init_run(run: LabRun, queue: str | None = None) -> dict[str, Any]:
    """Build the engine at t=0 and write the first checkpoint (fresh keys).

    `queue` pins the run's ticks to one Celery queue (tests use it to own a worker).
    """
    engine = get_engine(run.lab).create(run.scenario, run.seed)
    checkpoint = {
        "seq": 0,
        "engine": engine.dump(),
        "snapshot": engine.snapshot(),
        "objectives": engine.objectives(),
        "log": [],
        "sim_ms": engine.now_ms,
        "at": time.time(),
        "due": time.time(),
        "queue": queue,
        "ended": False,
        # the request that started the run: the slices log and publish under it
        "request_id": request_id.get(),
    }
    client = get_redis()
    pipe = client.pipeline()
    pipe.delete(events_key(run.pk), commands_key(run.pk))
    pipe.set(state_key(run.pk), dumps(checkpoint))
    pipe.set(watchers_key(run.pk), "start", ex=WATCH_TTL_S)
    pipe.execute()
    return checkpoint


def _tick_entry(checkpoint: dict[str, Any], speed: float) -> dict[str, Any]:
    return {
        "type": "tick",
        "t": checkpoint["sim_ms"],
        "seq": checkpoint["seq"],
        "speed": speed,
        "snapshot": checkpoint["snapshot"],
        "objectives": checkpoint["objectives"],
    }


def advance_slice(
    run_id: Any,
    seq: int,
    *,
    step: bool = False,
    info: dict[str, Any] | None = None,
    run: LabRun | None = None,
) -> str:
    """Advance run `run_id` by one slice if its checkpoint is at `seq`.

    `run` saves the row lookup when the caller (the pump) fetched a batch of rows at once.
    Returns "advanced", "ended", "stale" (old seq: nothing done), "inactive", "idle" or "failed".
    """
    if run is None:
        try:
            run = LabRun.objects.get(pk=run_id)
        except LabRun.DoesNotExist:
            return "inactive"
    allowed = (Status.PAUSED, Status.RUNNING) if step else (Status.QUEUED, Status.RUNNING)
    if run.status not in allowed:
        return "inactive"
    try:
        client = get_redis()
        for _attempt in range(5):
            try:
                result = _try_slice(client, run, seq, step)
            except redis.WatchError:
                continue  # a command arrived (or another tick won): look again
            if result is None:
                return "stale"
            if result == "idle":
                pause_for_idle(run)
                return "idle"
            checkpoint, new_objectives, ended, commanded = result
            if info is not None:
                info["due"] = checkpoint["due"]
                info["queue"] = checkpoint.get("queue")
            # The checkpoint is the truth while a run lives; the row follows it when something
            # a reader cares about changed, and every few slices (SQLite writes cost ms each).
            if ended or new_objectives or commanded or checkpoint["seq"] % ROW_EVERY == 1:
                with request_id.scope(checkpoint.get("request_id") or request_id.get()):
                    _record_slice(run, checkpoint, new_objectives, ended)
            return "ended" if ended else "advanced"
        return "stale"
    except redis.RedisError as exc:
        mark_failed(run.pk, f"Redis unavailable during a tick: {exc}")
        return "failed"


def _try_slice(client: redis.Redis, run: LabRun, seq: int, step: bool = False):
    keys = (state_key(run.pk), commands_key(run.pk))
    with client.pipeline() as pipe:
        pipe.watch(*keys)
        raw, watched = pipe.mget(keys[0], watchers_key(run.pk))
        if raw is None:
            pipe.unwatch()
            raise redis.RedisError("the run's checkpoint is missing")
        checkpoint = json.loads(raw)
        if checkpoint["seq"] != seq or checkpoint.get("ended"):
            pipe.unwatch()
            return None
        if watched is None and not step:
            pipe.unwatch()
            return "idle"
        queued = pipe.lrange(keys[1], 0, -1)
        engine = load_engine(run, checkpoint)
        before = {o["id"] for o in checkpoint["objectives"] if o.get("met")}
        out: list[dict[str, Any]] = []
        for raw_command in queued:
            out.append(apply_logged(engine, json.loads(raw_command), checkpoint["log"]))
        to_ms = min(engine.now_ms + max(1, int(SLICE_MS * run.speed)), run.duration_ms)
        if to_ms > engine.now_ms:
            out.extend(engine.advance(to_ms))
        ended = engine.now_ms >= run.duration_ms or engine.finished
        now = time.time()
        due = checkpoint.get("due", now) + SLICE_WALL_S
        checkpoint.update(
            seq=seq + 1,
            # when the next slice is due: anchored to the run's own clock so scheduling delays
            # do not accumulate; after a long stall (pause, dead worker) it restarts from now
            due=due if due > now - 2 * SLICE_WALL_S else now,
            engine=engine.dump(),
            snapshot=engine.snapshot(),
            objectives=engine.objectives(),
            sim_ms=engine.now_ms,
            at=now,
            ended=ended,
        )
        if ended:
            checkpoint["summary"] = engine.summary()
        pipe.multi()
        stream = events_key(run.pk)
        for event in out:
            pipe.xadd(stream, {"data": dumps(event)}, maxlen=STREAM_MAXLEN, approximate=True)
        pipe.xadd(stream, {"data": dumps(_tick_entry(checkpoint, run.speed))})
        if ended:
            pipe.xadd(stream, {"data": dumps(_end_entry(checkpoint, "finished", ""))})
            for key in (*keys, stream, watchers_key(run.pk)):
                pipe.expire(key, KEEP_AFTER_END_S)
        pipe.set(keys[0], dumps(checkpoint), keepttl=True)
        pipe.ltrim(keys[1], len(queued), -1)
        pipe.execute()
    met = {o["id"] for o in checkpoint["objectives"] if o.get("met")}
    return checkpoint, sorted(met - before), ended, bool(queued)


def apply_logged(engine, command: dict[str, Any], command_log: list) -> dict[str, Any]:
    """Apply one command at the engine's time; log it (applied or refused) for replay.

    A queued command may carry `_request_id` (the POST that sent it): it is not part of the
    command; it goes into the acknowledgement so one id follows the click into the stream.
    """
    command = dict(command)
    request = command.pop("_request_id", "")
    traced = {"request_id": request} if request else {}
    at = engine.now_ms
    try:
        ack = engine.apply(command)
    except CommandError as exc:
        command_log.append({"t": at, "command": command, "rejected": str(exc), **traced})
        return {
            "t": at,
            "type": "command_rejected",
            "command": command,
            "reason": str(exc),
            **traced,
        }
    command_log.append({"t": at, "command": command, **traced})
    ack = dict(ack or {})
    ack.setdefault("type", "command_applied")
    ack.setdefault("command", command)
    ack["t"] = at
    ack.update(traced)
    return ack


def _end_entry(checkpoint: dict[str, Any], status: str, reason: str) -> dict[str, Any]:
    return {
        "type": "end",
        "t": checkpoint["sim_ms"],
        "status": status,
        "reason": reason,
        "objectives": checkpoint["objectives"],
        "summary": checkpoint.get("summary", {}),
    }


def _record_slice(
    run: LabRun, checkpoint: dict[str, Any], new_objectives: list[str], ended: bool
) -> None:
    met = [o["id"] for o in checkpoint["objectives"] if o.get("met")]
    fields: dict[str, Any] = {
        "sim_ms": checkpoint["sim_ms"],
        "tick_seq": checkpoint["seq"],
        "objectives_met": met,
        "command_log": checkpoint["log"],
    }
    with transaction.atomic():
        LabRun.objects.filter(pk=run.pk, status=Status.QUEUED).update(
            status=Status.RUNNING, started_at=timezone.now()
        )
        if ended:
            fields.update(
                status=Status.FINISHED, finished_at=timezone.now(), summary=checkpoint["summary"]
            )
        LabRun.objects.filter(pk=run.pk).update(**fields)
    titles = {o["id"]: o.get("title", o["id"]) for o in checkpoint["objectives"]}
    for objective in new_objectives:
        learning_events.publish(
            "objective_met",
            run.owner_id,
            run.owner.username,
            lab=run.lab,
            scenario=run.scenario_slug,
            run=str(run.pk),
            objective=objective,
            title=titles.get(objective, objective),
        )


def end_run(run: LabRun, status: str, reason: str = "") -> None:
    """Stop a run for good: a terminal `end` entry in its stream, summary into the row."""
    client = get_redis()
    checkpoint: dict[str, Any] | None = None
    try:
        for _attempt in range(5):
            with client.pipeline() as pipe:
                try:
                    pipe.watch(state_key(run.pk))
                    raw = pipe.get(state_key(run.pk))
                    checkpoint = json.loads(raw) if raw else None
                    if checkpoint is None or checkpoint.get("ended"):
                        pipe.unwatch()
                        break
                    engine = load_engine(run, checkpoint)
                    checkpoint.update(
                        seq=checkpoint["seq"] + 1,
                        ended=True,
                        summary=engine.summary(),
                        objectives=engine.objectives(),
                    )
                    pipe.multi()
                    pipe.xadd(
                        events_key(run.pk),
                        {"data": dumps(_end_entry(checkpoint, status, reason))},
                        maxlen=STREAM_MAXLEN,
                        approximate=True,
                    )
                    pipe.set(state_key(run.pk), dumps(checkpoint))
                    for key in (state_key(run.pk), events_key(run.pk), commands_key(run.pk)):
                        pipe.expire(key, KEEP_AFTER_END_S)
                    pipe.execute()
                    break
                except redis.WatchError:
                    continue
    except redis.RedisError as exc:
        reason = reason or f"Redis unavailable: {exc}"
    fields: dict[str, Any] = {"status": status, "finished_at": timezone.now()}
    if reason:
        fields["failure_reason"] = reason[:500]
    if checkpoint is not None:
        fields.update(
            sim_ms=checkpoint["sim_ms"],
            tick_seq=checkpoint["seq"],
            summary=checkpoint.get("summary", {}),
            objectives_met=[o["id"] for o in checkpoint["objectives"] if o.get("met")],
            command_log=checkpoint["log"],
        )
    LabRun.objects.filter(pk=run.pk).update(**fields)


def mark_failed(run_id: Any, reason: str) -> None:
    LabRun.objects.filter(pk=run_id, status__in=LabRun.ACTIVE).update(
        status=Status.FAILED, failure_reason=reason[:500], finished_at=timezone.now()
    )


def pause_for_idle(run: LabRun) -> None:
    updated = LabRun.objects.filter(pk=run.pk, status__in=(Status.QUEUED, Status.RUNNING)).update(
        status=Status.PAUSED
    )
    if updated:
        checkpoint = read_checkpoint(run.pk) or {"sim_ms": 0}
        get_redis().xadd(
            events_key(run.pk),
            {"data": dumps({"type": "paused", "t": checkpoint["sim_ms"], "reason": "idle"})},
            maxlen=STREAM_MAXLEN,
            approximate=True,
        )


def publish_control(run: LabRun, kind: str, **fields: Any) -> None:
    """A platform event (paused, resumed, speed) in the run's stream, at its simulated time."""
    checkpoint = read_checkpoint(run.pk) or {"sim_ms": 0}
    traced = request_id.get()
    if traced:
        fields["request_id"] = traced
    get_redis().xadd(
        events_key(run.pk),
        {"data": dumps({"type": kind, "t": checkpoint["sim_ms"], **fields})},
        maxlen=STREAM_MAXLEN,
        approximate=True,
    )
