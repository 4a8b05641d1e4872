"""Validation of question-bank and quiz data (the YAML formats of docs/authoring.md). Pure.

Every function returns a list of problems, empty when the data is valid. Each message starts
with a path whose *first component is a key of the mapping that was validated*, then
``": "`` and the problem, e.g. ``"options[2].feedback: missing"`` or ``"difficulty: must be
one of easy, medium, hard (got 'hrad')"``. The site loader finds that key's line in the file.
A problem with the mapping as a whole uses the path ``(question)`` / ``(quiz)``.

`validate_bank` checks a whole bank file (``{"questions": [...]}``); its messages start with
``questions[i]`` (so the loader can find the i-th item) followed by the question's own path.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from quizzes.grading import short_answer_matches

TOPICS = frozenset(f"T{i:02d}" for i in range(1, 37))
DIFFICULTIES = ("easy", "medium", "hard")
TYPES = ("single", "multiple", "truefalse", "ordering", "matching", "numeric", "short")
MODES = ("practice", "exam")
GRADING_METHODS = ("highest", "latest", "first", "average")

COMMON_KEYS = ("id", "type", "text", "topics", "difficulty", "lesson", "explanation")
_OVERALL = ("feedback_correct", "feedback_partial", "feedback_incorrect")
# type -> (required keys, optional keys), beyond the common ones
TYPE_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "single": (("options",), ()),
    "multiple": (("options",), ()),
    "truefalse": (("answer", "feedback_true", "feedback_false"), ()),
    "ordering": (("items",), _OVERALL),
    "matching": (("pairs",), ("distractors", *_OVERALL)),
    "numeric": (("answers",), ("unit", "feedback_incorrect")),
    "short": (("answers",), ("feedback_incorrect",)),
}

ID_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
LESSON_RE = re.compile(r"^[a-z0-9][a-z0-9-]*#[A-Za-z0-9][A-Za-z0-9_-]*$")
WEIGHT_TOLERANCE = 0.01

# Defaults for optional quiz keys, so the app and the validator agree on them.
QUIZ_DEFAULTS: dict[str, Any] = {
    "module": None,
    "mode": "practice",
    "tries": 3,
    "penalty": 0.33,
    "time_limit_minutes": 0,
    "attempts": 0,
    "grading": "highest",
    "pass_mark": 70,
    "shuffle": True,
    "questions": [],
    "draws": [],
}
QUIZ_KEYS = ("slug", "title", *QUIZ_DEFAULTS)
DRAW_KEYS = ("count", "module", "topics", "difficulty")


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _text(out: list[str], data: dict, key: str, path: str, *, required: bool = True) -> None:
    """A non-empty string under ``key`` (YAML turns bare 3 or yes into numbers and booleans)."""
    if key not in data:
        if required:
            out.append(f"{path}: missing")
        return
    v = data[key]
    if not isinstance(v, str):
        out.append(f"{path}: must be text, got {type(v).__name__} (quote it)")
    elif required and not v.strip():
        out.append(f"{path}: empty")


def _unknown(out: list[str], data: dict, allowed: Iterable[str], prefix: str = "") -> None:
    allowed = list(allowed)
    for key in data:
        if key not in allowed:
            out.append(f"{prefix}{key}: unknown key (allowed: {', '.join(allowed)})")


def _list(out: list[str], data: dict, key: str, *, min_len: int = 1, what: str = "item") -> list:
    v = data.get(key)
    if v is None:
        out.append(f"{key}: missing")
        return []
    if not isinstance(v, list):
        out.append(f"{key}: must be a list, got {type(v).__name__}")
        return []
    if len(v) < min_len:
        out.append(f"{key}: needs at least {min_len} {what}{'s' if min_len > 1 else ''}")
    return v


def _topics(out: list[str], value: Any, path: str, *, required: bool = True) -> None:
    if value is None:
        if required:
            out.append(f"{path}: missing")
        return
    if not isinstance(value, list) or not value:
        out.append(f"{path}: must be a non-empty list of topic ids like [T01]")
        return
    for i, t in enumerate(value):
        if t not in TOPICS:
            out.append(f"{path}[{i}]: unknown topic {t!r} (T01..T36)")
    if len(set(map(str, value))) != len(value):
        out.append(f"{path}: repeats a topic")


# --- questions -------------------------------------------------------------------------------


def validate_question(data: Any) -> list[str]:
    """Problems with one question mapping of a bank file; [] when it is valid."""
    if not isinstance(data, dict):
        return [f"(question): must be a mapping, got {type(data).__name__}"]
    out: list[str] = []
    qtype = data.get("type")
    if "type" not in data:
        out.append("type: missing")
    elif qtype not in TYPES:
        out.append(f"type: must be one of {', '.join(TYPES)} (got {qtype!r})")
    if "id" not in data:
        out.append("id: missing")
    elif not isinstance(data["id"], str) or not ID_RE.match(data["id"]):
        out.append(f"id: must be lower-case letters, digits, '-', '_' or '.' (got {data['id']!r})")
    _text(out, data, "text", "text")
    _text(out, data, "explanation", "explanation")
    _topics(out, data.get("topics"), "topics")
    if "difficulty" not in data:
        out.append("difficulty: missing")
    elif data["difficulty"] not in DIFFICULTIES:
        out.append(
            f"difficulty: must be one of {', '.join(DIFFICULTIES)} (got {data['difficulty']!r})"
        )
    if "lesson" not in data:
        out.append("lesson: missing")
    elif not isinstance(data["lesson"], str) or not LESSON_RE.match(data["lesson"]):
        out.append(f"lesson: must be lesson-slug#section-anchor (got {data['lesson']!r})")

    if qtype not in TYPES:
        _unknown(out, data, [*COMMON_KEYS, *{k for r, o in TYPE_KEYS.values() for k in r + o}])
        return out
    required, optional = TYPE_KEYS[qtype]
    _unknown(out, data, [*COMMON_KEYS, *required, *optional])
    for key in optional:
        if key.startswith("feedback") or key == "unit":
            _text(out, data, key, key, required=False)
    _TYPE_CHECKS[qtype](out, data)
    return out


def _options(out: list[str], data: dict, keys: tuple[str, ...]) -> list[dict]:
    opts = _list(out, data, "options", min_len=2, what="option")
    good: list[dict] = []
    seen: dict[str, int] = {}
    for i, opt in enumerate(opts):
        p = f"options[{i}]"
        if not isinstance(opt, dict):
            out.append(f"{p}: must be a mapping with text and feedback")
            continue
        _unknown(out, opt, keys, f"{p}.")
        _text(out, opt, "text", f"{p}.text")
        _text(out, opt, "feedback", f"{p}.feedback")
        text = opt.get("text")
        if isinstance(text, str):
            if text.strip() in seen:
                out.append(f"{p}.text: same as options[{seen[text.strip()]}]")
            seen.setdefault(text.strip(), i)
        good.append(opt)
    return good


def _check_single(out: list[str], data: dict) -> None:
    opts = _options(out, data, ("text", "correct", "feedback"))
    for i, opt in enumerate(opts):
        if "correct" in opt and not isinstance(opt["correct"], bool):
            out.append(f"options[{i}].correct: must be true or false")
    n = sum(1 for o in opts if o.get("correct") is True)
    if opts and n != 1:
        out.append(f"options: exactly one option needs correct: true (found {n})")


def _check_multiple(out: list[str], data: dict) -> None:
    opts = _options(out, data, ("text", "weight", "feedback"))
    total = 0.0
    for i, opt in enumerate(opts):
        w = opt.get("weight")
        if w is None:
            out.append(f"options[{i}].weight: missing (percent; 0 for a neutral option)")
        elif not _is_num(w) or not -100 <= w <= 100:
            out.append(f"options[{i}].weight: must be a number from -100 to 100 (got {w!r})")
        elif w > 0:
            total += w
    if opts and abs(total - 100) > WEIGHT_TOLERANCE:
        out.append(f"options: positive weights must sum to 100 (they sum to {total:g})")


def _check_truefalse(out: list[str], data: dict) -> None:
    if "answer" in data and not isinstance(data["answer"], bool):
        out.append(f"answer: must be true or false (got {data['answer']!r})")
    for key in ("feedback_true", "feedback_false"):
        _text(out, data, key, key)


def _check_ordering(out: list[str], data: dict) -> None:
    items = _list(out, data, "items", min_len=2)
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            out.append(f"items[{i}]: must be non-empty text (quote it)")


def _check_matching(out: list[str], data: dict) -> None:
    pairs = _list(out, data, "pairs", min_len=2, what="pair")
    lefts: dict[str, int] = {}
    for i, pair in enumerate(pairs):
        p = f"pairs[{i}]"
        if not isinstance(pair, list) or len(pair) != 2:
            out.append(f"{p}: must be [left, right]")
            continue
        if not all(isinstance(s, str) and s.strip() for s in pair):
            out.append(f"{p}: both sides must be non-empty text (quote them)")
            continue
        left = pair[0].strip()
        if left in lefts:
            out.append(f"{p}: left side {left!r} repeats pairs[{lefts[left]}]")
        lefts.setdefault(left, i)
    if "distractors" in data:
        ds = data["distractors"]
        if not isinstance(ds, list):
            out.append("distractors: must be a list of text")
        else:
            rights = {p[1].strip() for p in pairs if isinstance(p, list) and len(p) == 2}
            for i, d in enumerate(ds):
                if not isinstance(d, str) or not d.strip():
                    out.append(f"distractors[{i}]: must be non-empty text (quote it)")
                elif d.strip() in rights:
                    out.append(f"distractors[{i}]: {d!r} is also a right answer")


def _answers(out: list[str], data: dict, check_one) -> None:
    answers = _list(out, data, "answers", what="answer")
    full = False
    for i, ans in enumerate(answers):
        p = f"answers[{i}]"
        if not isinstance(ans, dict):
            out.append(f"{p}: must be a mapping")
            continue
        fr = ans.get("fraction", 100)
        if not _is_num(fr) or not 0 <= fr <= 100:
            out.append(f"{p}.fraction: must be a percentage from 0 to 100 (got {fr!r})")
        elif fr >= 100 - WEIGHT_TOLERANCE:
            full = True
        _text(out, ans, "feedback", f"{p}.feedback", required=False)
        check_one(out, ans, p)
    if answers and not full:
        out.append("answers: at least one answer needs fraction: 100")


def _check_numeric_answer(out: list[str], ans: dict, p: str) -> None:
    _unknown(out, ans, ("value", "tolerance", "min", "max", "fraction", "feedback"), f"{p}.")
    if "value" in ans:
        if "min" in ans or "max" in ans:
            out.append(f"{p}: give value (with tolerance) or min and max, not both")
        if not _is_num(ans["value"]):
            out.append(f"{p}.value: must be a number (got {ans['value']!r})")
        tol = ans.get("tolerance", 0)
        if not _is_num(tol) or tol < 0:
            out.append(f"{p}.tolerance: must be a number >= 0 (got {tol!r})")
    elif "min" in ans or "max" in ans:
        lo, hi = ans.get("min"), ans.get("max")
        if "tolerance" in ans:
            out.append(f"{p}.tolerance: only with value")
        for key, v in (("min", lo), ("max", hi)):
            if v is None:
                out.append(f"{p}.{key}: missing")
            elif not _is_num(v):
                out.append(f"{p}.{key}: must be a number (got {v!r})")
        if _is_num(lo) and _is_num(hi) and lo > hi:
            out.append(f"{p}: min ({lo}) is greater than max ({hi})")
    else:
        out.append(f"{p}: needs value (and tolerance) or min and max")


def _check_short_answer(out: list[str], ans: dict, p: str) -> None:
    _unknown(out, ans, ("text", "regex", "example", "fraction", "feedback"), f"{p}.")
    if ("text" in ans) == ("regex" in ans):
        out.append(f"{p}: needs exactly one of text or regex")
    elif "text" in ans:
        _text(out, ans, "text", f"{p}.text")
        if "example" in ans:
            out.append(f"{p}.example: only for a regex answer (a text answer shows itself)")
    else:
        rx = ans["regex"]
        if not isinstance(rx, str) or not rx:
            out.append(f"{p}.regex: must be a non-empty string")
            return
        try:
            re.compile(rx)
        except re.error as e:
            out.append(f"{p}.regex: does not compile: {e}")
            return
        if "example" in ans:
            _text(out, ans, "example", f"{p}.example")
            ex = ans["example"]
            if isinstance(ex, str) and ex.strip() and not short_answer_matches(ans, ex):
                out.append(f"{p}.example: {ex!r} does not match its own regex {rx!r}")


def _check_numeric(out: list[str], data: dict) -> None:
    _answers(out, data, _check_numeric_answer)


def _check_short(out: list[str], data: dict) -> None:
    _answers(out, data, _check_short_answer)
    # An example is what the review page shows as the right answer: it must earn full marks,
    # i.e. no earlier answer with less credit may catch it first (first match wins).
    answers = data.get("answers")
    if not isinstance(answers, list) or not all(isinstance(a, dict) for a in answers):
        return
    for i, ans in enumerate(answers):
        ex = ans.get("example")
        if not isinstance(ex, str) or not ex.strip() or "regex" not in ans:
            continue
        try:
            first = next(j for j, a in enumerate(answers) if short_answer_matches(a, ex))
        except (StopIteration, re.error, KeyError, TypeError):
            continue  # no match is reported above; a broken answer is reported by itself
        fr = answers[first].get("fraction", 100)
        if first < i and _is_num(fr) and fr < 100 - WEIGHT_TOLERANCE:
            out.append(
                f"answers[{i}].example: {ex!r} is caught first by answers[{first}], "
                f"which gives only {fr:g}%"
            )


_TYPE_CHECKS = {
    "single": _check_single,
    "multiple": _check_multiple,
    "truefalse": _check_truefalse,
    "ordering": _check_ordering,
    "matching": _check_matching,
    "numeric": _check_numeric,
    "short": _check_short,
}


def validate_bank(data: Any) -> list[str]:
    """Problems with a whole bank file ``{"questions": [...]}``, ids unique within it.

    Messages start with ``questions[i]`` and continue with the question's own path, e.g.
    ``"questions[3].options[1].feedback: missing"``.
    """
    if not isinstance(data, dict):
        return [f"(bank): must be a mapping with questions:, got {type(data).__name__}"]
    out: list[str] = []
    _unknown(out, data, ("questions",))
    questions = _list(out, data, "questions", what="question")
    seen: dict[str, int] = {}
    for i, q in enumerate(questions):
        for m in validate_question(q):
            rest = m.removeprefix("(question)")
            out.append(f"questions[{i}]" + ("" if rest != m else ".") + rest)
        qid = q.get("id") if isinstance(q, dict) else None
        if isinstance(qid, str):
            if qid in seen:
                out.append(f"questions[{i}].id: duplicate id {qid!r} (see questions[{seen[qid]}])")
            seen.setdefault(qid, i)
    return out


# --- quizzes -----------------------------------------------------------------------------------


def validate_quiz(data: Any, known_question_ids: Iterable[str] | None = None) -> list[str]:
    """Problems with one quiz mapping of quizzes.yaml; [] when valid.

    With ``known_question_ids`` (every id of the site's banks), fixed questions must exist.
    Missing optional keys take `QUIZ_DEFAULTS` (see `with_defaults`).
    """
    if not isinstance(data, dict):
        return [f"(quiz): must be a mapping, got {type(data).__name__}"]
    out: list[str] = []
    _unknown(out, data, QUIZ_KEYS)
    if "slug" not in data:
        out.append("slug: missing")
    elif not isinstance(data["slug"], str) or not SLUG_RE.match(data["slug"]):
        out.append(f"slug: must be lower-case letters, digits and '-' (got {data['slug']!r})")
    _text(out, data, "title", "title")
    _text(out, data, "module", "module", required=False)
    for key, choices in (("mode", MODES), ("grading", GRADING_METHODS)):
        if key in data and data[key] not in choices:
            out.append(f"{key}: must be one of {', '.join(choices)} (got {data[key]!r})")
    for key, lo in (("tries", 1), ("time_limit_minutes", 0), ("attempts", 0)):
        if key in data and (not _is_int(data[key]) or data[key] < lo):
            out.append(f"{key}: must be a whole number >= {lo} (got {data[key]!r})")
    if "penalty" in data and (not _is_num(data["penalty"]) or not 0 <= data["penalty"] <= 1):
        out.append(f"penalty: must be a fraction from 0 to 1 (got {data['penalty']!r})")
    if "pass_mark" in data and (
        not _is_num(data["pass_mark"]) or not 0 <= data["pass_mark"] <= 100
    ):
        out.append(f"pass_mark: must be a percentage from 0 to 100 (got {data['pass_mark']!r})")
    if "shuffle" in data and not isinstance(data["shuffle"], bool):
        out.append("shuffle: must be true or false")

    questions = data.get("questions", [])
    if not isinstance(questions, list):
        out.append("questions: must be a list of question ids")
        questions = []
    known = set(known_question_ids) if known_question_ids is not None else None
    for i, qid in enumerate(questions):
        if not isinstance(qid, str):
            out.append(f"questions[{i}]: must be a question id (text)")
        elif known is not None and qid not in known:
            out.append(f"questions[{i}]: no question with id {qid!r}")
    if len(set(map(str, questions))) != len(questions):
        out.append("questions: lists a question twice")

    draws = data.get("draws", [])
    if not isinstance(draws, list):
        out.append("draws: must be a list")
        draws = []
    for i, draw in enumerate(draws):
        p = f"draws[{i}]"
        if not isinstance(draw, dict):
            out.append(f"{p}: must be a mapping with count")
            continue
        _unknown(out, draw, DRAW_KEYS, f"{p}.")
        if not _is_int(draw.get("count")) or draw["count"] < 1:
            out.append(f"{p}.count: must be a whole number >= 1 (got {draw.get('count')!r})")
        _text(out, draw, "module", f"{p}.module", required=False)
        _topics(out, draw.get("topics"), f"{p}.topics", required=False)
        if "difficulty" in draw:
            d = draw["difficulty"]
            ds = d if isinstance(d, list) else [d]
            if not ds or any(x not in DIFFICULTIES for x in ds):
                out.append(f"{p}.difficulty: use easy, medium, hard or a list of them (got {d!r})")
    if not questions and not draws:
        out.append("questions: a quiz needs fixed questions or draws")
    return out


def with_defaults(quiz: dict) -> dict:
    """A quiz mapping with every optional key filled from `QUIZ_DEFAULTS`."""
    return {**QUIZ_DEFAULTS, **quiz}
