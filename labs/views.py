"""Lab pages, run controls, commands, the live event stream and replays. Logic is in services."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import redis
from asgiref.sync import sync_to_async
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from config.health import check_redis
from config.permissions import LEARNER, PUBLIC, permission
from config.ratelimit import hit
from config.sse import format_event, resume_id, sse_response, stream_events
from config.sse_hub import get_hub
from labs import driver, replay, services
from labs.engines import CommandError, get_engine
from labs.models import LabRun
from labs.scenarios import get_scenario, labs_catalog

log = logging.getLogger(__name__)
START_LIMIT_PER_MINUTE = 10
COMMAND_LIMIT_PER_MINUTE = 120  # generous for sliders and buttons, stops scripted floods

CONTROL_ACTIONS = ("pause", "resume", "step", "speed", "stop", "reset")


def _scenario_or_404(lab: str, slug: str):
    try:
        return get_scenario(lab, slug)
    except LookupError:
        raise Http404("no such lab scenario") from None


@permission(PUBLIC)
@require_GET
def catalog(request: HttpRequest) -> HttpResponse:
    return render(request, "labs/catalog.html", {"labs": labs_catalog()})


def _page_context(request: HttpRequest, scenario, run: LabRun | None, mode: str) -> dict[str, Any]:
    engine_cls = get_engine(scenario.lab)
    objectives = engine_cls.create(scenario.scenario, 0).objectives()
    groups: dict[str, list] = {}
    for command in engine_cls.command_schema():
        groups.setdefault(command.get("group") or "Commands", []).append(command)
    can_control = bool(run and request.user.is_authenticated and run.owner_id == request.user.pk)
    config = {
        "lab": scenario.lab,
        "mode": mode,
        "run": str(run.pk) if run else None,
        "status": run.status if run else None,
        "speed": run.speed if run else 1.0,
        "canControl": can_control,
        "staticUrl": "/static/labs/",
        "eventsUrl": reverse("labs:run_events", args=[run.pk]) if run else None,
        "commandUrl": reverse("labs:run_command", args=[run.pk]) if run else None,
        "replayUrl": reverse("labs:run_replay_json", args=[run.pk]) if run else None,
    }
    return {
        "labs_available": mode == "replay" or check_redis()["ok"],
        "scenario": scenario,
        "objectives": objectives,
        "command_groups": groups,
        "run": run,
        "can_control": can_control,
        "mode": mode,
        "speeds": services.SPEEDS,
        "config": config,
        "past_runs": services.runs_for(request.user, scenario.lab, scenario.slug)
        if request.user.is_authenticated
        else [],
    }


@permission(PUBLIC)
@require_GET
def lab_page(request: HttpRequest, lab: str, scenario: str) -> HttpResponse:
    found = _scenario_or_404(lab, scenario)
    run = None
    if request.user.is_authenticated:
        if request.GET.get("run"):
            run = services.visible_run(request.user, request.GET["run"])
            if (run.lab, run.scenario_slug) != (lab, scenario):
                raise Http404("no such lab run")
        else:
            run = services.current_run(request.user, lab, scenario)
    return render(request, "labs/lab.html", _page_context(request, found, run, "live"))


@permission(LEARNER)
@require_POST
def start(request: HttpRequest, lab: str, scenario: str) -> HttpResponse:
    _scenario_or_404(lab, scenario)
    page = reverse("labs:lab_page", args=[lab, scenario])
    verdict = hit("lab-start", str(request.user.pk), limit=START_LIMIT_PER_MINUTE, window_s=60)
    if not verdict.allowed:
        messages.error(request, verdict.message)
        return redirect(page)
    try:
        run = services.start_run(request.user, lab, scenario)
    except services.LabError as exc:
        messages.error(request, str(exc))
        return redirect(page)
    return redirect(f"{page}?run={run.pk}")


def _run_page(run: LabRun) -> str:
    return reverse("labs:lab_page", args=[run.lab, run.scenario_slug]) + f"?run={run.pk}"


@permission(LEARNER)
@require_POST
def control(request: HttpRequest, run_id, action: str) -> HttpResponse:
    if action not in CONTROL_ACTIONS:
        raise Http404("no such control")
    run = services.visible_run(request.user, run_id, control=True)
    error = ""
    try:
        if action == "pause":
            run = services.pause_run(run)
        elif action == "resume":
            run = services.resume_run(run)
        elif action == "step":
            run = services.step_run(run)
        elif action == "speed":
            run = services.set_speed(run, request.POST.get("speed"))
        elif action == "stop":
            run = services.stop_run(run)
        else:
            new = services.reset_run(run)
            if request.htmx:
                response = HttpResponse(status=204)
                response["HX-Redirect"] = _run_page(new)
                return response
            return redirect(_run_page(new))
    except (services.LabError, redis.RedisError) as exc:
        error = str(exc)
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect(_run_page(run))
    return render(
        request,
        "labs/partials/run_status.html",
        {"run": run, "error": error, "speeds": services.SPEEDS, "can_control": True},
        status=400 if error else 200,
    )


@permission(LEARNER)
@require_POST
def command(request: HttpRequest, run_id) -> HttpResponse:
    run = services.visible_run(request.user, run_id, control=True)
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
    else:
        data = request.POST
    verdict = hit("lab-command", str(request.user.pk), limit=COMMAND_LIMIT_PER_MINUTE, window_s=60)
    if not verdict.allowed:
        return _command_reply(request, {"ok": False, "error": verdict.message}, 429)
    try:
        queued = services.enqueue_command(run, data)
    except CommandError as exc:
        return _command_reply(request, {"ok": False, "error": str(exc)}, 400)
    except redis.RedisError as exc:
        log.warning("lab command not queued: %s", exc)
        return _command_reply(request, {"ok": False, "error": services.UNAVAILABLE}, 503)
    return _command_reply(request, {"ok": True, "command": queued}, 200)


def _command_reply(request: HttpRequest, result: dict[str, Any], status: int) -> HttpResponse:
    if request.content_type == "application/json" or "application/json" in request.headers.get(
        "Accept", ""
    ):
        return JsonResponse(result, status=status)
    if not request.htmx:
        run_id = request.resolver_match.kwargs["run_id"]
        run = LabRun.objects.get(pk=run_id)
        if result["ok"]:
            messages.success(request, "Command queued for the next slice.")
        else:
            messages.error(request, result["error"])
        return redirect(_run_page(run))
    return render(request, "labs/partials/command_result.html", result, status=status)


@permission(LEARNER)
@require_GET
def replay_page(request: HttpRequest, run_id) -> HttpResponse:
    run = services.visible_run(request.user, run_id, replay=True)
    scenario = _scenario_or_404(run.lab, run.scenario_slug)
    context = _page_context(request, scenario, run, "replay")
    context["can_control"] = False
    context["config"]["canControl"] = False
    return render(request, "labs/lab.html", context)


@permission(LEARNER)
@require_GET
def replay_json(request: HttpRequest, run_id) -> JsonResponse:
    run = services.visible_run(request.user, run_id, replay=True)
    return JsonResponse({"run": str(run.pk), "lab": run.lab, "entries": replay.replay_entries(run)})


async def _stream_start(run: LabRun, request: HttpRequest) -> tuple[str, str | None, str | None]:
    """(where to resume, the snapshot frame, a terminal frame if the run has already ended).

    Uses the SSE hub's pooled asyncio client (the shared sync pool runs out when hundreds of
    streams connect at once, since each ASGI request has its own thread), shielded from a
    disconnect's cancellation (`Hub.short`).
    """
    hub = get_hub()

    async def read() -> list[Any]:
        async with hub.client().pipeline(transaction=True) as pipe:
            pipe.get(driver.state_key(run.pk))
            pipe.xrevrange(driver.events_key(run.pk), count=1)
            return await pipe.execute()

    raw, tail = await hub.short(read())
    checkpoint = json.loads(raw) if raw else None
    tail_id = tail[0][0] if tail else "0-0"
    explicit = resume_id(request, default="")
    snapshot = None
    if checkpoint is not None:
        snapshot = format_event(
            {
                "type": "snapshot",
                "t": checkpoint["sim_ms"],
                "snapshot": checkpoint["snapshot"],
                "objectives": checkpoint["objectives"],
                "status": run.status,
                "speed": run.speed,
            },
            event="snapshot",
        )
    terminal = None
    ended = run.is_terminal or checkpoint is None or checkpoint.get("ended")
    if checkpoint is None or (ended and not explicit):
        terminal = format_event(
            {
                "type": "end",
                "t": run.sim_ms,
                "status": run.status,
                "reason": run.failure_reason,
                "objectives": checkpoint["objectives"] if checkpoint else [],
                "summary": run.summary,
            },
            event="end",
        )
    return explicit or tail_id, snapshot, terminal


def _event_name(data: Any) -> str:
    kind = data.get("type") if isinstance(data, dict) else None
    return kind if kind in ("tick", "end") else "message"


def _is_end(name: str, _data: Any) -> bool:
    return name == "end"


@permission(LEARNER)
async def run_events(request: HttpRequest, run_id) -> HttpResponse:
    """The run's live events (SSE) from the process's fan-out hub: one Redis reader per run.

    The hub also keeps the run's watchers key set while anyone streams it, so the run is not
    paused as idle (`touch`).
    """
    user = await request.auser()
    run = await sync_to_async(services.visible_run)(user, run_id)
    try:
        last_id, snapshot, terminal = await _stream_start(run, request)
    except redis.RedisError as exc:
        frame = format_event({"type": "interrupted", "reason": str(exc)}, event="interrupted")
        return sse_response(_frames([frame]))
    if terminal is not None:
        return sse_response(_frames([f for f in (snapshot, terminal) if f]))

    async def before() -> list[str]:
        return [snapshot] if snapshot else []

    frames = stream_events(
        driver.events_key(run.pk),
        last_id,
        name_of=_event_name,
        is_terminal=_is_end,
        before=before,
        touch=(driver.watchers_key(run.pk), driver.WATCH_TTL_S),
        as_bytes=True,
    )
    return sse_response(frames)


async def _frames(frames: list[str]) -> AsyncIterator[str]:
    for frame in frames:
        yield frame
