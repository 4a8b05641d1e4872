"""Read site/<course>/ (docs/authoring.md), check everything, and load it into the database.

`check(path)` returns (courses, problems); `load(path)` checks and, only when clean, upserts in
one transaction. Problems are `Problem(path, line, message)`, printed as `path:LINE: message`.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from quizzes.bank import SLUG_RE, TOPICS, validate_bank, validate_quiz

from . import rendering
from .yamllines import Problem, YamlError, line_for_message, line_of
from .yamllines import load as load_yaml

COURSE_KEYS = {"title": True, "slug": True, "summary": True, "modules": True}
MODULE_KEYS = {"title": True, "slug": True, "summary": False}
LESSON_KEYS = {
    "title": True,
    "slug": True,
    "summary": True,
    "minutes": True,
    "objectives": True,
    "topics": True,
    "prerequisites": False,
    "lab": False,
    "quiz": False,
}
LAB_KEYS = {"title": True, "summary": True, "brief": False, "duration_s": False, "scenario": True}
IMAGE_SUFFIXES = {".svg", ".png", ".jpg", ".jpeg", ".gif", ".webp"}


def display(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


@dataclass
class LessonData:
    path: Path
    course: str
    module: str
    meta: dict
    lines: dict
    body: str
    body_line: int  # file line of the body's first line
    position: int = 0
    rendered: rendering.Rendered | None = None


@dataclass
class CourseData:
    dir: Path
    meta: dict
    modules: list[dict] = field(default_factory=list)  # {folder, meta, lessons: [LessonData]}
    lessons: list[LessonData] = field(default_factory=list)
    questions: list[dict] = field(default_factory=list)  # {data, path, line, module}
    quizzes: list[dict] = field(default_factory=list)  # {data, path, line}
    labs: list[dict] = field(default_factory=list)  # {lab, slug, data, path, brief_html}

    @property
    def slug(self) -> str:
        return self.meta.get("slug") or self.dir.name


class Checker:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: Path, line: int, message: str) -> None:
        self.problems.append(Problem(display(path), line, message))

    def read_yaml(self, path: Path, text: str | None = None, first_line: int = 1):
        try:
            if text is None:
                text = path.read_text(encoding="utf-8")
            return load_yaml(text, first_line)
        except YamlError as exc:
            self.add(path, exc.line, exc.message)
        except (OSError, UnicodeDecodeError) as exc:
            self.add(path, 1, f"cannot read: {exc}")
        return None, None

    def keys(self, path: Path, data: Any, lines: dict, spec: dict[str, bool], what: str) -> bool:
        if not isinstance(data, dict):
            self.add(path, line_of(lines or {}, ()), f"{what} must be a mapping of keys")
            return False
        for key in data:
            if key not in spec:
                known = ", ".join(spec)
                self.add(path, line_of(lines, (key,)), f"unknown key {key!r} (known: {known})")
        for key, required in spec.items():
            if required and key not in data:
                self.add(path, line_of(lines, ()), f"missing key {key!r}")
        return True

    def text(self, path, data, lines, key) -> None:
        if key in data and (not isinstance(data[key], str) or not data[key].strip()):
            self.add(path, line_of(lines, (key,)), f"{key}: must be non-empty text")

    def slug(self, path, data, lines, key="slug") -> None:
        v = data.get(key)
        if key in data and (not isinstance(v, str) or not SLUG_RE.match(v)):
            self.add(
                path,
                line_of(lines, (key,)),
                f"{key}: must be lower-case letters, digits and '-' (got {v!r})",
            )


def find_courses(root: Path) -> list[Path]:
    if (root / "course.yaml").is_file():
        return [root]
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / "course.yaml").is_file())


def split_front_matter(text: str) -> tuple[str, str, int] | None:
    """(front matter, body, body's first line) or None when there is no front matter."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return None
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return "\n".join(lines[1:i]), "\n".join(lines[i + 1 :]), i + 2
    return None


def check(root: Path | str) -> tuple[list[CourseData], list[Problem]]:
    root = Path(root)
    c = Checker()
    if not root.is_dir():
        c.add(root, 1, "no such directory")
        return [], c.problems
    courses = find_courses(root)
    if not courses:
        c.add(root, 1, "no course.yaml found here or in its sub-folders")
    out = [d for d in (_read_course(c, p) for p in courses) if d is not None]
    _check_site(c, out)
    return out, sorted(c.problems, key=lambda p: (p.path, p.line))


def _read_course(c: Checker, cdir: Path) -> CourseData | None:
    path = cdir / "course.yaml"
    meta, lines = c.read_yaml(path)
    if meta is None and lines is None:
        return None
    if not c.keys(path, meta, lines, COURSE_KEYS, "course.yaml"):
        return None
    for k in ("title", "summary"):
        c.text(path, meta, lines, k)
    c.slug(path, meta, lines)
    course = CourseData(dir=cdir, meta=meta)
    folders = meta.get("modules") or []
    if not isinstance(folders, list):
        c.add(path, line_of(lines, ("modules",)), "modules: must be a list of module folders")
        folders = []
    listed = set()
    for i, folder in enumerate(folders):
        if (
            not isinstance(folder, str)
            or not re.fullmatch(r"[A-Za-z0-9][\w.-]*", folder)
            or (".." in folder)
        ):
            c.add(path, line_of(lines, ("modules", i)), f"modules: {folder!r} is not a folder name")
            continue
        mdir = cdir / folder
        listed.add(folder)
        if not (mdir / "module.yaml").is_file():
            c.add(
                path, line_of(lines, ("modules", i)), f"module folder {folder!r} has no module.yaml"
            )
            continue
        _read_module(c, course, mdir)
    for mdir in sorted(cdir.iterdir()):
        if mdir.is_dir() and (mdir / "module.yaml").is_file() and mdir.name not in listed:
            c.add(path, line_of(lines, ("modules",)), f"module folder {mdir.name!r} is not listed")
    # question banks and quizzes anywhere under the course (labs aside)
    for ypath in sorted(cdir.rglob("*.yaml")):
        rel = ypath.relative_to(cdir).parts
        if rel[0] == "labs" or ypath.name in ("course.yaml", "module.yaml"):
            continue
        data, ylines = c.read_yaml(ypath)
        if not isinstance(data, dict):
            if ylines is not None:
                c.add(ypath, 1, "expected a mapping with `questions:` or `quizzes:`")
            continue
        module = None
        if len(rel) > 1:
            module = next((m for m in course.modules if m["folder"] == rel[0]), None)
        if "questions" in data:
            for msg in validate_bank(data):
                c.add(ypath, line_for_message(ylines, msg), msg)
            for i, q in enumerate(data.get("questions") or []):
                if isinstance(q, dict):
                    course.questions.append(
                        {
                            "data": q,
                            "path": ypath,
                            "line": line_of(ylines, ("questions", i)),
                            "module": module,
                            "lines": ylines,
                            "index": i,
                        }
                    )
        elif "quizzes" in data:
            quizzes = data["quizzes"]
            if not isinstance(quizzes, list):
                c.add(ypath, line_of(ylines, ("quizzes",)), "quizzes: must be a list")
                continue
            for i, q in enumerate(quizzes):
                course.quizzes.append(
                    {
                        "data": q,
                        "path": ypath,
                        "line": line_of(ylines, ("quizzes", i)),
                        "lines": ylines,
                        "index": i,
                    }
                )
        else:
            c.add(ypath, 1, "expected a top-level `questions:` or `quizzes:`")
    _read_labs(c, course)
    return course


def _read_module(c: Checker, course: CourseData, mdir: Path) -> None:
    path = mdir / "module.yaml"
    meta, lines = c.read_yaml(path)
    if lines is None or not c.keys(path, meta, lines, MODULE_KEYS, "module.yaml"):
        # keep reading its lessons, so one bad module.yaml does not hide everything else
        meta, lines = {"title": mdir.name, "slug": re.sub(r"^\d+-", "", mdir.name)}, {(): 1}
    c.text(path, meta, lines, "title")
    c.slug(path, meta, lines)
    module = {"folder": mdir.name, "meta": meta, "lessons": [], "path": path}
    course.modules.append(module)
    for lpath in sorted(mdir.glob("*.md")):
        lesson = _read_lesson(c, course, module, lpath)
        if lesson is not None:
            module["lessons"].append(lesson)
            lesson.position = len(course.lessons)
            course.lessons.append(lesson)


def _read_lesson(c: Checker, course: CourseData, module: dict, path: Path) -> LessonData | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        c.add(path, 1, f"cannot read: {exc}")
        return None
    parts = split_front_matter(text)
    if parts is None:
        c.add(path, 1, "missing front matter (a block between --- lines at the top)")
        return None
    fm, body, body_line = parts
    meta, lines = c.read_yaml(path, fm, first_line=2)
    if meta is None and lines is None:
        return None
    if not c.keys(path, meta, lines, LESSON_KEYS, "front matter"):
        return None
    for k in ("title", "summary"):
        c.text(path, meta, lines, k)
    c.slug(path, meta, lines)
    m = meta.get("minutes")
    if "minutes" in meta and (not isinstance(m, int) or isinstance(m, bool) or m < 1):
        c.add(
            path, line_of(lines, ("minutes",)), f"minutes: must be a whole number >= 1 (got {m!r})"
        )
    for key in ("objectives", "topics", "prerequisites"):
        v = meta.get(key)
        if key in meta and (not isinstance(v, list) or not all(isinstance(x, str) for x in v)):
            c.add(path, line_of(lines, (key,)), f"{key}: must be a list of text items")
            meta[key] = []
    if "objectives" in meta and not meta["objectives"]:
        c.add(path, line_of(lines, ("objectives",)), "objectives: list at least one")
    for i, t in enumerate(meta.get("topics") or []):
        if t not in TOPICS:
            c.add(path, line_of(lines, ("topics", i)), f"unknown topic id {t!r} (T01..T36)")
    return LessonData(
        path, course.slug, module["meta"].get("slug", ""), meta, lines, body, body_line
    )


def _read_labs(c: Checker, course: CourseData) -> None:
    from labs.engines import ScenarioError, get_engine

    for path in sorted((course.dir / "labs").glob("*/*.yaml")):
        lab, slug = path.parent.name, path.stem
        data, lines = c.read_yaml(path)
        if data is None and lines is None:
            continue
        if not c.keys(path, data, lines, LAB_KEYS, "lab scenario"):
            continue
        for k in ("title", "summary"):
            c.text(path, data, lines, k)
        d = data.get("duration_s", 0)
        if not isinstance(d, int) or isinstance(d, bool) or d < 0:
            c.add(
                path,
                line_of(lines, ("duration_s",)),
                f"duration_s: must be a whole number of seconds (got {d!r})",
            )
        try:
            engine = get_engine(lab)
        except KeyError as exc:
            c.add(path, 1, str(exc.args[0]) if exc.args else f"unknown lab engine {lab!r}")
            continue
        scenario = data.get("scenario")
        try:
            engine.validate_scenario(scenario)
        except ScenarioError as exc:
            line = line_of(lines, ("scenario", *(exc.path.split(".") if exc.path else ())))
            c.add(path, line, f"scenario: {exc}")
        except Exception as exc:  # an engine bug must not become a traceback here
            c.add(path, line_of(lines, ("scenario",)), f"scenario: rejected ({exc!r})")
        brief = data.get("brief") or ""
        course.labs.append(
            {
                "lab": lab,
                "slug": slug,
                "data": data,
                "path": path,
                "brief_html": rendering.render_simple(brief if isinstance(brief, str) else ""),
            }
        )


def _check_site(c: Checker, courses: list[CourseData]) -> None:
    questions = {}
    for course in courses:
        for q in course.questions:
            qid = q["data"].get("id")
            if not isinstance(qid, str):
                continue
            if qid in questions:
                other = questions[qid]
                c.add(
                    q["path"],
                    q["line"],
                    f"duplicate question id {qid!r} (also "
                    f"{display(other['path'])}:{other['line']})",
                )
            else:
                questions[qid] = q
    labs = {f"{lab['lab']}/{lab['slug']}" for course in courses for lab in course.labs}
    for course in courses:
        _check_course(c, course, questions, labs)


def _check_course(c: Checker, course: CourseData, questions: dict, labs: set[str]) -> None:
    by_slug: dict[str, LessonData] = {}
    by_file = {lesson.path.resolve(): lesson for lesson in course.lessons}
    module_slugs: dict[str, Path] = {}
    for m in course.modules:
        s = m["meta"].get("slug")
        if s in module_slugs:
            c.add(m["path"], 1, f"duplicate module slug {s!r} (also {display(module_slugs[s])})")
        module_slugs[s] = m["path"]
    for lesson in course.lessons:
        s = lesson.meta.get("slug")
        if s in by_slug:
            c.add(
                lesson.path,
                line_of(lesson.lines, ("slug",)),
                f"duplicate lesson slug {s!r} (also {display(by_slug[s].path)})",
            )
        elif isinstance(s, str):
            by_slug[s] = lesson
    quiz_slugs = set()
    for q in course.quizzes:
        data, lines, pre = q["data"], q["lines"], ("quizzes", q["index"])
        for msg in validate_quiz(data, known_question_ids=questions.keys()):
            c.add(q["path"], line_for_message(lines, msg, pre), msg)
        if not isinstance(data, dict):
            continue
        slug = data.get("slug")
        if slug in quiz_slugs:
            c.add(q["path"], q["line"], f"duplicate quiz slug {slug!r}")
        quiz_slugs.add(slug)
        if data.get("module") and data["module"] not in module_slugs:
            c.add(
                q["path"], line_of(lines, (*pre, "module")), f"module: no module {data['module']!r}"
            )
        for i, draw in enumerate(data.get("draws") or []):
            if isinstance(draw, dict) and draw.get("module") and draw["module"] not in module_slugs:
                c.add(
                    q["path"],
                    line_of(lines, (*pre, "draws", i, "module")),
                    f"draws[{i}].module: no module {draw['module']!r}",
                )

    # render every lesson (links resolve to lesson URLs), then check links and anchors
    for lesson in course.lessons:
        lesson.rendered = rendering.render(lesson.body, _resolver(course, lesson, by_file))
    for lesson in course.lessons:
        _check_lesson(c, course, lesson, by_slug, by_file, questions, labs, quiz_slugs)
    for q in course.questions:
        target = q["data"].get("lesson")
        if not isinstance(target, str) or "#" not in target:
            continue
        slug, anchor = target.split("#", 1)
        line = line_of(q["lines"], ("questions", q["index"], "lesson"))
        if slug not in by_slug:
            c.add(q["path"], line, f"lesson: no lesson with slug {slug!r}")
        elif anchor not in by_slug[slug].rendered.anchors:
            c.add(q["path"], line, f"lesson: lesson {slug!r} has no section #{anchor}")


def _resolver(course: CourseData, lesson: LessonData, by_file: dict):
    def resolve(url: str, is_image: bool) -> str | None:
        parts = urlsplit(url)
        if parts.scheme or parts.netloc or url.startswith(("/", "#")) or not parts.path:
            return None
        target = (lesson.path.parent / parts.path).resolve()
        if target in by_file:
            other = by_file[target]
            frag = f"#{parts.fragment}" if parts.fragment else ""
            return f"/courses/{course.slug}/{other.meta.get('slug')}/{frag}"
        try:
            rel = target.relative_to(course.dir.resolve())
        except ValueError:
            return None
        return f"/courses/{course.slug}/assets/{rel.as_posix()}"

    return resolve


def _check_lesson(c, course, lesson, by_slug, by_file, questions, labs, quiz_slugs) -> None:
    meta, lines, path = lesson.meta, lesson.lines, lesson.path
    for i, p in enumerate(meta.get("prerequisites") or []):
        if p not in by_slug:
            c.add(path, line_of(lines, ("prerequisites", i)), f"prerequisites: no lesson {p!r}")
    if meta.get("lab") is not None:
        lab = meta["lab"]
        if not isinstance(lab, str) or lab not in labs:
            c.add(
                path,
                line_of(lines, ("lab",)),
                f"lab: no scenario {lab!r} (expected a file "
                f"labs/<lab>/<scenario>.yaml for <lab>/<scenario>)",
            )
    if meta.get("quiz") is not None and meta["quiz"] not in quiz_slugs:
        c.add(path, line_of(lines, ("quiz",)), f"quiz: no quiz {meta['quiz']!r} in quizzes.yaml")
    anchors = lesson.rendered.anchors
    for clash in sorted(anchors & rendering.RESERVED_IDS):
        where = next(
            (
                lesson.body_line + n - 1
                for n, ln in enumerate(lesson.body.split("\n"), 1)
                if clash in ln.lower().replace(" ", "-")
            ),
            1,
        )
        c.add(path, where, f"id {clash!r} is used by the page itself; choose another anchor")
    for n, line in rendering.outside_code(lesson.body):
        fline = lesson.body_line + n - 1
        for m in rendering.CHECK_ANY_RE.finditer(line):
            qid = m.group(1)
            if qid not in questions:
                c.add(path, fline, f"check: no question with id {qid!r}")
            elif line.strip() != m.group(0):
                c.add(path, fline, "check: put [[check: id]] on a line of its own")
        for m in rendering.LINK_RE.finditer(line):
            is_image, url = m.group(1) == "!", m.group(2)
            parts = urlsplit(url)
            if parts.scheme.lower() == "javascript":
                c.add(path, fline, "link: javascript: URLs are not allowed")
                continue
            if parts.scheme or parts.netloc or url.startswith("/"):
                continue
            if not parts.path:
                if parts.fragment and parts.fragment not in anchors:
                    c.add(path, fline, f"link: no section #{parts.fragment} in this lesson")
                continue
            target = (path.parent / parts.path).resolve()
            if target in by_file:
                other = by_file[target]
                if parts.fragment and parts.fragment not in other.rendered.anchors:
                    c.add(path, fline, f"link: {parts.path} has no section #{parts.fragment}")
            elif not target.is_file():
                what = "image" if is_image else "link"
                c.add(path, fline, f"{what}: {parts.path} does not exist")
            elif target.suffix == ".md":
                c.add(path, fline, f"link: {parts.path} is not a lesson of this course")
            elif is_image and target.suffix.lower() not in IMAGE_SUFFIXES:
                c.add(path, fline, f"image: {parts.path} is not an image")


def coverage(courses: list[CourseData]) -> list[tuple[str, int, int]]:
    lessons = dict.fromkeys(sorted(TOPICS), 0)
    qs = dict.fromkeys(sorted(TOPICS), 0)
    for course in courses:
        for lesson in course.lessons:
            for t in set(lesson.meta.get("topics") or []):
                if t in lessons:
                    lessons[t] += 1
        for q in course.questions:
            for t in set(q["data"].get("topics") or []):
                if t in qs:
                    qs[t] += 1
    return [(t, lessons[t], qs[t]) for t in sorted(TOPICS)]


def asset_path(course_dir: str, rel: str) -> Path | None:
    """The file for /courses/<course>/assets/<rel>, only images inside the course folder."""
    rel = posixpath.normpath(rel)
    if not course_dir or rel.startswith(("..", "/")) or "\x00" in rel or "\\" in rel:
        return None
    base = Path(course_dir).resolve()
    target = (base / rel).resolve()
    if target.suffix.lower() not in IMAGE_SUFFIXES or not target.is_file():
        return None
    try:
        target.relative_to(base)
    except ValueError:
        return None
    return target


# ---------------------------------------------------------------- loading into the database


def _upsert(model, lookup: dict, values: dict, stats: dict):
    obj = model.objects.filter(**lookup).first()
    if obj is None:
        obj = model.objects.create(**lookup, **values)
        stats["created"] += 1
        return obj
    changed = [k for k, v in values.items() if getattr(obj, k) != v]
    if changed:
        for k in changed:
            setattr(obj, k, values[k])
        obj.save(update_fields=changed)
        stats["updated"] += 1
    return obj


def _rev(values: dict) -> str:
    data = {k: v for k, v in values.items() if k != "module"}
    data["module"] = values["module"].pk
    return hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def load(root: Path | str) -> tuple[list[Problem], dict]:
    """Check, then (only when clean) upsert everything in one transaction.

    Returns (problems, stats) where stats counts created / updated / unpublished rows; loading
    the same files twice gives zero changes the second time.
    """
    from django.db import transaction

    from . import search
    from .models import BankQuestion, Course, LabScenario, Lesson, Module, QuizSpec

    courses, problems = check(root)
    stats = {"created": 0, "updated": 0, "unpublished": 0}
    if problems:
        return problems, stats
    with transaction.atomic():
        for position, cd in enumerate(courses):
            course = _upsert(
                Course,
                {"slug": cd.slug},
                {
                    "title": cd.meta["title"],
                    "summary": cd.meta.get("summary", ""),
                    "position": position,
                    "source_dir": str(cd.dir.resolve()),
                    "published": True,
                },
                stats,
            )
            modules: dict[str, Module] = {}
            lesson_ids = []
            outline = []
            for mpos, m in enumerate(cd.modules):
                mm = m["meta"]
                module = _upsert(
                    Module,
                    {"course": course, "slug": mm["slug"]},
                    {
                        "folder": m["folder"],
                        "title": mm["title"],
                        "summary": mm.get("summary") or "",
                        "position": mpos,
                        "published": True,
                    },
                    stats,
                )
                modules[m["folder"]] = module
                entry = {
                    "id": module.pk,
                    "slug": module.slug,
                    "title": module.title,
                    "summary": module.summary,
                    "lessons": [],
                }
                outline.append(entry)
                for ld in m["lessons"]:
                    meta, r = ld.meta, ld.rendered
                    values = {
                        "module": module,
                        "title": meta["title"],
                        "summary": meta["summary"],
                        "minutes": meta["minutes"],
                        "objectives": meta["objectives"],
                        "topics": meta["topics"],
                        "prerequisites": meta.get("prerequisites") or [],
                        "lab": meta.get("lab") or "",
                        "quiz": meta.get("quiz") or "",
                        "position": ld.position,
                        "body_md": ld.body,
                        "html": r.html,
                        "toc": r.toc,
                        "headings": r.headings,
                        "plain_text": r.plain_text,
                        "has_mermaid": r.has_mermaid,
                        "source_path": display(ld.path),
                        "published": True,
                    }
                    values["rev"] = _rev(values)
                    lesson = _upsert(
                        Lesson, {"course": course, "slug": meta["slug"]}, values, stats
                    )
                    lesson_ids.append(lesson.pk)
                    entry["lessons"].append(
                        {
                            "id": lesson.pk,
                            "url": f"/courses/{course.slug}/{lesson.slug}/",
                            "slug": lesson.slug,
                            "title": lesson.title,
                            "minutes": lesson.minutes,
                        }
                    )
            if course.outline != outline:
                course.outline = outline
                course.save(update_fields=["outline"])
                stats["updated"] += 1
            stats["unpublished"] += (
                Lesson.objects.filter(course=course, published=True)
                .exclude(pk__in=lesson_ids)
                .update(published=False)
            )
            stats["unpublished"] += (
                Module.objects.filter(course=course, published=True)
                .exclude(pk__in=[m.pk for m in modules.values()])
                .update(published=False)
            )
            by_slug = {m.slug: m for m in modules.values()}
            qids = []
            for q in cd.questions:
                data = q["data"]
                slug, _, anchor = (data.get("lesson") or "").partition("#")
                module = modules.get(q["module"]["folder"]) if q["module"] else None
                _upsert(
                    BankQuestion,
                    {"qid": data["id"]},
                    {
                        "course": course,
                        "module": module,
                        "type": data["type"],
                        "data": data,
                        "topics": data.get("topics") or [],
                        "difficulty": data["difficulty"],
                        "lesson_slug": slug,
                        "anchor": anchor,
                        "source_path": display(q["path"]),
                        "source_line": q["line"],
                        "published": True,
                    },
                    stats,
                )
                qids.append(data["id"])
            stats["unpublished"] += (
                BankQuestion.objects.filter(course=course, published=True)
                .exclude(qid__in=qids)
                .update(published=False)
            )
            slugs = []
            for q in cd.quizzes:
                data = q["data"]
                _upsert(
                    QuizSpec,
                    {"slug": data["slug"]},
                    {
                        "course": course,
                        "module": by_slug.get(data.get("module") or ""),
                        "data": data,
                        "source_path": display(q["path"]),
                        "source_line": q["line"],
                        "published": True,
                    },
                    stats,
                )
                slugs.append(data["slug"])
            stats["unpublished"] += (
                QuizSpec.objects.filter(course=course, published=True)
                .exclude(slug__in=slugs)
                .update(published=False)
            )
            keep = []
            for lab in cd.labs:
                data = lab["data"]
                obj = _upsert(
                    LabScenario,
                    {"lab": lab["lab"], "slug": lab["slug"]},
                    {
                        "title": data["title"],
                        "summary": data.get("summary") or "",
                        "brief_html": lab["brief_html"],
                        "duration_s": data.get("duration_s") or 0,
                        "scenario": data.get("scenario") or {},
                        "source_path": display(lab["path"]),
                        "published": True,
                    },
                    stats,
                )
                keep.append(obj.pk)
            labs_dir = display(cd.dir / "labs")
            stats["unpublished"] += (
                LabScenario.objects.filter(
                    source_path__startswith=labs_dir + os.sep, published=True
                )
                .exclude(pk__in=keep)
                .update(published=False)
            )
        if not (Path(root) / "course.yaml").is_file():  # the whole site: a removed course hides
            stats["unpublished"] += (
                Course.objects.filter(published=True)
                .exclude(slug__in=[cd.slug for cd in courses])
                .update(published=False)
            )
        search.rebuild()
    return [], stats
