"""Hostile input, thrown by hypothesis: random and malformed data never crashes anything.

- the content checker (lessons.loader.check) on a site folder full of random YAML/Markdown:
  it returns problems, never raises;
- quizzes.gift.parse_gift on random text: a list of questions or GiftError, nothing else;
- every route (discovered from the URL configuration) with random form fields, as the owner:
  never a 500;
- every lab's command endpoint with random JSON and form payloads: 2xx, or a 4xx with a reason.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labs import driver
from labs import services as lab_services
from labs.scenarios import list_scenarios
from lessons.loader import check
from quizzes.gift import GiftError, parse_gift
from tests.security.routes import Route, all_routes, build_url, client_for

FIXTURE_SITE = Path(__file__).resolve().parent.parent / "lessons" / "fixtures" / "site"
ROUTES = all_routes()
QUICK = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- strategies -----------------------------------------------------------------------------

text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)),
    max_size=200,
)
yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    text,
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
YAML_TRICKS = st.sampled_from(
    [
        "",
        "---\n",
        ": : :\n",
        "- [unclosed\n",
        "key: {a: 1\n",
        "&a [*a]\n",
        "!!python/object/apply:os.system ['echo pwned']\n",
        "title: !!binary aGVsbG8=\n",
        "a: &x 1\nb: *y\n",
        "\t- tab indented\n",
        "slug: ../../etc\nmodules: ['../..', '/etc', '']\n",
        "modules: 7\n",
        "questions: [1, 2, {type: nope}]\n",
        "quizzes: {not: a list}\n",
        "\x00\x01\x02",
        "\ufeffBOM: yes\n",
        "x: " + "[" * 200 + "]" * 200 + "\n",
    ]
)


def _yaml_dump(value) -> str:
    import yaml

    try:
        return yaml.safe_dump(value, allow_unicode=True)
    except yaml.YAMLError:
        return str(value)


yaml_texts = st.one_of(YAML_TRICKS, yaml_values.map(_yaml_dump), text)
markdown_texts = st.one_of(
    text,
    st.builds(
        lambda front, body: f"---\n{front}---\n{body}",
        st.one_of(YAML_TRICKS, yaml_values.map(_yaml_dump)),
        text,
    ),
    st.sampled_from(
        [
            "---\nno closing front matter\n",
            "---\ntitle: x\n---\n<script>alert(1)</script>\n[x](javascript:alert(1))\n",
            "---\ntitle: x\nslug: x\n---\n```mermaid\n" + "A-->B\n" * 50 + "```\n",
            "---\ntitle: x\n---\n![img](../../../../etc/passwd)\n[link](missing.md#nowhere)\n",
        ]
    ),
)

# --- the content checker --------------------------------------------------------------------

SITE_FILES = [
    "demo/course.yaml",
    "demo/01-basics/module.yaml",
    "demo/01-basics/01-intro.md",
    "demo/01-basics/02-second.md",
    "demo/01-basics/questions.yaml",
    "demo/quizzes.yaml",
    "demo/labs/circuit-breaker/outage.yaml",
    "demo/02-more/module.yaml",
    "demo/02-more/01-third.md",
]


@QUICK
@given(
    target=st.sampled_from(SITE_FILES),
    content=st.data(),
    extra_name=st.one_of(st.none(), st.sampled_from(["x.yaml", "01-basics/zz.md", "labs/x.yaml"])),
)
def test_content_checker_reports_problems_and_never_raises(target, content, extra_name):
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        shutil.copytree(FIXTURE_SITE, site)
        strategy = markdown_texts if target.endswith(".md") else yaml_texts
        (site / target).write_text(content.draw(strategy, label=target), encoding="utf-8")
        if extra_name:
            extra = site / "demo" / extra_name
            extra.parent.mkdir(parents=True, exist_ok=True)
            extra.write_bytes(content.draw(st.binary(max_size=200), label=extra_name))
        courses, problems = check(site)
    assert isinstance(courses, list) and isinstance(problems, list)
    for problem in problems:
        assert str(problem)  # every problem can be shown to the author


def test_content_checker_on_a_missing_or_empty_folder(tmp_path):
    assert check(tmp_path / "nope")[1]
    assert check(tmp_path)[1]


# --- the GIFT parser ------------------------------------------------------------------------

gift_pieces = st.sampled_from(
    [
        "::T::",
        "{",
        "}",
        "=",
        "~",
        "#",
        "####",
        "->",
        "%50%",
        "%-200%",
        "%abc%",
        "\\",
        "\\{",
        ":",
        "..",
        "1..",
        "T",
        "F",
        "TRUE",
        "$CATEGORY:",
        "//",
        "[html]",
        "[markdown]",
        "\n",
        "\n\n",
        " ",
        "9e999",
        "nan",
        "Who? ",
    ]
)
gift_texts = st.one_of(
    text,
    st.lists(st.one_of(gift_pieces, st.text(max_size=5)), max_size=40).map("".join),
)


@settings(max_examples=300, deadline=None)
@given(gift_texts)
def test_parse_gift_returns_a_list_or_raises_gift_error(source):
    try:
        questions = parse_gift(source)
    except GiftError as exc:
        assert str(exc)
        return
    assert isinstance(questions, list)
    assert all(isinstance(q, dict) for q in questions)


# --- every form, with random fields ---------------------------------------------------------


class _FieldNames(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def handle_starttag(self, tag, attrs):
        if tag in ("input", "select", "textarea", "button"):
            name = dict(attrs).get("name")
            if name and name != "csrfmiddlewaretoken":
                self.names.add(name)


COMMON_FIELDS = [
    "username",
    "email",
    "password",
    "password1",
    "password2",
    "old_password",
    "new_password1",
    "new_password2",
    "answer",
    "check",
    "speed",
    "seconds",
    "q",
    "type",
    "value",
    "name",
    "file",
    "csv",
    "learners",
    "code",
    "next",
]


@pytest.fixture(scope="module")
def field_names(world, django_db_blocker) -> list[str]:
    """Field names from the forms on every page the owner can open, plus the common ones."""
    names = set(COMMON_FIELDS)
    with django_db_blocker.unblock():
        for route in ROUTES:
            url, _exact = build_url(route, world["values"])
            if "events" in url:  # streams never end; they have no forms
                continue
            for role in ("owner", "teacher"):
                response = client_for(world, role).get(url)
                if response.status_code == 200 and not response.streaming:
                    parser = _FieldNames()
                    parser.feed(response.content.decode("utf-8", "replace"))
                    names |= parser.names
    return sorted(names)


form_values = st.one_of(
    text,
    st.integers().map(str),
    st.sampled_from(["", "0", "-1", "1e309", "NaN", "true", "on", "../../x", "<script>", "%00"]),
    st.lists(text, max_size=3),
)


@pytest.mark.django_db
@pytest.mark.parametrize("route", ROUTES, ids=[r.id for r in ROUTES])
def test_random_form_posts_never_crash(route: Route, world, field_names, redis_client):
    url, _exact = build_url(route, world["values"])

    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        role=st.sampled_from(["owner", "teacher"]),
        data=st.dictionaries(
            st.one_of(st.sampled_from(field_names), st.text(min_size=1, max_size=10)),
            form_values,
            max_size=6,
        ),
        htmx=st.booleans(),
    )
    def post(role, data, htmx):
        headers = {"HX-Request": "true"} if htmx else {}
        response = client_for(world, role).post(url, data, headers=headers)
        exc = getattr(response, "exc_info", None)
        assert response.status_code < 500 or (response.status_code == 503 and not exc), (
            f"POST {url} as {role} with {data!r} answered {response.status_code}"
            + (f" ({exc[0].__name__}: {exc[1]})" if exc else "")
        )

    post()


# --- lab command endpoints ------------------------------------------------------------------

LABS = sorted({s.lab for s in list_scenarios()})
json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=30),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def _command_payloads(lab: str):
    from labs.engines import get_engine

    schema = get_engine(lab).command_schema()
    kinds = [c["type"] for c in schema]
    fields = sorted({f["name"] for c in schema for f in c.get("fields", [])}) or ["value"]
    shaped = st.fixed_dictionaries(
        {"type": st.one_of(st.sampled_from(kinds), st.text(max_size=10))},
        optional={name: json_values for name in fields},
    )
    return st.one_of(shaped, json_values)


@pytest.mark.django_db
@pytest.mark.parametrize("lab", LABS)
def test_random_lab_commands_answer_with_a_reason(lab, world, redis_client):
    owner = world["people"]["owner"]
    scenario = next(s for s in list_scenarios() if s.lab == lab)
    run = lab_services.start_run(owner, lab, scenario.slug, seed=5, enqueue=False)
    driver.advance_slice(run.pk, 0)
    url = f"/labs/runs/{run.pk}/command"
    client = client_for(world, "owner")

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(payload=_command_payloads(lab), as_form=st.booleans(), raw=st.booleans())
    def send(payload, as_form, raw):
        redis_client.delete(driver.commands_key(run.pk))  # never hit the queue limit
        if as_form and isinstance(payload, dict):
            form = {
                k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in payload.items()
            }
            form = {k: "" if v is None else v for k, v in form.items()}
            response = client.post(url, form, headers={"Accept": "application/json"})
        elif raw:
            body = json.dumps(payload)[:-1] if json.dumps(payload) else "{"  # truncated JSON
            response = client.post(url, body, content_type="application/json")
        else:
            response = client.post(url, json.dumps(payload), content_type="application/json")
        exc = getattr(response, "exc_info", None)
        assert response.status_code in (200, 400), (
            f"{lab} command {payload!r} answered {response.status_code}"
            + (f" ({exc[0].__name__}: {exc[1]})" if exc else "")
        )
        body = response.json()
        if response.status_code == 400:
            assert body["ok"] is False and body["error"].strip(), body
        else:
            assert body["ok"] is True, body

    send()


# --- every URL parameter, with random values ------------------------------------------------

PARAM_ROUTES = [r for r in ROUTES if r.params]
PATH_TRICKS = st.sampled_from(
    ["\x00", "a\x00.png", "..", "../..", "../../etc/passwd", "%2e%2e", "x.svg\x00.txt", "~", " "]
)


def _param_value(conv: str):
    from urllib.parse import quote

    if conv == "int":
        return st.one_of(st.integers(min_value=0, max_value=2**70), st.just(0)).map(str)
    if conv == "uuid":
        return st.uuids().map(str)
    raw = st.one_of(PATH_TRICKS, text.filter(bool))
    if conv == "path":
        return st.lists(raw, min_size=1, max_size=4).map(lambda p: quote("/".join(p), safe="/"))
    return raw.map(lambda s: quote(s, safe=""))


@pytest.mark.django_db
@pytest.mark.parametrize("route", PARAM_ROUTES, ids=[r.id for r in PARAM_ROUTES])
def test_random_url_parameters_never_crash(route: Route, world, redis_client):
    """Random, traversal and NUL-byte values in each path parameter: a 4xx, never a 500."""
    exact_url, _exact = build_url(route, world["values"])

    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(data=st.data(), role=st.sampled_from(["anonymous", "owner"]))
    def get(data, role):
        conv, name = data.draw(st.sampled_from(route.params), label="param")
        values = {k: dict(v) for k, v in world["values"].items()}
        values.setdefault(route.namespace, {})[name] = data.draw(_param_value(conv), label=name)
        url, _ = build_url(route, values)
        response = client_for(world, role).get(url)
        exc = getattr(response, "exc_info", None)
        assert response.status_code < 500 or (response.status_code == 503 and not exc), (
            f"GET {url} as {role} answered {response.status_code}"
            + (f" ({exc[0].__name__}: {exc[1]})" if exc else "")
        )

    assert exact_url
    get()


def test_lesson_assets_never_leave_the_course_folder(world, db):
    """Only images inside the course folder are served, whatever the path says."""
    course = world["values"]["lessons"]["course"]
    client = client_for(world, "anonymous")
    for rel in [
        "../course.yaml",
        "../../../../etc/passwd",
        "..%2f..%2fcourse.yaml",
        "%2e%2e/%2e%2e/etc/hosts",
        "01-foundations/../../../pyproject.toml",
        "course.yaml",
        "/etc/passwd",
        "a%00.png",  # a NUL byte must be a 404 too, not a ValueError from Path.resolve()
    ]:
        response = client.get(f"/courses/{course}/assets/{rel}")
        exc = getattr(response, "exc_info", None)
        assert response.status_code == 404, (
            rel,
            response.status_code,
            f"{exc[0].__name__}: {exc[1]}" if exc else "",
        )
