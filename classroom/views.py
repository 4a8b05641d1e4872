"""Classroom pages: cohorts, the dashboard, drill-down, reports, exports and the live feed.

Every view is INSTRUCTOR-only except joining and leaving (any signed-in learner). Object checks go through
services.cohort_for / learner_in, which answer 404 for cohorts the instructor does not teach.
"""

from __future__ import annotations

import json

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from classroom import exports, services, sources
from classroom.charts import bar_chart, heatmap_rows
from classroom.forms import AccommodationForm, CohortForm, EnrolForm, InstructorForm
from classroom.models import Cohort, Export
from config.events import STREAM_KEY
from config.permissions import INSTRUCTOR, LEARNER, permission
from config.sse import resume_id, sse_response, stream_events


@permission(INSTRUCTOR)
@require_http_methods(["GET", "POST"])
def cohort_list(request: HttpRequest) -> HttpResponse:
    form = CohortForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        cohort = services.create_cohort(
            request.user, form.cleaned_data["course"], form.cleaned_data["name"]
        )
        messages.success(request, f"Cohort “{cohort.name}” created.")
        return redirect("classroom:manage", cohort.pk)
    cohorts = (
        services.cohorts_for(request.user)
        .prefetch_related("instructors")
        .annotate(n_learners=Count("memberships", distinct=True))
    )
    status = 400 if request.method == "POST" else 200
    return render(request, "classroom/list.html", {"cohorts": cohorts, "form": form}, status=status)


@permission(LEARNER)
@require_http_methods(["GET", "POST"])
def join(request: HttpRequest, code: str) -> HttpResponse:
    cohort = Cohort.objects.filter(join_code=code.strip().upper()).select_related("course").first()
    if cohort is None:
        return render(request, "classroom/join.html", {"bad_code": code}, status=404)
    if request.method == "POST":
        _, created = services.join(request.user, code)
        if created:
            messages.success(request, f"You joined {cohort.name}.")
        else:
            messages.info(request, f"You are already in {cohort.name}.")
        return redirect(cohort.course.get_absolute_url())
    member = cohort.memberships.filter(user=request.user).exists()
    return render(request, "classroom/join.html", {"cohort": cohort, "member": member})


@permission(INSTRUCTOR)
@require_http_methods(["GET", "POST"])
def manage(request: HttpRequest, pk: int) -> HttpResponse:
    """Join link, CSV enrolment with its per-row report, co-instructors, the member list."""
    cohort = services.cohort_for(request.user, pk)
    enrol_form = EnrolForm()
    instructor_form = InstructorForm()
    report = None
    error = None
    status = 200
    if request.method == "POST" and "file" in request.FILES:
        enrol_form = EnrolForm(request.POST, request.FILES)
        if enrol_form.is_valid():
            try:
                report = services.enrol_csv(cohort, enrol_form.cleaned_data["file"].read())
            except ValueError as exc:
                error = str(exc)
                status = 400
        else:
            status = 400
    elif request.method == "POST":
        instructor_form = InstructorForm(request.POST)
        if instructor_form.is_valid():
            problem = services.add_instructor(cohort, instructor_form.cleaned_data["username"])
            if problem:
                instructor_form.add_error("username", problem)
                status = 400
            else:
                messages.success(request, "Co-instructor added.")
                return redirect("classroom:manage", cohort.pk)
        else:
            status = 400
    members = cohort.memberships.select_related("user").order_by("user__username")
    return render(
        request,
        "classroom/manage.html",
        {
            "cohort": cohort,
            "enrol_form": enrol_form,
            "instructor_form": instructor_form,
            "report": report,
            "report_counts": _counts(report),
            "error": error,
            "members": members,
            "join_url": request.build_absolute_uri(cohort.join_path),
        },
        status=status,
    )


@permission(INSTRUCTOR)
@require_http_methods(["GET", "POST"])
def remove_member(request: HttpRequest, pk: int, user_id: int) -> HttpResponse:
    """GET: confirm; POST with confirm=remove: delete the membership (nothing else)."""
    cohort = services.cohort_for(request.user, pk)
    person = services.learner_in(cohort, user_id)
    name = person.get_full_name() or person.username
    if request.method == "POST" and request.POST.get("confirm") == "remove":
        services.remove_member(cohort, person.pk)
        messages.success(
            request,
            f"{name} was removed from {cohort.name}. Their progress and attempts are kept; "
            "this cohort's instructors no longer see them.",
        )
        return redirect("classroom:manage", cohort.pk)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "classroom/remove_member.html",
        {"cohort": cohort, "person": person, "name": name, "unconfirmed": status == 400},
        status=status,
    )


@permission(LEARNER)
@require_http_methods(["GET", "POST"])
def leave(request: HttpRequest, pk: int) -> HttpResponse:
    """A learner leaves a cohort they are in. GET: confirm; POST with confirm=leave: leave."""
    membership = services.membership_of(request.user, pk)
    cohort = membership.cohort
    if request.method == "POST" and request.POST.get("confirm") == "leave":
        services.remove_member(cohort, request.user.pk)
        messages.success(
            request,
            f"You left {cohort.name}. Your progress is kept; its instructors no longer see it.",
        )
        return redirect(cohort.course.get_absolute_url())
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "classroom/leave.html",
        {"cohort": cohort, "unconfirmed": status == 400},
        status=status,
    )


def _counts(report) -> dict:
    if not report:
        return {}
    out: dict[str, int] = {}
    for row in report:
        out[row.outcome] = out.get(row.outcome, 0) + 1
    return out


@permission(INSTRUCTOR)
def dashboard(request: HttpRequest, pk: int) -> HttpResponse:
    cohort = services.cohort_for(request.user, pk)
    risk_completion, risk_days = services.risk_params(request.GET)
    sort = request.GET.get("sort", "name")
    q = request.GET.get("q", "").strip()[:100]
    board = services.dashboard(
        cohort, sort=sort, q=q, risk_completion=risk_completion, risk_days=risk_days
    )
    chart = bar_chart(
        board.distribution, "Learners by course completion", "", ("Completion (%)", "Learners")
    )
    context = {
        "cohort": cohort,
        "board": board,
        "sort": sort if sort in services.SORT_KEYS else "name",
        "q": q,
        "risk_completion": risk_completion,
        "risk_days": risk_days,
        "chart": chart,
        "grid_rows": heatmap_rows(
            board.rows, reverse("classroom:dashboard", args=[cohort.pk]) + "learners/"
        ),
        "quiz_slugs": services.quiz_slugs(cohort),
        "sorts": _sort_links(sort),
    }
    if request.htmx and request.htmx.target == "progress-grid":
        return render(request, "classroom/partials/grid.html", context)
    return render(request, "classroom/dashboard.html", context)


def _sort_links(current: str) -> dict[str, str]:
    """Column -> the sort value its header link applies (toggles direction when active)."""
    out = {}
    for key in ("name", "completion", "activity", "quiz"):
        out[key] = f"-{key}" if current == key else key
    return out


@permission(INSTRUCTOR)
@require_http_methods(["GET", "POST"])
def learner(request: HttpRequest, pk: int, user_id: int) -> HttpResponse:
    cohort = services.cohort_for(request.user, pk)
    person = services.learner_in(cohort, user_id)
    accommodation = sources.accommodation_for(person)
    form = AccommodationForm(
        request.POST or None,
        initial={
            "time_multiplier": accommodation.time_multiplier,
            "extra_attempts": accommodation.extra_attempts,
            "note": accommodation.note,
        },
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            for name, value in form.cleaned_data.items():
                setattr(accommodation, name, value)
            accommodation.save()
            messages.success(request, "Accommodation saved.")
            return redirect("classroom:learner", cohort.pk, person.pk)
        status = 400
    return render(
        request,
        "classroom/learner.html",
        {
            "cohort": cohort,
            "person": person,
            "timeline": services.timeline(cohort, person),
            "attempts": sources.learner_attempts(person),
            "runs": sources.learner_runs(person),
            "form": form,
            "accommodation": accommodation,
        },
        status=status,
    )


@permission(INSTRUCTOR)
def quiz_report(request: HttpRequest, pk: int, slug: str) -> HttpResponse:
    cohort = services.cohort_for(request.user, pk)
    if slug not in services.quiz_slugs(cohort):
        raise Http404("No such quiz for this cohort")
    report = services.quiz_report(cohort, slug)
    chart = bar_chart(
        report["histogram"], f"Scores on {slug} (first attempts)", "", ("Score (%)", "Learners")
    )
    return render(
        request, "classroom/quiz_report.html", {"cohort": cohort, "r": report, "chart": chart}
    )


@permission(INSTRUCTOR)
def lab_report(request: HttpRequest, pk: int) -> HttpResponse:
    cohort = services.cohort_for(request.user, pk)
    rows = services.lab_report(cohort)
    chart = bar_chart(
        [(f"{r['lab']}/{r['scenario']}", r["completion_rate"]) for r in rows],
        "Completion rate per lab scenario (%)",
        "%",
        ("Scenario", "Completion rate"),
    )
    return render(
        request, "classroom/lab_report.html", {"cohort": cohort, "rows": rows, "chart": chart}
    )


# --- exports ----------------------------------------------------------------------------------


@permission(INSTRUCTOR)
def export(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    """Small cohorts: the file now. Large ones: POST queues a Celery task (see export_status)."""
    cohort = services.cohort_for(request.user, pk)
    if kind not in exports.BUILDERS:
        raise Http404("No such export")
    content_type, ext, build = exports.BUILDERS[kind]
    if request.method == "POST" or cohort.memberships.count() > exports.DIRECT_LIMIT:
        if request.method != "POST":
            return render(
                request, "classroom/export_confirm.html", {"cohort": cohort, "kind": kind}
            )
        job = Export.objects.create(cohort=cohort, requested_by=request.user, kind=kind)
        from classroom.tasks import build_export

        build_export.delay(job.pk)
        return redirect("classroom:export_status", cohort.pk, job.pk)
    response = HttpResponse(build(cohort), content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="cohort-{cohort.pk}-{kind}.{ext}"'
    return response


def _export_job(request: HttpRequest, pk: int, export_id: int) -> tuple[Cohort, Export]:
    cohort = services.cohort_for(request.user, pk)
    return cohort, get_object_or_404(Export, pk=export_id, cohort=cohort)


@permission(INSTRUCTOR)
def export_status(request: HttpRequest, pk: int, export_id: int) -> HttpResponse:
    cohort, job = _export_job(request, pk, export_id)
    template = (
        "classroom/partials/export_progress.html" if request.htmx else "classroom/export.html"
    )
    return render(request, template, {"cohort": cohort, "job": job})


@permission(INSTRUCTOR)
def export_download(request: HttpRequest, pk: int, export_id: int) -> HttpResponse:
    cohort, job = _export_job(request, pk, export_id)
    if job.status != "done":
        raise Http404("Export not ready")
    content_type, ext, _ = exports.BUILDERS[job.kind]
    response = HttpResponse(job.content, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="cohort-{cohort.pk}-{job.kind}.{ext}"'
    return response


# --- live activity ----------------------------------------------------------------------------


@permission(INSTRUCTOR)
def live(request: HttpRequest, pk: int) -> HttpResponse:
    cohort = services.cohort_for(request.user, pk)
    return render(
        request,
        "classroom/live.html",
        {"cohort": cohort, "stream_url": reverse("classroom:activity", args=[cohort.pk])},
    )


def _cohort_members(user, pk: int) -> set[int]:
    cohort = services.cohort_for(user, pk)
    return set(cohort.memberships.values_list("user_id", flat=True))


@permission(INSTRUCTOR)
async def activity(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """The learning-events stream filtered to this cohort's learners (SSE)."""
    user = await request.auser()
    members = await sync_to_async(_cohort_members)(user, pk)

    def decode(fields: dict[str, str]):
        data = json.loads(fields.get("data", "{}"))
        if data.get("user_id") not in members:
            return "skip", None
        return str(data.get("type", "message")), data

    async def frames():
        async for frame in stream_events(STREAM_KEY, resume_id(request, "$"), decode=decode):
            if "\nevent: skip\n" in frame:
                continue
            yield frame

    return sse_response(frames())
