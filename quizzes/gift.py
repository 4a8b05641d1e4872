"""GIFT (Moodle) import and export, pure Python.

`parse_gift` follows Moodle's ``qformat_gift::readquestion`` (question/format/gift/format.php)
rule by rule; docs/gift.md lists the rules and the few deliberate differences. Questions are
plain dicts:

common      type, name, text, general_feedback, category
multichoice single (bool), answers [{text, fraction, feedback}]
truefalse   correct (bool), feedback_wrong, feedback_right
shortanswer answers [{text, fraction, feedback}]
numerical   answers [{value, tolerance, fraction, feedback}]  (catch-all: value/tolerance None)
matching    pairs [[question, answer]]  (an empty question makes the answer a distractor)
essay, description: nothing more

Fractions are floats (1.0 = 100 %). `export_gift` writes questions back so that
``parse_gift(export_gift(qs)) == qs``; `gift_to_bank` / `bank_to_gift` convert to and from the
question-bank format of docs/authoring.md where the other side can represent the question.
"""

from __future__ import annotations

import re
import sys
from typing import Any

FORMATS = ("moodle", "html", "plain", "markdown")
TRUEFALSE_ANSWERS = ("T", "TRUE", "F", "FALSE")
# Moodle's `$giftanswerweightregex`.
WEIGHT_RE = re.compile(r"^%-*([0-9]{1,2})\.?([0-9]*)%")
_PHP_NUMERIC = re.compile(r"^[ \t\n\r\v\f]*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?[ \t\n\r\v\f]*$")
_PHP_TRIM = " \t\n\r\0\x0b"

# Escapes become placeholders before parsing and characters after (Moodle's escapedchar_pre /
# _post). Unicode noncharacters instead of Moodle's "&&058;" so no real text can collide.
_ESCAPES = {
    ":": "\ufdd0",
    "#": "\ufdd1",
    "=": "\ufdd2",
    "{": "\ufdd3",
    "}": "\ufdd4",
    "~": "\ufdd5",
}
_NEWLINE = "\ufdd6"
_BACKSLASH = "\ufdd7"


class GiftError(ValueError):
    """Malformed GIFT; ``.line`` is the 1-based line where the offending question starts."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(f"line {line}: {message}")
        self.message = message
        self.line = line


def _trim(s: str) -> str:
    return s.strip(_PHP_TRIM)


def _escape_pre(s: str) -> str:
    s = s.replace("\\\\", _BACKSLASH)
    for ch, ph in _ESCAPES.items():
        s = s.replace("\\" + ch, ph)
    s = s.replace("\\n", _NEWLINE)
    return s.replace(_BACKSLASH, "\\")


def _escape_post(s: str) -> str:
    for ch, ph in _ESCAPES.items():
        s = s.replace(ph, ch)
    return s.replace(_NEWLINE, "\n")


def _with_format(text: str) -> str:
    """Moodle's parse_text_with_format, keeping only the text: drop a leading [format]."""
    if text.startswith("["):
        end = text.find("]")
        if end != -1 and text[1:end] in FORMATS:
            text = text[end + 1 :]
    return _trim(_escape_post(text))


def _comment(answer: str) -> tuple[str, str]:
    """Moodle's commentparser: ``text # feedback``."""
    bits = answer.split("#", 1)
    return _with_format(_trim(bits[0])), _with_format(_trim(bits[1])) if len(bits) > 1 else ""


def _weight(answer: str, line: int) -> tuple[float, str]:
    """Moodle's answerweightparser: ``%50%rest`` -> (0.5, "rest")."""
    body = answer[1:]
    end = body.find("%")
    try:
        # Moodle stores fractions with 7 decimals (question_answers.fraction).
        weight = round(float(body[:end]) / 100, 7)
    except ValueError:
        raise GiftError(f"bad answer weight %{body[:end]}%", line) from None
    return weight, body[end + 1 :]


def _split_answers(answertext: str, sep: str) -> list[str]:
    answers = answertext.split(sep)
    answers[0] = _trim(answers[0])
    if not answers[0]:
        answers.pop(0)
    return answers


def _shorten(text: str, ideal: int = 80) -> str:
    """Roughly Moodle's shorten_text for default names: cut at a word, end with '...'."""
    text = " ".join(re.sub(r"<[^>]*>", " ", text).split())
    if len(text) <= ideal:
        return text
    cut = text[: ideal - 3]
    if " " in cut:
        cut = cut[: cut.rfind(" ")]
    return cut + "..."


def _number(s: str, line: int) -> float:
    if not _PHP_NUMERIC.match(s):
        raise GiftError(f"not a number: {s!r}", line)
    return float(s)


def parse_gift(text: str) -> list[dict]:
    """Parse GIFT text into question dicts (see the module docstring). Raises GiftError."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    questions: list[dict] = []
    category = ""
    block: list[str] = []
    start = 0
    for number, raw in enumerate([*text.split("\n"), ""], start=1):
        line = _trim(raw)
        if line:
            if not block:
                start = number
            block.append(line)
            continue
        if block:
            q = _read_question(block, start, category)
            block = []
            if q is None:
                continue
            if q["type"] == "category":
                category = q["category"]
            else:
                questions.append(q)
    return questions


def _read_question(lines: list[str], line: int, category: str) -> dict | None:
    lines = [" " if ln.startswith("//") else ln for ln in lines]
    text = _trim("\n".join(lines))
    if not text:
        return None
    text = _escape_pre(text)
    if text.startswith("$CATEGORY:"):
        return {"type": "category", "category": _trim(_escape_post(text[10:]))}

    name: str | None = None
    if text.startswith("::"):
        text = text[2:]
        end = text.find("::")
        if end != -1:
            name = _trim(_escape_post(text[:end]))
            text = _trim(text[end + 2 :])

    start, finish = text.find("{"), text.find("}")
    description = start == -1 and finish == -1
    if description:
        answertext, questiontext = "", text
    elif start == -1 or finish == -1:
        raise GiftError("missing '{' or '}' around the answers", line)
    elif finish < start:
        raise GiftError("'}' comes before '{'", line)
    else:
        answertext = _trim(text[start + 1 : finish])
        # Answers at the very end leave the text alone; elsewhere they leave a blank to fill.
        blank = "" if text.endswith("}") else "_____"
        questiontext = text[:start] + blank + text[finish + 1 :]

    general_feedback = ""
    gf = answertext.rfind("####")
    if gf != -1:
        general_feedback = answertext[gf + 4 :]
        answertext = _trim(answertext[:gf])

    q: dict[str, Any] = {"type": "", "name": "", "text": _with_format(questiontext)}
    q["general_feedback"] = _with_format(general_feedback)
    q["category"] = category
    q["name"] = name if name is not None else (_shorten(q["text"]) or "Question name")

    if description:
        q["type"] = "description"
    elif answertext == "":
        q["type"] = "essay"
    elif answertext[0] == "#":
        q["type"] = "numerical"
        q["answers"] = _numerical(answertext[1:], line)
    elif "~" in answertext:
        q["type"] = "multichoice"
        q["single"] = "=" in answertext
        q["answers"] = _multichoice(answertext, line)
    elif "=" in answertext and "->" in answertext:
        q["type"] = "matching"
        q["pairs"] = _matching(answertext, line)
    else:
        check = answertext
        if answertext.find("#") > 0:
            check = _trim(answertext[: answertext.find("#")])
        if check in TRUEFALSE_ANSWERS:
            bits = answertext.split("#", 2) + ["", ""]
            q["type"] = "truefalse"
            q["correct"] = _with_format(_trim(bits[0])) in ("T", "TRUE")
            q["feedback_wrong"] = _with_format(_trim(bits[1]))
            q["feedback_right"] = _with_format(_trim(bits[2]))
        else:
            q["type"] = "shortanswer"
            q["answers"] = _shortanswer(answertext, line)
    return q


def _multichoice(answertext: str, line: int) -> list[dict]:
    answers = _split_answers(answertext.replace("=", "~="), "~")
    if len(answers) < 2:
        raise GiftError("a multiple-choice question needs at least two answers", line)
    out = []
    for answer in answers:
        answer = _trim(answer)
        if answer.startswith("="):
            fraction, answer = 1.0, answer[1:]
        elif WEIGHT_RE.match(answer):
            fraction, answer = _weight(answer, line)
        else:
            fraction = 0.0
        text, feedback = _comment(answer)
        out.append({"text": text, "fraction": fraction, "feedback": feedback})
    return out


def _matching(answertext: str, line: int) -> list[list[str]]:
    answers = _split_answers(answertext, "=")
    if len(answers) < 2:
        raise GiftError("a matching question needs at least two pairs", line)
    pairs = []
    for answer in answers:
        answer = _trim(answer)
        marker = answer.find("->")
        if marker == -1:
            raise GiftError(f"matching answer without '->': {_escape_post(answer)!r}", line)
        pairs.append([_with_format(answer[:marker]), _trim(_escape_post(answer[marker + 2 :]))])
    return pairs


def _shortanswer(answertext: str, line: int) -> list[dict]:
    answers = _split_answers(answertext, "=")
    if not answers:
        raise GiftError("a short-answer question needs an answer", line)
    out = []
    for answer in answers:
        answer = _trim(answer)
        fraction = 1.0
        if WEIGHT_RE.match(answer):
            fraction, answer = _weight(answer, line)
        text, feedback = _comment(answer)
        out.append({"text": text, "fraction": fraction, "feedback": feedback})
    return out


def _numerical(answertext: str, line: int) -> list[dict]:
    wrong = ""
    if "~" in answertext:
        pos = answertext.find("~")
        answertext, wrong = answertext[:pos], answertext[pos:]
    answers = _split_answers(answertext, "=")
    if not answers:
        raise GiftError("a numerical question needs an answer", line)
    out = []
    for answer in answers:
        answer = _trim(answer)
        fraction = 1.0
        if WEIGHT_RE.match(answer):
            fraction, answer = _weight(answer, line)
        text, feedback = _comment(answer)
        value: float | None
        tolerance: float | None
        if text.find("..") > 0:
            marker = text.find("..")
            lo, hi = _number(_trim(text[:marker]), line), _number(_trim(text[marker + 2 :]), line)
            value = (hi + lo) / 2
            tolerance = hi - value
        else:
            raw, tol = text, "0"
            if text.find(":") > 0:
                raw, tol = _trim(text[: text.find(":")]), _trim(text[text.find(":") + 1 :])
            tolerance = _number(tol, line)
            if _trim(raw) == "*":
                value = tolerance = None
            else:
                value = _number(raw, line)
        out.append(
            {"value": value, "tolerance": tolerance, "fraction": fraction, "feedback": feedback}
        )
    if wrong:
        out.append(
            {"value": None, "tolerance": None, "fraction": 0.0, "feedback": _comment(wrong)[1]}
        )
    return out


# --- export ---------------------------------------------------------------------------------------


def _rep(text: str) -> str:
    """Moodle's repchar: escape the reserved characters, newlines as \\n, drop \\r."""
    text = text.replace("\\", "\\\\")
    for ch in "#=~{}:":
        text = text.replace(ch, "\\" + ch)
    return text.replace("\n", "\\n").replace("\r", "")


def _fmt(text: str) -> str:
    """Text that goes through parse_text_with_format: guard a leading '[' with [moodle]."""
    return ("[moodle]" if text.startswith("[") else "") + _rep(text)


def _pct(fraction: float) -> str:
    """A weight Moodle's regex accepts that reads back as this fraction (7 decimals at most)."""
    if round(fraction, 7) != fraction:
        raise ValueError(f"fraction {fraction!r} has more than 7 decimals (Moodle keeps 7)")
    s = f"{fraction * 100:.5f}".rstrip("0").rstrip(".")
    if round(float(s) / 100, 7) != fraction or not WEIGHT_RE.match(f"%{s}%"):
        raise ValueError(f"fraction {fraction!r} cannot be written as a GIFT weight")
    return f"%{s}%"


def _num(x: Any) -> str:
    s = repr(float(x))
    if not _PHP_NUMERIC.match(s):
        raise ValueError(f"{x!r} is not a finite number")
    return s


def _gf(q: dict, indent: str = "\t") -> str:
    gf = q.get("general_feedback", "")
    return f"{indent}####{_fmt(gf)}\n" if gf else ""


def _write(q: dict) -> str:
    t = q["type"]
    head = f"::{_rep(q.get('name', ''))}::{_fmt(q.get('text', ''))}"
    if t == "description":
        if q.get("general_feedback"):
            raise ValueError("a description cannot carry general feedback in GIFT")
        return head + "\n"
    if t == "essay":
        gf = q.get("general_feedback", "")
        return head + "{" + (f"####{_fmt(gf)}" if gf else "") + "}\n"
    if t == "truefalse":
        out = head + "{" + ("TRUE" if q["correct"] else "FALSE")
        wrong, right = q.get("feedback_wrong", ""), q.get("feedback_right", "")
        if wrong or right:
            out += "#" + _fmt(wrong)
        if right:
            out += "#" + _fmt(right)
        gf = q.get("general_feedback", "")
        return out + (f"####{_fmt(gf)}" if gf else "") + "}\n"
    lines = [head + ("{#" if t == "numerical" else "{")]
    if t == "multichoice":
        if len(q["answers"]) < 2:
            raise ValueError("a multiple-choice question needs at least two answers")
        marked = False
        for a in q["answers"]:
            if q["single"] and not marked and a["fraction"] == 1.0:
                prefix, marked = "=", True
            else:
                prefix = "~" + _pct(a["fraction"])
            fb = a.get("feedback", "")
            lines.append(f"\t{prefix}{_fmt(a['text'])}" + (f"#{_fmt(fb)}" if fb else ""))
        if q["single"] and not marked:
            raise ValueError("a single-answer multichoice needs an answer with fraction 1.0")
    elif t == "shortanswer":
        if not q["answers"]:
            raise ValueError("a short-answer question needs an answer")
        for a in q["answers"]:
            if "->" in a["text"] + a.get("feedback", ""):
                raise ValueError("'->' in a short answer would read back as a matching question")
            lines.append(f"\t={_pct(a['fraction'])}{_fmt(a['text'])}#{_fmt(a.get('feedback', ''))}")
    elif t == "numerical":
        if not q["answers"]:
            raise ValueError("a numerical question needs an answer")
        for a in q["answers"]:
            if a["value"] is None:
                value = "*"
            else:
                value = f"{_num(a['value'])}:{_num(a.get('tolerance') or 0.0)}"
            lines.append(f"\t={_pct(a['fraction'])}{value}#{_fmt(a.get('feedback', ''))}")
    elif t == "matching":
        if len(q["pairs"]) < 2:
            raise ValueError("a matching question needs at least two pairs")
        for left, right in q["pairs"]:
            if "->" in left:
                raise ValueError("'->' in the left side of a matching pair cannot be written")
            lines.append(f"\t={_fmt(left)} -> {_rep(right)}")
    else:
        raise ValueError(f"unknown GIFT question type {t!r}")
    return "\n".join(lines) + "\n" + _gf(q) + "}\n"


def export_gift(questions: list[dict]) -> str:
    """Write questions as GIFT, with a ``$CATEGORY:`` line whenever the category changes.

    Raises ValueError for a question GIFT cannot hold (see docs/gift.md).
    """
    parts: list[str] = []
    category = ""
    for q in questions:
        if q.get("category", "") != category:
            category = q.get("category", "")
            parts.append(f"$CATEGORY: {_rep(category)}\n")
        parts.append(_write(q))
    return "\n".join(parts)


# --- conversion to and from the question-bank format ---------------------------------------------


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "question"


def _pc(fraction: float) -> float | int:
    p = round(fraction * 100, 4)
    return int(p) if p == int(p) else p


def gift_to_bank(q: dict, **extra: Any) -> dict:
    """A GIFT question dict as a bank question (docs/authoring.md).

    ``extra`` keys (e.g. ``topics``, ``difficulty``, ``lesson``, ``id``) are added as given;
    GIFT has none of them, so `quizzes.bank.validate_question` reports what is still missing.
    Raises ValueError for essay, description, and multichoice with partial credit in
    single-answer mode, which the bank cannot grade the same way.
    """
    out: dict[str, Any] = {"id": _slug(q.get("name", "")), "type": "", "text": q["text"]}
    if q.get("general_feedback"):
        out["explanation"] = q["general_feedback"]
    t = q["type"]
    if t == "multichoice" and q["single"]:
        fractions = [a["fraction"] for a in q["answers"]]
        if fractions.count(1.0) != 1 or any(f not in (0.0, 1.0) for f in fractions):
            raise ValueError("single-answer multichoice with partial or negative credit")
        out["type"] = "single"
        out["options"] = [
            {"text": a["text"], **({"correct": True} if a["fraction"] == 1.0 else {})}
            | ({"feedback": a["feedback"]} if a["feedback"] else {})
            for a in q["answers"]
        ]
    elif t == "multichoice":
        out["type"] = "multiple"
        out["options"] = [
            {"text": a["text"], "weight": _pc(a["fraction"])}
            | ({"feedback": a["feedback"]} if a["feedback"] else {})
            for a in q["answers"]
        ]
    elif t == "truefalse":
        right, wrong = q["feedback_right"], q["feedback_wrong"]
        out |= {"type": "truefalse", "answer": q["correct"]}
        out["feedback_true"], out["feedback_false"] = (
            (right, wrong) if q["correct"] else (wrong, right)
        )
    elif t == "shortanswer":
        out["type"] = "short"
        out["answers"] = [
            {"text": a["text"], "fraction": _pc(a["fraction"])}
            | ({"feedback": a["feedback"]} if a["feedback"] else {})
            for a in q["answers"]
        ]
    elif t == "numerical":
        out |= {"type": "numeric", "answers": []}
        for a in q["answers"]:
            fb = {"feedback": a["feedback"]} if a["feedback"] else {}
            if a["value"] is None and a["fraction"] == 0.0:
                if a["feedback"]:
                    out["feedback_incorrect"] = a["feedback"]
                break  # first match wins: nothing after a catch-all is ever reached
            if a["value"] is None:
                big = sys.float_info.max
                out["answers"].append(
                    {"min": -big, "max": big, "fraction": _pc(a["fraction"])} | fb
                )
                break
            ans = {"value": a["value"], "tolerance": abs(a["tolerance"] or 0.0)}
            out["answers"].append(ans | {"fraction": _pc(a["fraction"])} | fb)
    elif t == "matching":
        out["type"] = "matching"
        out["pairs"] = [[left, right] for left, right in q["pairs"] if left]
        distractors = [right for left, right in q["pairs"] if not left]
        if distractors:
            out["distractors"] = distractors
    else:
        raise ValueError(f"GIFT {t} questions have no bank equivalent")
    return out | extra


def bank_to_gift(q: dict, category: str = "") -> dict:
    """A bank question as a GIFT dict (for export_gift). Raises ValueError for ordering
    questions and regex short answers, which GIFT cannot express."""
    out: dict[str, Any] = {
        "type": "",
        "name": q.get("id", ""),
        "text": q["text"],
        "general_feedback": q.get("explanation", ""),
        "category": category,
    }
    t = q["type"]
    if t in ("single", "multiple"):
        out |= {"type": "multichoice", "single": t == "single"}
        out["answers"] = [
            {
                "text": o["text"],
                "fraction": (1.0 if o.get("correct") else 0.0)
                if t == "single"
                else float(o.get("weight", 0)) / 100,
                "feedback": o.get("feedback", ""),
            }
            for o in q["options"]
        ]
    elif t == "truefalse":
        yes, no = q.get("feedback_true", ""), q.get("feedback_false", "")
        out |= {"type": "truefalse", "correct": bool(q["answer"])}
        out["feedback_right"], out["feedback_wrong"] = (yes, no) if q["answer"] else (no, yes)
    elif t == "matching":
        out["type"] = "matching"
        out["pairs"] = [[a, b] for a, b in q["pairs"]] + [["", d] for d in q.get("distractors", [])]
    elif t == "numeric":
        out |= {"type": "numerical", "answers": []}
        for a in q["answers"]:
            if "value" in a:
                value, tol = float(a["value"]), float(a.get("tolerance") or 0)
            else:
                value = (float(a["min"]) + float(a["max"])) / 2
                tol = float(a["max"]) - value
            fr = float(a.get("fraction", 100)) / 100
            out["answers"].append(
                {
                    "value": value,
                    "tolerance": tol,
                    "fraction": fr,
                    "feedback": a.get("feedback", ""),
                }
            )
        if q.get("feedback_incorrect"):
            catch = {"value": None, "tolerance": None, "fraction": 0.0}
            out["answers"].append(catch | {"feedback": q["feedback_incorrect"]})
    elif t == "short":
        if any("regex" in a for a in q["answers"]):
            raise ValueError("GIFT short answers cannot hold a regex")
        out["type"] = "shortanswer"
        out["answers"] = [
            {
                "text": a["text"],
                "fraction": float(a.get("fraction", 100)) / 100,
                "feedback": a.get("feedback", ""),
            }
            for a in q["answers"]
        ]
    else:
        raise ValueError(f"bank {t} questions have no GIFT equivalent")
    return out
