"""The site loader: round trip into the database and every validation error with file:line."""

from pathlib import Path

import pytest
from django.core.management import call_command

from lessons.loader import check, load
from lessons.models import BankQuestion, LabScenario, Lesson, LessonProgress, QuizSpec

from .conftest import FIXTURE


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def line_with(path: Path, needle: str) -> int:
    for n, line in enumerate(path.read_text().split("\n"), 1):
        if needle in line:
            return n
    raise AssertionError(needle)


def problems_of(site: Path) -> list[str]:
    return [str(p) for p in check(site)[1]]


def assert_problem(site: Path, path: Path, line: int, fragment: str) -> None:
    problems = problems_of(site)
    wanted = f"{path}:{line}: "
    assert any(p.startswith(wanted) and fragment in p for p in problems), problems


def test_fixture_is_clean():
    assert problems_of(FIXTURE) == []


@pytest.mark.django_db
def test_load_round_trip_and_idempotence(site):
    problems, stats = load(site)
    assert problems == [] and stats["created"] > 0
    lessons = list(Lesson.objects.order_by("position"))
    assert [le.slug for le in lessons] == ["intro", "second", "third"]
    intro = lessons[0]
    assert intro.get_absolute_url() == "/courses/demo/intro/"
    assert intro.module.slug == "basics" and intro.minutes == 5 and intro.topics == ["T01"]
    assert intro.lab == "circuit-breaker/outage" and intro.quiz == "demo-quiz"
    assert [t["id"] for t in intro.toc] == ["first-section", "second-section"]
    html = intro.html
    assert 'href="/courses/demo/second/#deep-part"' in html
    assert 'href="#second-section"' in html
    assert 'src="/courses/demo/assets/01-basics/diagram.svg"' in html
    assert '<div class="highlight">' in html and 'class="k"' in html  # Pygments classes kept
    assert '<div class="admonition tip">' in html and "<table>" in html
    assert 'class="footnote"' in html and 'class="headerlink"' in html
    assert '<pre class="mermaid">graph LR; A--&gt;B</pre>' in html and intro.has_mermaid
    assert 'data-check="demo-q1"' in html
    assert BankQuestion.objects.get(qid="demo-q1").anchor == "first-section"
    assert BankQuestion.objects.get(qid="demo-q2").data["answer"] is False
    assert QuizSpec.objects.get(slug="demo-quiz").module.slug == "basics"
    assert LabScenario.objects.get(lab="circuit-breaker", slug="outage").duration_s == 300
    intro.course.refresh_from_db()
    assert [len(m["lessons"]) for m in intro.course.outline] == [2, 1]

    assert load(site)[1] == {"created": 0, "updated": 0, "unpublished": 0}


@pytest.mark.django_db
def test_removed_lesson_is_unpublished_and_progress_kept(site, django_user_model):
    load(site)
    user = django_user_model.objects.create_user("reader")
    third = Lesson.objects.get(slug="third")
    LessonProgress.objects.create(user=user, lesson=third)
    (site / "demo" / "02-more" / "01-third.md").unlink()
    edit(site / "demo" / "01-basics" / "02-second.md", "[Next](../02-more/01-third.md).", "")
    problems, stats = load(site)
    assert problems == [] and stats["unpublished"] == 1
    third.refresh_from_db()
    assert not third.published
    assert LessonProgress.objects.filter(lesson=third, user=user).exists()


@pytest.mark.django_db
def test_load_refuses_a_site_with_problems(site):
    edit(site / "demo" / "02-more" / "01-third.md", "topics: [T02]", "topics: [T99]")
    problems, _ = load(site)
    assert problems and not Lesson.objects.exists()


def test_bad_yaml_in_front_matter(site):
    f = site / "demo" / "02-more" / "01-third.md"
    edit(f, "minutes: 3", "minutes: [3")
    problems = problems_of(site)
    assert any(p.startswith(f"{f}:") and "bad YAML" in p for p in problems), problems


def test_bad_yaml_in_module_file_is_reported_at_its_line(site):
    f = site / "demo" / "02-more" / "module.yaml"
    edit(f, "summary: The second module.", "summary: The: second: module.")
    assert_problem(site, f, 3, "bad YAML")


def test_unknown_and_missing_front_matter_keys(site):
    f = site / "demo" / "02-more" / "01-third.md"
    edit(f, "summary: Sprockets.\n", "colour: red\n")
    assert_problem(site, f, line_with(f, "colour:"), "unknown key 'colour'")
    assert_problem(site, f, 2, "missing key 'summary'")


def test_missing_front_matter(site):
    f = site / "demo" / "02-more" / "01-third.md"
    f.write_text("## No front matter\n")
    assert_problem(site, f, 1, "missing front matter")


def test_duplicate_slug(site):
    f = site / "demo" / "02-more" / "01-third.md"
    edit(f, "slug: third", "slug: second")
    assert_problem(site, f, 3, "duplicate lesson slug 'second'")


def test_unknown_topic(site):
    f = site / "demo" / "02-more" / "01-third.md"
    edit(f, "topics: [T02]", "topics: [T02, T99]")
    assert_problem(site, f, line_with(f, "topics:"), "unknown topic id 'T99'")


def test_broken_links_to_lessons_and_anchors(site):
    f = site / "demo" / "01-basics" / "01-intro.md"
    edit(f, "02-second.md#deep-part", "02-second.md#nowhere")
    edit(f, "[below](#second-section)", "[below](#nope) [gone](03-gone.md)")
    n = line_with(f, "Widgets are small")
    assert_problem(site, f, n, "02-second.md has no section #nowhere")
    assert_problem(site, f, n, "no section #nope in this lesson")
    assert_problem(site, f, n, "03-gone.md does not exist")


def test_missing_image(site):
    f = site / "demo" / "01-basics" / "01-intro.md"
    edit(f, "diagram.svg", "missing.svg")
    assert_problem(site, f, line_with(f, "missing.svg"), "image: missing.svg does not exist")


def test_unknown_lab_and_quiz(site):
    f = site / "demo" / "01-basics" / "01-intro.md"
    edit(f, "lab: circuit-breaker/outage", "lab: circuit-breaker/nope")
    edit(f, "quiz: demo-quiz", "quiz: no-quiz")
    assert_problem(site, f, line_with(f, "lab:"), "lab: no scenario 'circuit-breaker/nope'")
    assert_problem(site, f, line_with(f, "quiz:"), "quiz: no quiz 'no-quiz'")


def test_unknown_check_id(site):
    f = site / "demo" / "01-basics" / "01-intro.md"
    edit(f, "[[check: demo-q1]]", "[[check: demo-q404]]")
    assert_problem(site, f, line_with(f, "[[check:"), "no question with id 'demo-q404'")


def test_question_points_at_missing_lesson_and_anchor(site):
    f = site / "demo" / "01-basics" / "questions.yaml"
    edit(f, "lesson: intro#first-section", "lesson: intro#nope")
    edit(f, "lesson: second#deep-part", "lesson: ghost#deep-part")
    assert_problem(site, f, line_with(f, "intro#nope"), "lesson 'intro' has no section #nope")
    assert_problem(site, f, line_with(f, "ghost#"), "no lesson with slug 'ghost'")


def test_bank_problem_maps_to_its_yaml_line(site):
    f = site / "demo" / "01-basics" / "questions.yaml"
    edit(f, "        feedback: No, widgets are small.\n", "")
    assert_problem(site, f, line_with(f, "A large thing"), "questions[0].options[1].feedback")
    edit(f, "difficulty: easy", "difficulty: hrad")
    assert_problem(site, f, line_with(f, "hrad"), "difficulty: must be one of")


def test_duplicate_question_id(site):
    f = site / "demo" / "01-basics" / "questions.yaml"
    edit(f, "id: demo-q2", "id: demo-q1")
    assert_problem(site, f, line_with(f, "type: truefalse") - 1, "duplicate question id")


def test_quiz_problem_maps_to_its_yaml_line(site):
    f = site / "demo" / "quizzes.yaml"
    edit(f, "questions: [demo-q1]", "questions: [demo-q1, ghost-q]")
    edit(f, "        module: basics", "        module: nowhere")
    assert_problem(site, f, line_with(f, "ghost-q"), "no question with id 'ghost-q'")
    assert_problem(site, f, line_with(f, "nowhere"), "no module 'nowhere'")


def test_lab_scenario_validated_by_its_engine(site):
    f = site / "demo" / "labs" / "circuit-breaker" / "outage.yaml"
    edit(f, "    error_rate: 0.02", "    error_rate: 7")
    problems = problems_of(site)
    assert any(p.startswith(f"{f}:") and "error_rate" in p for p in problems), problems
    bad = site / "demo" / "labs" / "no-such-engine"
    bad.mkdir()
    (bad / "x.yaml").write_text(f.read_text())
    assert_problem(site, bad / "x.yaml", 1, "unknown lab engine")


def test_check_site_command_exit_codes(site, capsys):
    call_command("check_site", str(site))
    assert "OK: 1 course(s), 3 lesson(s)." in capsys.readouterr().out
    edit(site / "demo" / "02-more" / "01-third.md", "topics: [T02]", "topics: [T99]")
    with pytest.raises(SystemExit) as exit_info:
        call_command("check_site", str(site))
    assert exit_info.value.code == 1
    assert "01-third.md:8: unknown topic id 'T99'" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        call_command("check_site", str(site / "does-not-exist"))


def test_check_site_coverage_table(capsys):
    with pytest.raises(SystemExit):  # the demo course covers only two topics
        call_command("check_site", str(FIXTURE), "--coverage")
    out = capsys.readouterr().out
    assert "T01" in out and "T36" in out and "needs a lesson" in out


def test_real_site_problems_are_file_line_or_clean(capsys):
    """The course is written in parallel: it may have problems, but only in file:line form."""
    import re

    try:
        call_command("check_site")
        assert "OK:" in capsys.readouterr().out
    except SystemExit as exc:
        assert exc.code == 1
        lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]
        assert lines and all(re.match(r"^\S+:\d+: \S", ln) for ln in lines), lines[:5]


@pytest.mark.django_db
def test_removed_course_is_unpublished(site, tmp_path):
    from lessons.models import Course

    load(site)
    (tmp_path / "empty").mkdir()
    other = tmp_path / "empty" / "other"
    import shutil

    shutil.copytree(site / "demo", other)
    edit(other / "course.yaml", "slug: demo", "slug: other")
    shutil.rmtree(site / "demo")
    problems, stats = load(tmp_path / "empty")
    assert problems == []
    assert list(Course.objects.filter(published=True).values_list("slug", flat=True)) == ["other"]


@pytest.mark.django_db
def test_load_site_command(site, capsys):
    call_command("load_site", str(site))
    assert "Loaded: " in capsys.readouterr().out
    call_command("load_site", str(site))
    assert "Loaded: 0 created, 0 updated, 0 unpublished." in capsys.readouterr().out
    edit(site / "demo" / "02-more" / "01-third.md", "topics: [T02]", "topics: [T99]")
    with pytest.raises(SystemExit) as exit_info:
        call_command("load_site", str(site))
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    assert "01-third.md:8: unknown topic id 'T99'" in captured.out
    assert "nothing was loaded" in captured.err


def test_anchor_that_clashes_with_the_page(site):
    f = site / "demo" / "02-more" / "01-third.md"
    edit(f, "## Sprockets", "## Sprockets {#lesson-end}")
    assert_problem(site, f, line_with(f, "{#lesson-end}"), "id 'lesson-end' is used by the page")


def test_self_referencing_alias_and_module_paths_are_problems(site):
    f = site / "demo" / "01-basics" / "questions.yaml"
    f.write_text("&a [*a]\n")
    assert_problem(site, f, 1, "an alias refers to itself")
    c = site / "demo" / "course.yaml"
    edit(c, "  - 02-more", "  - ../..")
    assert_problem(site, c, line_with(c, "../.."), "is not a folder name")
