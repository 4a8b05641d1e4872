"""What views call: start and control runs, validate and queue commands. Views stay thin."""

from __future__ import annotations

import contextlib
import json
import logging
import random
from typing import Any

import redis
from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from config import request_id
from config.permissions import is_instructor
from config.redis import get_redis
from labs import driver, pump
from labs.engines import CommandError, get_engine
from labs.models import LabRun
from labs.scenarios import get_scenario

MAX_ACTIVE_RUNS = 3
MAX_QUEUED_TASKS = 2000  # back-pressure: refuse new runs while the broker queue is this deep
MAX_QUEUED_COMMANDS = 50
SPEEDS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
Status = LabRun.Status


log = logging.getLogger(__name__)
# Shown to learners; the Redis error itself (with internal addresses) goes to the log only.
UNAVAILABLE = "The lab service is unavailable right now; please try again in a few minutes."


class LabError(Exception):
    """A refused request; str(error) is shown to the learner."""


def _redis_guard(action: str):
    try:
        return get_redis()
    except redis.RedisError as exc:  # pragma: no cover - get_redis is lazy
        log.warning("lab service unavailable (%s): %s", action, exc)
        raise LabError(UNAVAILABLE) from exc


def start_run(
    user,
    lab: str,
    scenario_slug: str,
    seed: int | None = None,
    *,
    enqueue: bool = True,
    queue: str | None = None,
) -> LabRun:
    try:
        scenario = get_scenario(lab, scenario_slug)
    except LookupError as exc:
        raise LabError(str(exc)) from exc
    active = LabRun.objects.filter(owner=user, status__in=LabRun.ACTIVE).count()
    if active >= MAX_ACTIVE_RUNS:
        raise LabError(
            f"You already have {active} active lab runs (the limit is {MAX_ACTIVE_RUNS}). "
            "Stop one of them before starting another."
        )
    client = _redis_guard("start")
    try:
        if client.llen("celery") > MAX_QUEUED_TASKS or pump.saturated(queue, client):
            raise LabError("The lab workers are saturated right now; try again in a minute.")
    except redis.RedisError as exc:
        log.warning("lab service unavailable: %s", exc)
        raise LabError(UNAVAILABLE) from exc
    run = LabRun.objects.create(
        owner=user,
        lab=lab,
        scenario_slug=scenario_slug,
        scenario=scenario.scenario,
        duration_s=scenario.duration_s,
        seed=random.randrange(2**31) if seed is None else seed,
        status=Status.QUEUED,
        started_at=timezone.now(),
    )
    try:
        driver.init_run(run, queue)
        if enqueue:
            pump.schedule(run.pk, 0, queue=queue, client=client)
    except redis.RedisError as exc:
        driver.mark_failed(run.pk, f"Redis unavailable at start: {exc}")
        log.warning("lab service unavailable: %s", exc)
        raise LabError(UNAVAILABLE) from exc
    return run


def visible_run(user, run_id: Any, *, control: bool = False, replay: bool = False) -> LabRun:
    """The run if `user` may see it, else 404.

    The owner controls it; staff and the instructors of a cohort the owner belongs to watch it
    read-only; any instructor may open a replay link a learner shares.
    """
    try:
        run = LabRun.objects.select_related("owner").get(pk=run_id)
    except (LabRun.DoesNotExist, ValueError, TypeError):
        raise Http404("no such lab run") from None
    if run.owner_id == user.pk:
        return run
    if control:
        raise Http404("no such lab run")
    if user.is_staff or (replay and is_instructor(user)):
        return run
    from classroom.services import teaches  # classroom builds on labs, so import late

    if is_instructor(user) and teaches(user, run.owner_id):
        return run
    raise Http404("no such lab run")


def pause_run(run: LabRun) -> LabRun:
    if run.status not in (Status.QUEUED, Status.RUNNING):
        raise LabError(f"A {run.get_status_display().lower()} run cannot be paused.")
    LabRun.objects.filter(pk=run.pk).update(status=Status.PAUSED)
    driver.publish_control(run, "paused", reason="learner")
    run.refresh_from_db()
    return run


def resume_run(run: LabRun) -> LabRun:
    if run.status != Status.PAUSED:
        raise LabError("Only a paused run can be resumed.")
    checkpoint = driver.read_checkpoint(run.pk)
    if checkpoint is None or checkpoint.get("ended"):
        driver.end_run(run, Status.FAILED, "the run's saved state is gone")
        raise LabError("This run's saved state is gone; start a new run.")
    LabRun.objects.filter(pk=run.pk).update(status=Status.RUNNING)
    client = get_redis()
    client.set(driver.watchers_key(run.pk), "resume", ex=driver.WATCH_TTL_S)
    driver.publish_control(run, "resumed")
    pump.schedule(run.pk, checkpoint["seq"], queue=checkpoint.get("queue"), client=client)
    run.refresh_from_db()
    return run


def step_run(run: LabRun) -> LabRun:
    """One slice while paused (the learner steps through time)."""
    if run.status != Status.PAUSED:
        raise LabError("Pause the run before stepping it.")
    checkpoint = driver.read_checkpoint(run.pk)
    if checkpoint is None:
        raise LabError("This run's saved state is gone; start a new run.")
    driver.advance_slice(run.pk, checkpoint["seq"], step=True)
    run.refresh_from_db()
    return run


def set_speed(run: LabRun, raw: Any) -> LabRun:
    try:
        speed = float(raw)
    except (TypeError, ValueError):
        raise LabError("Speed must be a number.") from None
    if not LabRun.MIN_SPEED <= speed <= LabRun.MAX_SPEED:
        raise LabError(f"Speed must be between {LabRun.MIN_SPEED}× and {LabRun.MAX_SPEED:g}×.")
    if run.is_terminal:
        raise LabError("This run has ended.")
    LabRun.objects.filter(pk=run.pk).update(speed=speed)
    driver.publish_control(run, "speed", speed=speed)
    run.refresh_from_db()
    return run


def stop_run(run: LabRun) -> LabRun:
    if run.is_terminal:
        raise LabError("This run has already ended.")
    driver.end_run(run, Status.FINISHED, "stopped by the learner")
    run.refresh_from_db()
    return run


def reset_run(run: LabRun) -> LabRun:
    """Stop this run (if still active) and start a fresh one on the same scenario."""
    if run.is_active:
        driver.end_run(run, Status.FINISHED, "reset by the learner")
    return start_run(run.owner, run.lab, run.scenario_slug)


def coerce_command(lab: str, data: Any) -> dict[str, Any]:
    """Form fields (all strings) -> the typed command dict the engine's schema describes."""
    schema = {item["type"]: item for item in get_engine(lab).command_schema()}
    kind = str(data.get("type", ""))
    if kind not in schema:
        raise CommandError(f"unknown command {kind!r}")
    command: dict[str, Any] = {"type": kind}
    for spec in schema[kind].get("fields", []):
        name = spec["name"]
        label = spec.get("label", name)
        raw = data.get(name)
        if spec["kind"] == "bool":
            command[name] = str(raw).lower() in ("1", "true", "on", "yes")
            continue
        if raw is None or raw == "":
            if "default" in spec:
                command[name] = spec["default"]
                continue
            raise CommandError(f"{label}: a value is required")
        if spec["kind"] == "number":
            command[name] = _number(raw, spec, label)
        elif spec["kind"] == "select":
            choices = {str(value): value for value, _label in spec.get("choices", [])}
            if str(raw) not in choices:
                raise CommandError(f"{label}: {raw!r} is not one of the choices")
            command[name] = choices[str(raw)]
        else:
            command[name] = str(raw)[:500]
    return command


def _number(raw: Any, spec: dict[str, Any], label: str) -> int | float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise CommandError(f"{label}: {raw!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise CommandError(f"{label}: not a finite number")
    integral = all(
        float(spec.get(k, 0)).is_integer() for k in ("step", "min", "default") if k in spec
    )
    if integral and value.is_integer():
        return int(value)
    return value


def enqueue_command(run: LabRun, data: Any) -> dict[str, Any]:
    """Validate on a throwaway copy of the checkpoint, then queue for the next slice."""
    if run.status not in LabRun.ACTIVE:
        raise CommandError("this run has ended")
    command = coerce_command(run.lab, data)
    client = get_redis()
    checkpoint = driver.read_checkpoint(run.pk, client)
    if checkpoint is None:
        raise CommandError("this run's saved state is gone")
    trial = driver.load_engine(run, checkpoint)
    for raw in client.lrange(driver.commands_key(run.pk), 0, -1):
        # queued commands first, so the check sees the state the tick will see
        queued_command = json.loads(raw)
        queued_command.pop("_request_id", None)  # ours, not the engine's
        with contextlib.suppress(CommandError):
            trial.apply(queued_command)
    trial.apply(command)  # raises CommandError with the reason
    if client.llen(driver.commands_key(run.pk)) >= MAX_QUEUED_COMMANDS:
        raise CommandError("too many commands waiting; let the simulation catch up")
    queued = dict(command)
    if request_id.get():  # the driver moves it into the command_applied/rejected event
        queued["_request_id"] = request_id.get()
    client.rpush(driver.commands_key(run.pk), driver.dumps(queued))
    return command


def runs_for(user, lab: str, scenario_slug: str) -> list[LabRun]:
    return list(
        LabRun.objects.filter(owner=user, lab=lab, scenario_slug=scenario_slug).order_by(
            "-created_at"
        )[:10]
    )


def current_run(user, lab: str, scenario_slug: str) -> LabRun | None:
    return (
        LabRun.objects.filter(owner=user, lab=lab, scenario_slug=scenario_slug)
        .filter(Q(status__in=LabRun.ACTIVE))
        .order_by("-created_at")
        .first()
    )
