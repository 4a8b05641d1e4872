from __future__ import annotations

import mimetypes
import zlib

from django.core.cache import cache
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from config.permissions import LEARNER, PUBLIC, permission

from . import search as search_mod
from . import services
from .loader import asset_path
from .models import BankQuestion, Course, Lesson


@require_GET
@permission(PUBLIC)
def catalog(request: HttpRequest) -> HttpResponse:
    courses = services.catalog(request.user)
    bars = {}
    if request.user.is_authenticated:
        for course in courses:
            bars[course.pk] = services.rollup(course, services.completed_ids(request.user, course))
    items = [(c, bars.get(c.pk)) for c in courses]
    return render(request, "lessons/catalog.html", {"items": items})


def _course(slug: str) -> Course:
    return get_object_or_404(Course, slug=slug, published=True)


@require_GET
@permission(PUBLIC)
def course_page(request: HttpRequest, course: str) -> HttpResponse:
    course_obj = _course(course)
    done = services.completed_ids(request.user, course_obj)
    progress = services.rollup(course_obj, done)
    modules = [{**m, "bar": progress["modules"][m["id"]]} for m in course_obj.outline]
    flat = [le for m in course_obj.outline for le in m["lessons"]]
    resume = next((le for le in flat if le["id"] not in done), None) if flat else None
    return render(
        request,
        "lessons/course.html",
        {
            "course": course_obj,
            "modules": modules,
            "done": done,
            "progress": progress,
            "resume": resume,
            "started": bool(done),
        },
    )


HEAVY = ("body_md", "plain_text", "headings", "html", "toc")  # stored, read only on a cache miss


def _lesson(course: str, slug: str) -> Lesson:
    return get_object_or_404(
        Lesson.objects.select_related("course", "module").defer(*HEAVY),
        course__slug=course,
        slug=slug,
        published=True,
        course__published=True,
    )


@require_GET
@permission(PUBLIC)
def lesson_page(request: HttpRequest, course: str, slug: str) -> HttpResponse:
    lesson = _lesson(course, slug)
    course_obj = lesson.course
    done = services.completed_ids(request.user, course_obj)
    flat = [(m, le) for m in course_obj.outline for le in m["lessons"]]
    index = next((i for i, (_, le) in enumerate(flat) if le["id"] == lesson.pk), 0)
    prev_l = flat[index - 1][1] if index > 0 else None
    next_l = flat[index + 1][1] if index + 1 < len(flat) else None
    module_tag = zlib.crc32(lesson.module.title.encode())  # the module's title is on the page
    key = f"lessons:article:{lesson.pk}:{lesson.rev}:{index}:{len(flat)}:{module_tag}"
    article = cache.get(key)
    if article is None:  # one more query, only when the cache is cold
        lesson.refresh_from_db(fields=["html", "toc"])
        by_slug = {le["slug"]: le for _, le in flat}
        prereqs = [by_slug[p] for p in lesson.prerequisites if p in by_slug]
        article = render_to_string(
            "lessons/partials/article.html",
            {
                "lesson": lesson,
                "prerequisites": prereqs,
                "position": index + 1,
                "count": len(flat),
            },
        )
        cache.set(key, article, 3600)
    return render(
        request,
        "lessons/lesson.html",
        {
            "lesson": lesson,
            "course": course_obj,
            "article_html": mark_safe(article),
            "outline_html": mark_safe(services.outline_html(course_obj, lesson.pk, done)),
            "done": done,
            "is_done": lesson.pk in done,
            "progress": services.rollup(course_obj, done)["course"],
            "prev": prev_l,
            "next": next_l,
            "position": index + 1,
            "count": len(flat),
        },
    )


def _seconds(request: HttpRequest) -> int:
    try:
        return int(request.POST.get("seconds", 0))
    except (TypeError, ValueError):
        return 0


@require_POST
@permission(LEARNER)
def mark_complete(request: HttpRequest, course: str, slug: str) -> HttpResponse:
    lesson = _lesson(course, slug)
    services.complete(request.user, lesson, _seconds(request))
    done = services.completed_ids(request.user, lesson.course)
    return render(
        request,
        "lessons/partials/complete.html",
        {
            "lesson": lesson,
            "course": lesson.course,
            "is_done": True,
            "oob": True,
            "progress": services.rollup(lesson.course, done)["course"],
        },
    )


@require_POST
@permission(LEARNER)
def record_progress(request: HttpRequest, course: str, slug: str) -> HttpResponse:
    lesson = _lesson(course, slug)
    services.record_time(request.user, lesson, _seconds(request))
    return HttpResponse(status=204)


@require_GET
@permission(PUBLIC)
def asset(request: HttpRequest, course: str, rel: str) -> HttpResponse:
    course_obj = _course(course)
    path = asset_path(course_obj.source_dir, rel)
    if path is None:
        raise Http404("no such image")
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    response = FileResponse(path.open("rb"), content_type=content_type)
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response["Cache-Control"] = "public, max-age=3600"
    return response


ANSWERABLE = ("single", "multiple", "truefalse", "numeric", "short")


def _check_context(question: BankQuestion) -> dict:
    from quizzes.grading import public_view

    from .rendering import render_simple

    view = public_view(question.data, seed=question.qid, shuffle=True)
    quiz = (
        question.course.lessons.filter(slug=question.lesson_slug)
        .values_list("quiz", flat=True)
        .first()
    )
    return {
        "question": question,
        "view": view,
        "text_html": render_simple(str(view.get("text", ""))),
        "options": [render_simple(str(o)) for o in view.get("options", [])],
        "items": [str(i) for i in view.get("items", view.get("lefts", []))],
        "answerable": question.type in ANSWERABLE,
        "quiz_url": f"/quizzes/{quiz}/" if quiz else "",
    }


@require_GET
@permission(PUBLIC)
def check_question(request: HttpRequest, qid: str) -> HttpResponse:
    """A "check yourself" question inside a lesson, answerable in place (nothing is stored)."""
    question = get_object_or_404(
        BankQuestion.objects.select_related("course"), qid=qid, published=True
    )
    return render(request, "lessons/partials/check.html", _check_context(question))


@require_POST
@permission(PUBLIC)
def check_answer(request: HttpRequest, qid: str) -> HttpResponse:
    from quizzes.grading import InvalidResponse, from_display, grade

    from .rendering import render_simple

    question = get_object_or_404(
        BankQuestion.objects.select_related("course"), qid=qid, published=True
    )
    context = _check_context(question)
    data = question.data
    posted: object
    if question.type == "multiple":
        posted = request.POST.getlist("answer")
    else:
        posted = request.POST.get("answer", "")
    error = ""
    result = None
    try:
        if question.type not in ANSWERABLE:
            raise InvalidResponse("Answer this question in the quiz.")
        response = from_display(data, posted, question.qid, shuffle=True)
        result = grade(data, response)
        if not result.answered:
            error, result = "Choose or type an answer first.", None
    except InvalidResponse as exc:
        error = str(exc)
    feedback: list[str] = []
    if result is not None:
        options = data.get("options", [])
        for index in sorted(result.option_feedback):
            label = options[index].get("text", "") if index < len(options) else ""
            feedback.append(render_simple(f"**{label}**: {result.option_feedback[index]}"))
        feedback += [render_simple(str(text)) for text in result.feedback]
    context.update(
        {
            "result": result,
            "error": error,
            "feedback": feedback,
            "explanation": render_simple(str(data.get("explanation", ""))) if result else "",
            "posted": posted,
            "chosen": set(posted) if isinstance(posted, list) else {posted},
        }
    )
    return render(request, "lessons/partials/check.html", context)


@require_GET
@permission(PUBLIC)
def search_view(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()[:200]
    hits = search_mod.search(q) if q else []
    template = "lessons/partials/search_results.html" if request.htmx else "lessons/search.html"
    return render(request, template, {"q": q, "hits": hits})
