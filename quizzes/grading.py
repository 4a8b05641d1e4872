"""Pure graders for the question types of the bank format (docs/authoring.md).

No Django here: every function takes a question dict exactly as it appears in a question-bank
YAML file (weights and fractions in percent) and a learner's response, and returns a `Grade`.

Response shapes (the canonical, "bank-index" space):

=========== ===================================================================
single      option index (``int``; a string of digits is accepted too, forms post strings)
multiple    list of option indices (may be empty = not answered)
truefalse   ``bool`` (the strings ``"true"``/``"false"`` are accepted)
ordering    list of item indices in the learner's order (a permutation of ``items``)
matching    dict: left index -> right choice (text, or index into `matching_choices`)
numeric     number or string ("3.5", "1,024", "2e3", "4 partitions")
short       string
=========== ===================================================================

Junk policy: a response of the wrong *shape* (wrong type, index out of range, duplicates,
unparsable number) raises `InvalidResponse` with a message fit to show the learner; the app
keeps the attempt open and asks again. ``None`` (and the empty string / empty list) means
"not answered" and grades 0 with ``answered=False``. Nothing else is ever raised for any
response, however odd.

The graders assume a question that passes `quizzes.bank.validate_question`.

Ordering is graded by *absolute position* (Moodle qtype_ordering's "absolute position"
grading): fraction = items in their correct position / items. Identical item texts are
interchangeable.

How the Django app uses this module (one question of one attempt, ``seed`` = attempt id):

1. Render ``public_view(question, seed, shuffle=quiz.shuffle)`` only. It holds no correct
   flags, weights, feedback, answers or explanation, and its options/items/choices are in a
   stable shuffled *display* order; form values are display positions.
2. Autosave the posted value through ``from_display(question, posted, seed, shuffle=...)``
   (bank space); re-check inputs on reload with ``to_display``.
3. ``grade(question, response)`` -> `Grade`; store ``grade.to_dict()``. In practice mode the
   mark is ``practice_score(grade.fraction, tries, quiz.penalty)``.
4. Review page: ``response_text`` for the learner's answer and for ``correct_response(q)``,
   ``grade.feedback`` / ``grade.option_feedback`` and the question's ``explanation``.
"""

from __future__ import annotations

import math
import random
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

RIGHT, PARTIAL, WRONG = "right", "partial", "wrong"
_EPS = 1e-9
MAX_TEXT = 2000  # longest short/numeric response we grade; more is junk


class InvalidResponse(ValueError):
    """The response does not have the shape the question type expects.

    ``str(exc)`` is a sentence fit to show a learner ("Choose one of the options.").
    """


@dataclass(frozen=True)
class Grade:
    """The result of grading one response.

    fraction:        0.0 .. 1.0
    state:           "right" (fraction 1), "partial" (0 < fraction < 1) or "wrong"
    feedback:        type-level feedback texts to show, in order (e.g. ``feedback_true``,
                     the matched numeric/short answer's feedback, ``feedback_partial``)
    option_feedback: per-option feedback for choice questions: option index -> text, for the
                     options the learner chose (bank indices, not display positions)
    matched:         numeric/short: index of the answer that matched (first match wins)
    item_results:    ordering/matching: per item / left side, whether it was right
    answered:        False when the response was empty (None, "", [])
    """

    fraction: float
    state: str
    feedback: tuple[str, ...] = ()
    option_feedback: Mapping[int, str] = field(default_factory=dict)
    matched: int | None = None
    item_results: tuple[bool, ...] = ()
    answered: bool = True

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (option_feedback keys become strings in JSON; `from_dict` restores)."""
        return {
            "fraction": self.fraction,
            "state": self.state,
            "feedback": list(self.feedback),
            "option_feedback": {str(k): v for k, v in self.option_feedback.items()},
            "matched": self.matched,
            "item_results": list(self.item_results),
            "answered": self.answered,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Grade:
        return cls(
            fraction=data["fraction"],
            state=data["state"],
            feedback=tuple(data.get("feedback", ())),
            option_feedback={int(k): v for k, v in data.get("option_feedback", {}).items()},
            matched=data.get("matched"),
            item_results=tuple(data.get("item_results", ())),
            answered=data.get("answered", True),
        )


def practice_score(fraction: float, tries: int, penalty: float) -> float:
    """Interactive-mode score: ``max(0, fraction - (tries - 1) * penalty)``.

    ``tries`` counts the try that was graded (1 = right first time).
    """
    if tries < 1:
        raise ValueError("tries starts at 1")
    return max(0.0, fraction - (tries - 1) * penalty)


def _state(fraction: float) -> str:
    if fraction >= 1 - _EPS:
        return RIGHT
    return PARTIAL if fraction > _EPS else WRONG


def _make(fraction: float, **kw: Any) -> Grade:
    fraction = min(1.0, max(0.0, float(fraction)))
    if fraction >= 1 - _EPS:
        fraction = 1.0
    elif fraction <= _EPS:
        fraction = 0.0
    return Grade(fraction=fraction, state=_state(fraction), **kw)


def _texts(*items: Any) -> tuple[str, ...]:
    return tuple(t for t in items if isinstance(t, str) and t.strip())


def _unanswered(q: dict, *extra: str) -> Grade:
    return _make(0.0, feedback=_texts(*extra), answered=False)


def _index(value: Any, n: int, what: str = "option") -> int:
    """An index in range(n) from an int or a digit string; InvalidResponse otherwise."""
    if isinstance(value, bool):
        raise InvalidResponse(f"Choose one of the {what}s.")
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        value = int(value.strip())
    if not isinstance(value, int) or not 0 <= value < n:
        raise InvalidResponse(f"Choose one of the {what}s.")
    return value


def _is_empty(response: Any) -> bool:
    if response is None:
        return True
    if isinstance(response, str):
        return not response.strip()
    return isinstance(response, list | tuple | dict) and len(response) == 0


# --- single / multiple / truefalse -------------------------------------------------------


def grade_single(q: dict, response: Any) -> Grade:
    if _is_empty(response):
        return _unanswered(q)
    options = q["options"]
    i = _index(response, len(options))
    opt = options[i]
    fb = opt.get("feedback", "")
    return _make(1.0 if opt.get("correct") else 0.0, option_feedback={i: fb} if fb else {})


def grade_multiple(q: dict, response: Any) -> Grade:
    """Sum of the chosen options' weights (percent), clamped to 0..100."""
    if _is_empty(response):
        return _unanswered(q)
    if not isinstance(response, list | tuple | set | frozenset):
        raise InvalidResponse("Choose one or more of the options.")
    options = q["options"]
    chosen = [_index(r, len(options)) for r in response]
    if len(set(chosen)) != len(chosen):
        raise InvalidResponse("Each option can be chosen once.")
    total = math.fsum(float(options[i].get("weight", 0)) for i in chosen)
    fbs = {i: options[i]["feedback"] for i in sorted(chosen) if options[i].get("feedback")}
    return _make(total / 100.0, option_feedback=fbs)


def grade_truefalse(q: dict, response: Any) -> Grade:
    if _is_empty(response):
        return _unanswered(q)
    if isinstance(response, str) and response.strip().lower() in ("true", "false"):
        response = response.strip().lower() == "true"
    if not isinstance(response, bool):
        raise InvalidResponse("Answer true or false.")
    fb = q.get("feedback_true" if response else "feedback_false", "")
    return _make(1.0 if response == bool(q["answer"]) else 0.0, feedback=_texts(fb))


def _overall(q: dict, fraction: float) -> tuple[str, ...]:
    key = {RIGHT: "feedback_correct", PARTIAL: "feedback_partial", WRONG: "feedback_incorrect"}
    return _texts(q.get(key[_state(fraction)], ""))


# --- ordering / matching -------------------------------------------------------------------


def grade_ordering(q: dict, response: Any) -> Grade:
    """Absolute position: the share of items the learner put in their correct place."""
    if _is_empty(response):
        return _unanswered(q)
    items = q["items"]
    if not isinstance(response, list | tuple):
        raise InvalidResponse("Put the items in order.")
    order = [_index(r, len(items), "item") for r in response]
    if sorted(order) != list(range(len(items))):
        raise InvalidResponse("Put every item in the order exactly once.")
    # Compare texts, so two identical items are interchangeable.
    results = tuple(items[j] == items[pos] for pos, j in enumerate(order))
    fraction = sum(results) / len(items)
    return _make(fraction, item_results=results, feedback=_overall(q, fraction))


def matching_choices(q: dict) -> list[str]:
    """The right-hand choices of a matching question (pair answers, then distractors), once each.

    A matching response may name a choice by its index in this list.
    """
    seen: list[str] = []
    for text in [p[1] for p in q["pairs"]] + list(q.get("distractors") or []):
        if text not in seen:
            seen.append(text)
    return seen


def grade_matching(q: dict, response: Any) -> Grade:
    """Fraction = correctly matched left items / left items; unanswered lefts count wrong."""
    if _is_empty(response):
        return _unanswered(q)
    if not isinstance(response, Mapping):
        raise InvalidResponse("Match each item with one of the choices.")
    pairs = q["pairs"]
    choices = matching_choices(q)
    given: dict[int, str] = {}
    for key, value in response.items():
        left = _index(key, len(pairs), "item")
        if value is None or value == "":
            continue
        if isinstance(value, str) and value in choices:
            given[left] = value
        else:
            given[left] = choices[_index(value, len(choices), "choice")]
    results = tuple(given.get(i) == pair[1] for i, pair in enumerate(pairs))
    fraction = sum(results) / len(pairs)
    return _make(fraction, item_results=results, feedback=_overall(q, fraction))


# --- numeric ---------------------------------------------------------------------------------

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")


def parse_number(text: Any, unit: str | None = None) -> float:
    """Read a learner's number: ``"3.5"``, ``" -2 "``, ``"1,024"`` (thousands), ``"3,5"``
    (decimal comma), ``"2e3"``, ``"−4"`` (Unicode minus), optionally followed by the
    question's unit. Raises InvalidResponse when it is not a finite number."""
    if isinstance(text, bool):
        raise InvalidResponse("Enter a number, e.g. 42 or 3.5.")
    if isinstance(text, int | float):
        try:
            value = float(text)
        except OverflowError:
            raise InvalidResponse("Enter a finite number.") from None
    elif isinstance(text, str) and len(text) <= MAX_TEXT:
        s = unicodedata.normalize("NFKC", text).strip().replace("\u2212", "-")
        if unit and s.lower().endswith(unit.strip().lower()):
            s = s[: len(s) - len(unit.strip())].strip()
        s = re.sub(r"[\s_']", "", s)
        if _THOUSANDS.fullmatch(s):
            s = s.replace(",", "")
        elif s.count(",") == 1 and "." not in s:
            s = s.replace(",", ".")
        if not _NUMBER.fullmatch(s):
            raise InvalidResponse("Enter a number, e.g. 42 or 3.5.")
        value = float(s)
    else:
        raise InvalidResponse("Enter a number, e.g. 42 or 3.5.")
    if not math.isfinite(value):
        raise InvalidResponse("Enter a finite number.")
    return value


def numeric_bounds(answer: dict) -> tuple[float, float]:
    """The accepted closed interval of a numeric answer (value±tolerance or min..max)."""
    if "value" in answer:
        tol = abs(float(answer.get("tolerance") or 0))
        v = float(answer["value"])
        return v - tol, v + tol
    return float(answer["min"]), float(answer["max"])


def grade_numeric(q: dict, response: Any) -> Grade:
    """First answer whose interval holds the number wins; no match grades 0."""
    if _is_empty(response):
        return _unanswered(q)
    x = parse_number(response, q.get("unit"))
    for i, ans in enumerate(q["answers"]):
        lo, hi = numeric_bounds(ans)
        slack = _EPS * max(1.0, abs(lo), abs(hi))  # float noise, e.g. 0.1 + 0.2
        if lo - slack <= x <= hi + slack:
            fraction = float(ans.get("fraction", 100)) / 100
            fb = ans.get("feedback", "")
            if fraction < 1 - _EPS:
                fb_all = _texts(fb) or _texts(q.get("feedback_incorrect", ""))
            else:
                fb_all = _texts(fb)
            return _make(fraction, matched=i, feedback=fb_all)
    return _make(0.0, feedback=_texts(q.get("feedback_incorrect", "")))


# --- short text --------------------------------------------------------------------------------


def normalise_text(text: str) -> str:
    """NFKC, trimmed, inner whitespace collapsed to one space, case-folded."""
    return " ".join(unicodedata.normalize("NFKC", text).split()).casefold()


def _wildcard(pattern: str) -> re.Pattern[str]:
    # `*` matches any run of characters; `\*` is a literal star.
    parts = re.split(r"(\\\*|\*)", normalise_text(pattern))
    body = "".join(
        ".*" if p == "*" else re.escape("*") if p == "\\*" else re.escape(p) for p in parts
    )
    return re.compile(body, re.DOTALL)


def short_answer_matches(answer: dict, response: str) -> bool:
    """Does one short answer (``text`` with wildcards, or ``regex``) accept the response?

    ``text`` must match the whole normalised response; ``regex`` is searched
    (``re.search``, case-insensitive) in the whitespace-normalised response, so anchor it with
    ``^``/``$`` when it must match the whole answer.
    """
    if "regex" in answer:
        squeezed = " ".join(unicodedata.normalize("NFKC", response).split())
        return re.search(answer["regex"], squeezed, re.IGNORECASE) is not None
    return _wildcard(str(answer["text"])).fullmatch(normalise_text(response)) is not None


def grade_short(q: dict, response: Any) -> Grade:
    if _is_empty(response):
        return _unanswered(q)
    if isinstance(response, bool) or not isinstance(response, str | int | float):
        raise InvalidResponse("Type your answer as text.")
    response = str(response)
    if len(response) > MAX_TEXT:
        raise InvalidResponse(f"Keep your answer under {MAX_TEXT} characters.")
    for i, ans in enumerate(q["answers"]):
        if short_answer_matches(ans, response):
            fraction = float(ans.get("fraction", 100)) / 100
            fb = _texts(ans.get("feedback", ""))
            if fraction < 1 - _EPS and not fb:
                fb = _texts(q.get("feedback_incorrect", ""))
            return _make(fraction, matched=i, feedback=fb)
    return _make(0.0, feedback=_texts(q.get("feedback_incorrect", "")))


# --- dispatch ----------------------------------------------------------------------------------

GRADERS: dict[str, Callable[[dict, Any], Grade]] = {
    "single": grade_single,
    "multiple": grade_multiple,
    "truefalse": grade_truefalse,
    "ordering": grade_ordering,
    "matching": grade_matching,
    "numeric": grade_numeric,
    "short": grade_short,
}


def grade(question: dict, response: Any) -> Grade:
    """Grade a response (bank-index space) to a bank question of any type."""
    return GRADERS[question["type"]](question, response)


def correct_response(q: dict) -> Any:
    """A response that scores 1, for the review page and for tests.

    short: the first full-credit ``text`` answer (wildcards removed), else the ``example`` of
    the first full-credit ``regex`` answer; None when every full-credit answer is a regex
    without an example (see `accepted_pattern` for what to show then).
    """
    t = q["type"]
    if t == "single":
        return next(i for i, o in enumerate(q["options"]) if o.get("correct"))
    if t == "multiple":
        return [i for i, o in enumerate(q["options"]) if float(o.get("weight", 0)) > 0]
    if t == "truefalse":
        return bool(q["answer"])
    if t == "ordering":
        return list(range(len(q["items"])))
    if t == "matching":
        return {i: p[1] for i, p in enumerate(q["pairs"])}
    full = [a for a in q["answers"] if float(a.get("fraction", 100)) >= 100 - _EPS]
    if t == "numeric":
        lo, hi = numeric_bounds(full[0])
        return (lo + hi) / 2
    if t == "short":
        for a in full:
            if "text" in a:
                # Remove wildcards (they match the empty string) and unescape literal stars.
                return re.sub(r"\\\*|\*", lambda m: "*" if m.group() == "\\*" else "", a["text"])
        for a in full:
            if isinstance(a.get("example"), str) and a["example"].strip():
                return a["example"]
        return None
    raise KeyError(t)


def accepted_pattern(q: dict) -> dict | None:
    """The first full-credit regex of a short question in a readable form, for review pages
    when `correct_response` has nothing to show (every full-credit answer is a regex without an
    ``example``): ``{"pattern": ..., "whole": bool}`` where ``whole`` says the regex was
    anchored with ``^`` and ``$`` (dropped from ``pattern``). None for any other question."""
    if q.get("type") != "short":
        return None
    for a in q.get("answers", []):
        if float(a.get("fraction", 100)) >= 100 - _EPS and isinstance(a.get("regex"), str):
            rx = a["regex"]
            whole = len(rx) > 1 and rx[0] == "^" and rx[-1] == "$" and not rx.endswith("\\$")
            return {"pattern": rx[1:-1] if whole else rx, "whole": whole}
    return None


def response_text(q: dict, response: Any) -> str | list[str] | None:
    """A readable rendering of a (valid, bank-space) response for review pages.

    single: the option text; multiple: option texts; truefalse: "True"/"False"; ordering:
    item texts in the learner's order; matching: ["left → right", ...]; numeric/short: the
    response as text. None when unanswered.
    """
    if _is_empty(response):
        return None
    t = q["type"]
    if t == "single":
        return q["options"][_index(response, len(q["options"]))]["text"]
    if t == "multiple":
        return [q["options"][_index(i, len(q["options"]))]["text"] for i in response]
    if t == "truefalse":
        return "True" if response in (True, "true", "True") else "False"
    if t == "ordering":
        return [q["items"][_index(i, len(q["items"]), "item")] for i in response]
    if t == "matching":
        choices = matching_choices(q)
        out = []
        for key, value in response.items():
            if value is None or value == "":
                continue  # a row the learner has not matched yet
            left = q["pairs"][_index(key, len(q["pairs"]), "item")][0]
            right = value if isinstance(value, str) else choices[_index(value, len(choices))]
            out.append(f"{left} \u2192 {right}")
        return out
    return str(response)


# --- what the learner may see before answering --------------------------------------------------


def display_order(n: int, seed: str, *, derange: bool = False) -> list[int]:
    """A stable permutation of range(n) from a seed (same seed, same order).

    ``derange=True`` avoids the identity order (used for ordering questions, where showing
    the items already in order would give the answer away).
    """
    order = list(range(n))
    random.Random(seed).shuffle(order)
    if derange and n >= 2 and order == sorted(order):
        order = order[1:] + order[:1]
    return order


def _orders(q: dict, seed: str, shuffle: bool) -> dict[str, list[int]]:
    t, qid = q["type"], str(q.get("id", ""))
    if t in ("single", "multiple"):
        n = len(q["options"])
        return {"options": display_order(n, f"{seed}|{qid}|options") if shuffle else list(range(n))}
    if t == "ordering":
        return {"items": display_order(len(q["items"]), f"{seed}|{qid}|items", derange=True)}
    if t == "matching":
        n = len(matching_choices(q))
        return {"choices": display_order(n, f"{seed}|{qid}|choices")}
    return {}


def public_view(question: dict, seed: str = "", *, shuffle: bool = True) -> dict:
    """What a learner may see before answering: no correct flags, weights, feedback, answers,
    explanation, nor anything that orders the answer (ordering items and matching choices
    are shuffled; positions are *display* positions).

    Shape: ``{"id", "type", "text"}`` plus, by type, ``options: [text]`` (single/multiple),
    ``items: [text]`` (ordering, shuffled), ``lefts: [text]`` and ``choices: [text]``
    (matching, choices shuffled), ``unit`` (numeric, when set). Responses posted against this
    view are in display space; turn them into grader responses with `from_display`.
    ``seed`` should be stable per attempt (e.g. the attempt id) so a reload shows the same order.
    """
    q = question
    view: dict[str, Any] = {"id": q.get("id"), "type": q["type"], "text": q.get("text", "")}
    orders = _orders(q, seed, shuffle)
    t = q["type"]
    if t in ("single", "multiple"):
        view["options"] = [q["options"][i]["text"] for i in orders["options"]]
    elif t == "ordering":
        view["items"] = [q["items"][i] for i in orders["items"]]
    elif t == "matching":
        choices = matching_choices(q)
        view["lefts"] = [p[0] for p in q["pairs"]]
        view["choices"] = [choices[i] for i in orders["choices"]]
    elif t == "numeric" and q.get("unit"):
        view["unit"] = q["unit"]
    return view


def from_display(question: dict, response: Any, seed: str = "", *, shuffle: bool = True) -> Any:
    """Map a response in `public_view` display positions to the grader's bank-index space.

    single: display position -> option index; multiple: positions -> indices; ordering: list
    of display positions in the learner's order -> item indices; matching: {left index:
    display position of the choice} -> {left index: choice text}. Other types pass through.
    Raises InvalidResponse for positions out of range.
    """
    if _is_empty(response):
        return response
    orders = _orders(question, seed, shuffle)
    t = question["type"]
    if t == "single":
        o = orders["options"]
        return o[_index(response, len(o))]
    if t == "multiple" and isinstance(response, list | tuple):
        o = orders["options"]
        return [o[_index(r, len(o))] for r in response]
    if t == "ordering" and isinstance(response, list | tuple):
        o = orders["items"]
        return [o[_index(r, len(o), "item")] for r in response]
    if t == "matching" and isinstance(response, Mapping):
        o, choices = orders["choices"], matching_choices(question)
        return {
            k: (None if v is None or v == "" else choices[o[_index(v, len(o), "choice")]])
            for k, v in response.items()
        }
    return response


def to_display(question: dict, response: Any, seed: str = "", *, shuffle: bool = True) -> Any:
    """Inverse of `from_display`: a saved grader response back in display positions, to
    re-check the learner's choices when the page is reloaded."""
    if _is_empty(response):
        return response
    orders = _orders(question, seed, shuffle)
    t = question["type"]

    def inv(o: list[int]) -> dict[int, int]:
        return {orig: pos for pos, orig in enumerate(o)}

    if t == "single":
        return inv(orders["options"])[response]
    if t == "multiple":
        return sorted(inv(orders["options"])[r] for r in response)
    if t == "ordering":
        return [inv(orders["items"])[r] for r in response]
    if t == "matching":
        pos = inv(orders["choices"])
        choices = matching_choices(question)
        return {
            k: None if v is None else pos[choices.index(v) if isinstance(v, str) else v]
            for k, v in response.items()
        }
    return response
