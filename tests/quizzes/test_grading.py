"""Graders: worked examples per type, then hypothesis properties over generated questions."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quizzes.grading import (
    Grade,
    InvalidResponse,
    correct_response,
    from_display,
    grade,
    parse_number,
    practice_score,
    public_view,
    response_text,
    to_display,
)

from .strategies import any_question, junk, matching_q, multiple_q, ordering_q, single_q

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SINGLE = {
    "id": "s1",
    "type": "single",
    "text": "Which?",
    "options": [
        {"text": "A", "feedback": "A is wrong because..."},
        {"text": "B", "correct": True, "feedback": "B is right."},
        {"text": "C"},
    ],
    "explanation": "SECRET-EXPLANATION",
}
MULTI = {
    "id": "m1",
    "type": "multiple",
    "text": "Pick",
    "options": [
        {"text": "a", "weight": 50, "feedback": "fa"},
        {"text": "b", "weight": 50, "feedback": "fb"},
        {"text": "c", "weight": -50, "feedback": "fc"},
        {"text": "d", "weight": -100},
    ],
}
TF = {
    "id": "t",
    "type": "truefalse",
    "answer": False,
    "feedback_true": "FT",
    "feedback_false": "FF",
}
ORDER = {
    "id": "o",
    "type": "ordering",
    "items": ["one", "two", "three", "four"],
    "feedback_correct": "all good",
    "feedback_partial": "some",
    "feedback_incorrect": "none",
}
MATCH = {
    "id": "x",
    "type": "matching",
    "pairs": [["acks=0", "no wait"], ["acks=1", "leader"], ["acks=all", "all ISR"]],
    "distractors": ["every broker"],
    "feedback_partial": "partly",
}
NUM = {
    "id": "n",
    "type": "numeric",
    "answers": [
        {"value": 3, "tolerance": 0, "fraction": 100, "feedback": "exactly"},
        {"min": 1, "max": 4, "fraction": 50, "feedback": "close"},
        {"value": 3.5, "fraction": 100, "feedback": "never reached: first match wins"},
    ],
    "unit": "partitions",
    "feedback_incorrect": "nope",
}
SHORT = {
    "id": "sh",
    "type": "short",
    "answers": [
        {"text": "min.insync.replicas", "fraction": 100, "feedback": "yes"},
        {"text": "min*replicas", "fraction": 80, "feedback": "wildcard"},
        {"regex": "^min\\.?insync", "fraction": 50, "feedback": "regex"},
    ],
    "feedback_incorrect": "no",
}


def test_single():
    g = grade(SINGLE, 1)
    assert (g.fraction, g.state, dict(g.option_feedback)) == (1.0, "right", {1: "B is right."})
    g = grade(SINGLE, "0")  # forms post strings
    assert (g.fraction, g.state, g.option_feedback[0]) == (0.0, "wrong", "A is wrong because...")
    assert grade(SINGLE, 2).option_feedback == {}
    for bad in (3, -1, True, "B", 1.0, [1]):
        with pytest.raises(InvalidResponse):
            grade(SINGLE, bad)


def test_multiple_weights_and_clamp():
    assert grade(MULTI, [0, 1]).fraction == 1.0
    assert grade(MULTI, [0]).state == "partial"
    assert grade(MULTI, [0, 1, 2]).fraction == 0.5
    assert grade(MULTI, [0, 3]).fraction == 0.0  # 50 - 100 clamped at 0
    assert grade(MULTI, [0, 2]).option_feedback == {0: "fa", 2: "fc"}
    with pytest.raises(InvalidResponse):
        grade(MULTI, [0, 0])
    with pytest.raises(InvalidResponse):
        grade(MULTI, 0)
    assert grade(MULTI, []).answered is False


def test_truefalse_feedback_follows_the_answer_given():
    assert grade(TF, False) == Grade(1.0, "right", ("FF",))
    assert grade(TF, "TRUE") == Grade(0.0, "wrong", ("FT",))
    with pytest.raises(InvalidResponse):
        grade(TF, 1)


def test_ordering_absolute_position():
    assert grade(ORDER, [0, 1, 2, 3]).feedback == ("all good",)
    g = grade(ORDER, [1, 0, 2, 3])
    assert (g.fraction, g.item_results, g.feedback) == (0.5, (False, False, True, True), ("some",))
    assert grade(ORDER, [1, 2, 3, 0]).fraction == 0.0
    for bad in ([0, 1, 2], [0, 0, 1, 2], [0, 1, 2, 4], "0123"):
        with pytest.raises(InvalidResponse):
            grade(ORDER, bad)
    dup = ORDER | {"items": ["x", "y", "x"]}
    assert grade(dup, [2, 1, 0]).fraction == 1.0  # identical items are interchangeable


def test_matching_by_text_or_choice_index():
    assert grade(MATCH, {0: "no wait", 1: "leader", 2: "all ISR"}).fraction == 1.0
    g = grade(MATCH, {"0": 0, "1": 3})  # JSON keys are strings; 3 = the distractor
    assert g.fraction == pytest.approx(1 / 3)
    assert g.item_results == (True, False, False)
    assert g.feedback == ("partly",)
    with pytest.raises(InvalidResponse):
        grade(MATCH, {5: "leader"})
    with pytest.raises(InvalidResponse):
        grade(MATCH, {0: "not a choice"})


def test_numeric_first_match_wins_and_parsing():
    g = grade(NUM, "3")
    assert (g.fraction, g.matched, g.feedback) == (1.0, 0, ("exactly",))
    g = grade(NUM, 3.5)
    assert (g.fraction, g.matched, g.feedback) == (0.5, 1, ("close",))
    assert grade(NUM, "3 partitions").fraction == 1.0
    assert grade(NUM, "  2,5 ").fraction == 0.5  # decimal comma
    assert grade(NUM, 10).feedback == ("nope",)
    assert parse_number("1,024") == 1024
    assert parse_number("\u22124") == -4
    assert parse_number("2e3") == 2000
    assert parse_number(".5") == 0.5
    for bad in ("three", "1..2", "nan", "inf", True, [3], "1e999"):
        with pytest.raises(InvalidResponse):
            grade(NUM, bad)
    tight = {"type": "numeric", "answers": [{"value": 0.3, "tolerance": 0, "fraction": 100}]}
    assert grade(tight, 0.1 + 0.2).fraction == 1.0  # float noise is not a wrong answer


def test_short_normalised_wildcard_regex():
    assert grade(SHORT, "  MIN.insync.Replicas ").fraction == 1.0
    assert grade(SHORT, "min in sync replicas").fraction == 0.8
    g = grade(SHORT, "minInsyncStuff")
    assert (g.fraction, g.matched, g.feedback) == (0.5, 2, ("regex",))
    assert grade(SHORT, "acks").feedback == ("no",)
    star = {"type": "short", "answers": [{"text": "a\\*b", "fraction": 100}]}
    assert grade(star, "a*b").fraction == 1.0
    assert grade(star, "axb").fraction == 0.0
    spaced = {"type": "short", "answers": [{"text": "circuit   breaker"}]}
    assert grade(spaced, "Circuit\tBreaker").fraction == 1.0  # fraction defaults to 100
    with pytest.raises(InvalidResponse):
        grade(SHORT, {"a": 1})


def test_unanswered_grades_zero():
    for q in (SINGLE, MULTI, TF, ORDER, MATCH, NUM, SHORT):
        g = grade(q, None)
        assert (g.fraction, g.answered) == (0.0, False)


def test_grade_serialises_and_responses_read_back():
    g = grade(MULTI, [0, 2])
    assert Grade.from_dict(json.loads(json.dumps(g.to_dict()))) == g
    assert response_text(SINGLE, 1) == "B"
    assert response_text(MULTI, [1, 0]) == ["b", "a"]
    assert response_text(TF, False) == "False"
    assert response_text(ORDER, [3, 2, 1, 0])[0] == "four"
    assert response_text(MATCH, {0: "leader", "1": 0}) == [
        "acks=0 \u2192 leader",
        "acks=1 \u2192 no wait",
    ]
    assert response_text(NUM, 3.5) == "3.5"
    assert response_text(SHORT, None) is None
    with pytest.raises(InvalidResponse):
        grade(NUM, 10**400)


def test_practice_score():
    assert practice_score(1.0, 1, 0.33) == 1.0
    assert practice_score(1.0, 2, 0.33) == pytest.approx(0.67)
    assert practice_score(0.5, 3, 0.33) == 0.0
    with pytest.raises(ValueError):
        practice_score(1.0, 0, 0.1)


def test_public_view_hides_everything_secret():
    for q in (SINGLE, MULTI, TF, ORDER, MATCH, NUM, SHORT):
        view = public_view(q, seed="attempt-7")
        blob = json.dumps(view)
        for secret in ("correct", "weight", "feedback", "answers", "explanation", "SECRET"):
            assert secret not in blob, (q["id"], secret)
    assert public_view(TF, "s") == {"id": "t", "type": "truefalse", "text": ""}
    assert public_view(NUM, "s")["unit"] == "partitions"
    assert public_view(ORDER, "s")["items"] != ORDER["items"]  # never shown in order
    assert public_view(SINGLE, "s", shuffle=False)["options"] == ["A", "B", "C"]


@FAST
@given(q=any_question)
def test_fraction_in_range_and_correct_scores_one(q):
    g = grade(q, correct_response(q))
    assert g.fraction == 1.0 and g.state == "right"


@FAST
@given(q=any_question, r=junk)
def test_junk_never_raises_anything_else(q, r):
    try:
        g = grade(q, r)
    except InvalidResponse as e:
        assert str(e)
    else:
        assert 0.0 <= g.fraction <= 1.0
        assert g.state in ("right", "partial", "wrong")


@FAST
@given(q=st.one_of(single_q(), multiple_q()), data=st.data())
def test_permuting_options_never_changes_a_grade(q, data):
    n = len(q["options"])
    perm = data.draw(st.permutations(range(n)))  # new position j holds old option perm[j]
    shuffled = q | {"options": [q["options"][i] for i in perm]}
    new_index = {old: new for new, old in enumerate(perm)}
    if q["type"] == "single":
        r = data.draw(st.integers(0, n - 1))
        assert grade(q, r).fraction == grade(shuffled, new_index[r]).fraction
    else:
        r = data.draw(st.lists(st.integers(0, n - 1), unique=True))
        assert grade(q, r).fraction == grade(shuffled, [new_index[i] for i in r]).fraction


@FAST
@given(q=st.one_of(matching_q(), ordering_q(), single_q(), multiple_q()), data=st.data())
def test_display_round_trip_and_grading_through_the_view(q, data):
    seed = data.draw(st.text(max_size=5))
    view = public_view(q, seed)
    right = correct_response(q)
    shown = to_display(q, right, seed)
    assert grade(q, from_display(q, shown, seed)).fraction == 1.0
    if q["type"] == "ordering":
        assert [view["items"][i] for i in shown] == q["items"]
    if q["type"] == "matching":
        assert [view["choices"][shown[i]] for i in range(len(q["pairs"]))] == [
            p[1] for p in q["pairs"]
        ]


@FAST
@given(q=matching_q(), data=st.data())
def test_matching_fraction_counts_pairs(q, data):
    from quizzes.grading import matching_choices

    choices = matching_choices(q)
    resp = {i: data.draw(st.sampled_from(choices)) for i in range(len(q["pairs"]))}
    expected = sum(resp[i] == p[1] for i, p in enumerate(q["pairs"])) / len(q["pairs"])
    assert grade(q, resp).fraction == pytest.approx(expected)


def test_display_order_is_stable():
    q = SINGLE | {"options": [{"text": str(i), "correct": i == 0} for i in range(8)]}
    a, b = public_view(q, "seed-1"), public_view(q, "seed-1")
    assert a == b
    views = {tuple(public_view(q, f"seed-{i}")["options"]) for i in range(20)}
    assert len(views) > 1
    rnd = random.Random(0)
    for _ in range(20):
        pos = rnd.randrange(8)
        assert from_display(q, to_display(q, pos, "s"), "s") == pos


def test_response_text_skips_unanswered_matching_rows():
    from quizzes.grading import response_text

    question = {
        "type": "matching",
        "pairs": [["acks=0", "no wait"], ["acks=1", "leader only"]],
    }
    assert response_text(question, {"0": 1, "1": None}) == ["acks=0 \u2192 leader only"]
