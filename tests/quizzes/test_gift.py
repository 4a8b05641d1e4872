"""GIFT: Moodle's own test cases (giftformat_test.php, fixtures/questions.gift.txt), the rules
listed in issue 5, errors with line numbers, and an export -> parse round-trip property."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quizzes.bank import validate_question
from quizzes.gift import GiftError, bank_to_gift, export_gift, gift_to_bank, parse_gift
from quizzes.grading import correct_response, grade

from .strategies import any_question


def one(text: str) -> dict:
    qs = parse_gift(text)
    assert len(qs) == 1
    return qs[0]


BASE = {"general_feedback": "", "category": ""}


# --- Moodle's giftformat_test.php, reproduced -------------------------------------------------


def test_import_essay():
    q = one("\n// essay\n::Q8:: How are you? {}")
    assert q == {"type": "essay", "name": "Q8", "text": "How are you?", **BASE}


def test_import_match_with_formats_and_a_distractor():
    q = one(
        """
// question: 2  name: Moodle activities
::Moodle activities::[html]Match the <b>activity</b> to the description.{
    =[html]An activity supporting asynchronous discussions. -> Forum
    =[moodle]A teacher asks a question and specifies a choice of multiple responses. -> Choice
    =[plain]A bank of record entries which participants can add to. -> Database
    =[markdown]A collection of web pages that anyone can add to or edit. -> Wiki
    = -> Chat
}"""
    )
    assert q["type"] == "matching"
    assert q["text"] == "Match the <b>activity</b> to the description."
    assert q["pairs"] == [
        ["An activity supporting asynchronous discussions.", "Forum"],
        ["A teacher asks a question and specifies a choice of multiple responses.", "Choice"],
        ["A bank of record entries which participants can add to.", "Database"],
        ["A collection of web pages that anyone can add to or edit.", "Wiki"],
        ["", "Chat"],
    ]


def test_import_multichoice():
    q = one(
        """
// multiple choice with specified feedback for right and wrong answers
::Q2:: What's between orange and green in the spectrum?
{
    =yellow # right; good!
    ~red # [html]wrong, it's yellow
    ~[plain]blue # wrong, it's yellow
}"""
    )
    assert q == {
        "type": "multichoice",
        "name": "Q2",
        "text": "What's between orange and green in the spectrum?",
        **BASE,
        "single": True,
        "answers": [
            {"text": "yellow", "fraction": 1.0, "feedback": "right; good!"},
            {"text": "red", "fraction": 0.0, "feedback": "wrong, it's yellow"},
            {"text": "blue", "fraction": 0.0, "feedback": "wrong, it's yellow"},
        ],
    }


def test_import_multichoice_multi_and_tricky():
    q = one(
        """
::colours:: What's between orange and green in the spectrum?
{
    ~%50%yellow # right; good!
    ~%-100%red # [html]wrong
    ~%50%off-beige # right; good!
    ~%-100%[plain]blue # wrong
}"""
    )
    assert q["single"] is False
    assert [a["fraction"] for a in q["answers"]] == [0.5, -1.0, 0.5, -1.0]
    assert [a["text"] for a in q["answers"]] == ["yellow", "red", "off-beige", "blue"]
    assert [a["feedback"] for a in q["answers"]] == ["right; good!", "wrong"] * 2
    q = one("::colours:: Which?\n{\n~%100%yellow # right; good!\n~%-50%red # wrong\n~%-50%blue}")
    assert (q["single"], [a["fraction"] for a in q["answers"]]) == (False, [1.0, -0.5, -0.5])


def test_import_numerical_with_catch_all():
    q = one(
        "\n// math range question\n::Q5:: What is a number from 1 to 5? {#3:2~#Completely wrong}"
    )
    assert q["text"] == "What is a number from 1 to 5?"
    assert q["answers"] == [
        {"value": 3.0, "tolerance": 2.0, "fraction": 1.0, "feedback": ""},
        {"value": None, "tolerance": None, "fraction": 0.0, "feedback": "Completely wrong"},
    ]


SHORT = """
// question: 666  name: Shortanswer
::Shortanswer::Which is the best animal?{
    =Frog#Good!
    =%50%Cat#What is it with Moodlers and cats?
    =%0%*#Completely wrong
    ####[html]Here is some general feedback!
}"""


def test_import_shortanswer_with_general_feedback():
    q = one(SHORT)
    assert q["type"] == "shortanswer"
    assert q["general_feedback"] == "Here is some general feedback!"
    assert q["answers"] == [
        {"text": "Frog", "fraction": 1.0, "feedback": "Good!"},
        {"text": "Cat", "fraction": 0.5, "feedback": "What is it with Moodlers and cats?"},
        {"text": "*", "fraction": 0.0, "feedback": "Completely wrong"},
    ]


def test_import_truefalse_variants():
    q = one(
        "\n// true/false\n::Q1:: 42 is the Absolute Answer to everything.{\n"
        "FALSE#42 is the Ultimate Answer.#You gave the right answer.}"
    )
    assert q == {
        "type": "truefalse",
        "name": "Q1",
        "text": "42 is the Absolute Answer to everything.",
        **BASE,
        "correct": False,
        "feedback_wrong": "42 is the Ultimate Answer.",
        "feedback_right": "You gave the right answer.",
    }
    for answer in ("T", "TRUE"):
        q = one(f"// name 0-11\n::2-08 TSL::TSL is blablabla.{{{answer}}}")
        assert (q["name"], q["correct"], q["feedback_wrong"]) == ("2-08 TSL", True, "")


def test_backslashes_and_pre_content():
    q = one("\n// essay\n::double backslash:: A \\\\ B \\\\\\\\ C{}")
    assert q["text"] == "A \\ B \\\\ C"
    q = one(
        "\n::Q001::[html]<p>What would running the test method print?</p>\n<pre>\n"
        "    public void test() \\{\n        method1();\n    \\}\n</pre>\n{}"
    )
    # Lines are trimmed when read, as Moodle does.
    assert q["text"] == (
        "<p>What would running the test method print?</p>\n<pre>\npublic void test() {\n"
        "method1();\n}\n</pre>"
    )
    assert (
        export_gift([{**q, "text": "A \\ B \\\\ C", "name": "b"}]) == "::b::A \\\\ B \\\\\\\\ C{}\n"
    )


def test_moodle_fixture_file():
    fixture = (
        "// essay\n::Q8:: How are you? {}\n\n"
        '// math range question\n::Q5:: What is a number from 1 to 5? {#3:2~#Completely wrong}";\n\n'
        "// true/false, with general feedback\n::Q1:: 42 is the Absolute Answer to everything.{\n"
        "FALSE#42 is the Ultimate Answer.#You gave the right answer.\n"
        "####This is, of course, a Hitchiker's Guide to the Galaxy reference.}\";\n\n"
        "// name 0-11\n::2-08 TSL::TSL is blablabla.{T}\n\n"
        "// name 0-11\n::2-08 TSL::TSL is blablabla.{TRUE}\n"
    )
    qs = parse_gift(fixture)
    assert [q["type"] for q in qs] == ["essay", "numerical", "truefalse", "truefalse", "truefalse"]
    # Text after the closing brace makes it a missing-word question, as in Moodle.
    assert qs[1]["text"] == 'What is a number from 1 to 5? _____";'
    assert qs[2]["general_feedback"].startswith("This is, of course")


# --- the rules listed in the issue ---------------------------------------------------------------


def test_categories_titles_comments_and_escapes():
    qs = parse_gift(
        "$CATEGORY: $course$/top/Kafka\n\n"
        "// a comment line\n::Title \\: with colon::Escapes \\~ \\= \\# \\{ \\} \\: ok{T}\n\n"
        "Untitled question text that is long enough to be shortened when it becomes a name{F}\n\n"
        "$CATEGORY: other\n\nLast{}"
    )
    assert [q["category"] for q in qs] == ["$course$/top/Kafka"] * 2 + ["other"]
    assert qs[0]["name"] == "Title : with colon"
    assert qs[0]["text"] == "Escapes ~ = # { } : ok"
    assert (
        qs[1]["name"]
        == "Untitled question text that is long enough to be shortened when it becomes a..."
    )
    assert len(qs[1]["name"]) <= 80


def test_missing_word_and_multiple_answers_without_equals():
    q = one("Grant is {~buried =entombed ~living} in Grant's tomb.")
    assert q["text"] == "Grant is _____ in Grant's tomb."
    assert q["single"] is True
    q = one("Who's buried in Grant's tomb?{=no one =nobody}")
    assert q["type"] == "shortanswer"
    assert [a["text"] for a in q["answers"]] == ["no one", "nobody"]
    q = one("Pick two{~%50%a ~%50%b ~%-100%c}")
    assert q["single"] is False


def test_numeric_forms():
    q = one("When was Grant born?{#1822:5}")
    assert q["answers"] == [{"value": 1822.0, "tolerance": 5.0, "fraction": 1.0, "feedback": ""}]
    q = one("Range{#1..5}")
    assert q["answers"][0] | {} == {"value": 3.0, "tolerance": 2.0, "fraction": 1.0, "feedback": ""}
    q = one("Several{#\n=2022:0#right\n=%50%2000:50#close\n~#wrong}")
    assert [(a["value"], a["fraction"], a["feedback"]) for a in q["answers"]] == [
        (2022.0, 1.0, "right"),
        (2000.0, 0.5, "close"),
        (None, 0.0, "wrong"),
    ]
    q = one("Plain{#42}")
    assert q["answers"][0]["tolerance"] == 0.0


def test_description_and_essay():
    q = one("::Intro::Read this first.")
    assert q == {"type": "description", "name": "Intro", "text": "Read this first.", **BASE}
    assert one("Write{####Model answer}")["general_feedback"] == "Model answer"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("Q1{T}\n\nBroken {=a", 3, "missing"),
        ("\n\n\nBroken } {", 4, "before"),
        ("Match{=a->b =c}", 1, "->"),
        ("Only one{~a}", 1, "two answers"),
        ("Number{#abc}", 1, "not a number"),
        ("Number{#1..x}", 1, "not a number"),
        ("Weight{~%5-0%a ~b}", 1, None),  # not a weight by Moodle's regex: a plain answer
    ],
)
def test_errors_carry_the_line(text, line, words):
    if words is None:
        assert one(text)["answers"][0]["text"] == "%5-0%a"
        return
    with pytest.raises(GiftError) as exc:
        parse_gift(text)
    assert exc.value.line == line
    assert words in exc.value.message


# --- export / round-trip ---------------------------------------------------------------------------

ALPHABET = list("ab cZ9#=~{}:\\[]%->_\n\t$/*.é漢") + ["->", "####", "//", "[html]", "\\n"]
text = (
    st.lists(st.sampled_from(ALPHABET), max_size=8)
    .map("".join)
    .map(lambda s: s.strip(" \t\n\r\0\x0b"))
)
no_arrow = text.filter(lambda s: "->" not in s)
fraction = st.sampled_from([1.0, 0.0, 0.5, -0.5, -1.0, 0.3333333, -0.3333333, 0.9, 0.05, 0.1234567])


def _common(t: str):
    return st.fixed_dictionaries(
        {"type": st.just(t), "name": text, "text": text, "general_feedback": text, "category": text}
    )


@st.composite
def gift_question(draw):
    t = draw(
        st.sampled_from(
            [
                "multichoice",
                "truefalse",
                "shortanswer",
                "numerical",
                "matching",
                "essay",
                "description",
            ]
        )
    )
    q = draw(_common(t))
    if t == "description":
        q["general_feedback"] = ""
    elif t == "multichoice":
        answers = draw(
            st.lists(
                st.fixed_dictionaries({"text": text, "fraction": fraction, "feedback": text}),
                min_size=2,
                max_size=5,
            )
        )
        q["single"] = draw(st.booleans())
        if q["single"] and all(a["fraction"] != 1.0 for a in answers):
            answers[0]["fraction"] = 1.0
        q["answers"] = answers
    elif t == "truefalse":
        q |= {
            "correct": draw(st.booleans()),
            "feedback_wrong": draw(text),
            "feedback_right": draw(text),
        }
    elif t == "shortanswer":
        q["answers"] = draw(
            st.lists(
                st.fixed_dictionaries(
                    {"text": no_arrow, "fraction": fraction, "feedback": no_arrow}
                ),
                min_size=1,
                max_size=4,
            )
        )
    elif t == "numerical":
        number = st.floats(allow_nan=False, allow_infinity=False)
        exact = st.fixed_dictionaries(
            {"value": number, "tolerance": number, "fraction": fraction, "feedback": text}
        )
        catch = st.fixed_dictionaries(
            {"value": st.none(), "tolerance": st.none(), "fraction": fraction, "feedback": text}
        )
        q["answers"] = draw(st.lists(st.one_of(exact, catch), min_size=1, max_size=4))
    elif t == "matching":
        q["pairs"] = draw(st.lists(st.tuples(no_arrow, text).map(list), min_size=2, max_size=4))
    return q


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(qs=st.lists(gift_question(), min_size=1, max_size=4))
def test_export_then_parse_round_trips(qs):
    assert parse_gift(export_gift(qs)) == qs


def test_export_refuses_what_gift_cannot_hold():
    base = {"name": "n", "text": "t", "general_feedback": "", "category": ""}
    with pytest.raises(ValueError):
        export_gift([base | {"type": "description", "general_feedback": "x"}])
    with pytest.raises(ValueError):
        export_gift(
            [base | {"type": "shortanswer", "answers": [{"text": "a->b", "fraction": 1.0}]}]
        )
    one_third = {"text": "x", "fraction": 1 / 3, "feedback": ""}
    with pytest.raises(ValueError, match="7 decimals"):
        export_gift([base | {"type": "shortanswer", "answers": [one_third]}])
    with pytest.raises(ValueError):
        export_gift([base | {"type": "multichoice", "single": True, "answers": [
            {"text": "a", "fraction": 0.5, "feedback": ""},
            {"text": "b", "fraction": 0.0, "feedback": ""},
        ]}])  # fmt: skip


# --- conversion to and from the bank format ---------------------------------------------------------

BANK_EXTRA = {"topics": ["T01"], "difficulty": "easy", "lesson": "l#s"}


@settings(max_examples=60, deadline=None)
@given(q=any_question)
def test_bank_to_gift_to_bank_keeps_the_grading(q):
    if q["type"] == "ordering":
        with pytest.raises(ValueError):
            bank_to_gift(q)
        return
    q = q | {"answers": [a for a in q["answers"] if "regex" not in a]} if "answers" in q else q
    g = bank_to_gift(q)
    back = gift_to_bank(parse_gift(export_gift([g]))[0], **BANK_EXTRA, id=q["id"])
    assert grade(back, correct_response(q)).fraction == 1.0
    assert grade(q, correct_response(back)).fraction == 1.0
    assert validate_question(back) == []


def test_gift_to_bank_examples():
    sa = gift_to_bank(one(SHORT), **BANK_EXTRA)
    assert sa["type"] == "short"
    assert sa["answers"][1] == {
        "text": "Cat",
        "fraction": 50,
        "feedback": "What is it with Moodlers and cats?",
    }
    assert sa["explanation"] == "Here is some general feedback!"
    assert validate_question(sa) == []
    num = gift_to_bank(one("::n::How many?{#3:2~#Completely wrong}"), **BANK_EXTRA)
    assert num["answers"] == [{"value": 3.0, "tolerance": 2.0, "fraction": 100}]
    assert num["feedback_incorrect"] == "Completely wrong"
    m = gift_to_bank(one("Match{=a -> 1 =b -> 2 = -> 3}"))
    assert (m["pairs"], m["distractors"]) == ([["a", "1"], ["b", "2"]], ["3"])
    for bad in ("Essay{}", "Desc", "Partial{=a ~%50%b ~c}"):
        with pytest.raises(ValueError):
            gift_to_bank(one(bad))


# Moodle's expected *export* texts (giftformat_test.php test_export_*): our reader must read
# them back as the questions they were written from.
MOODLE_EXPORTS = {
    "essay": "// question: 666  name: Q8\n::Q8::How are you?{}\n",
    "match": (
        "// question: 666  name: Moodle activities\n::Moodle activities::[html]Match the <b>activity"
        '</b> to the description.{\n\t=<div class\\="frog">An activity supporting asynchronous '
        "discussions.</div> -> Forum\n\t=[moodle]A teacher asks a question and specifies a choice "
        "of multiple responses. -> Choice\n\t=[plain]A bank of record entries which participants "
        "can add to. -> Database\n\t=[markdown]A collection of web pages that anyone can add to or "
        "edit. -> Wiki\n\t= -> Chat\n}\n"
    ),
    "multichoice": (
        "// question: 666  name: Q8\n::Q8::What's between orange and green in the spectrum?{\n"
        "\t=yellow#right; good!\n\t~red#[html]wrong, it's yellow\n\t~[plain]blue#wrong, it's yellow\n}\n"
    ),
    "multi_tricky": (
        "// question: 666  name: Q8\n::Q8::What's between orange and green in the spectrum?{\n"
        "\t~%100%yellow#right; good!\n\t~%-50%red#wrong, it's yellow\n\t~%-50%blue#wrong, it's yellow\n}\n"
    ),
    "numerical": (
        "// question: 666  name: Q5\n::Q5::What is a number from 1 to 5?{#\n\t=%100%3:2#\n"
        "\t~#Completely wrong\n}\n"
    ),
    "shortanswer": (
        "// question: 666  name: Shortanswer\n::Shortanswer::Which is the best animal?{\n"
        "\t=%100%Frog#Good!\n\t=%50%Cat#What is it with Moodlers and cats?\n"
        "\t=%0%*#Completely wrong\n\t####[html]Here is some general feedback!\n}\n"
    ),
    "truefalse": (
        "// question: 666  name: Q1\n::Q1::42 is the Absolute Answer to everything.{TRUE#[html]42 "
        "is the Ultimate Answer.#You gave the right answer.}\n"
    ),
    "backslash": "// question: 666  name: backslash\n::backslash::A \\\\ B \\\\\\\\ C{}\n",
}


def test_moodle_export_texts_read_back():
    got = {k: one(v) for k, v in MOODLE_EXPORTS.items()}
    assert got["essay"]["type"] == "essay"
    assert got["match"]["pairs"][0] == [
        '<div class="frog">An activity supporting asynchronous discussions.</div>',
        "Forum",
    ]
    assert got["match"]["pairs"][4] == ["", "Chat"]
    mc = got["multichoice"]
    assert (mc["single"], [a["fraction"] for a in mc["answers"]]) == (True, [1.0, 0.0, 0.0])
    assert mc["answers"][1]["feedback"] == "wrong, it's yellow"
    tricky = got["multi_tricky"]
    assert (tricky["single"], [a["fraction"] for a in tricky["answers"]]) == (
        False,
        [1.0, -0.5, -0.5],
    )
    assert got["numerical"]["answers"] == [
        {"value": 3.0, "tolerance": 2.0, "fraction": 1.0, "feedback": ""},
        {"value": None, "tolerance": None, "fraction": 0.0, "feedback": "Completely wrong"},
    ]
    sa = got["shortanswer"]
    assert [(a["text"], a["fraction"]) for a in sa["answers"]] == [
        ("Frog", 1.0),
        ("Cat", 0.5),
        ("*", 0.0),
    ]
    assert sa["general_feedback"] == "Here is some general feedback!"
    tf = got["truefalse"]
    assert (tf["correct"], tf["feedback_wrong"], tf["feedback_right"]) == (
        True,
        "42 is the Ultimate Answer.",
        "You gave the right answer.",
    )
    assert got["backslash"]["text"] == "A \\ B \\\\ C"
    # And our export of each reads back identically.
    for q in got.values():
        assert parse_gift(export_gift([q])) == [q]
