"""Bank and quiz validation: good data passes, each kind of mistake is named by its key."""

from __future__ import annotations

import copy

import yaml
from hypothesis import given, settings

from quizzes.bank import validate_bank, validate_question, validate_quiz, with_defaults

from .strategies import any_question

BANK = yaml.safe_load(
    r"""
questions:
  - id: found-what-01
    type: single
    text: Which property best defines a microservice?
    topics: [T01]
    difficulty: easy
    lesson: what-is-a-microservice#independently-deployable
    options:
      - text: It can be deployed without redeploying anything else
        correct: true
        feedback: Yes.
      - text: It has fewer than 1,000 lines of code
        feedback: Size is a symptom.
    explanation: Independent deployment.
  - id: m-01
    type: multiple
    text: Pick two
    topics: [T02, T36]
    difficulty: medium
    lesson: l#s
    explanation: E
    options:
      - {text: "a", weight: 33.33, feedback: "f"}
      - {text: "b", weight: 66.67, feedback: "f"}
      - {text: "c", weight: -50, feedback: "f"}
  - id: tf-01
    type: truefalse
    text: T?
    topics: [T03]
    difficulty: hard
    lesson: l#s
    explanation: E
    answer: false
    feedback_true: "No"
    feedback_false: "Yes"
  - id: ord-01
    type: ordering
    text: Order
    topics: [T04]
    difficulty: easy
    lesson: l#s
    explanation: E
    items: [one, two, three]
    feedback_partial: Some.
  - id: match-01
    type: matching
    text: Match
    topics: [T30]
    difficulty: easy
    lesson: l#s
    explanation: E
    pairs:
      - [acks=0, "No wait"]
      - [acks=1, "Leader"]
    distractors: ["Every broker"]
  - id: num-01
    type: numeric
    text: How many?
    topics: [T31]
    difficulty: easy
    lesson: l#s
    explanation: E
    answers:
      - {value: 3, tolerance: 0, fraction: 100, feedback: "..."}
      - {min: 1, max: 2, fraction: 50, feedback: "..."}
    unit: partitions
    feedback_incorrect: No.
  - id: short-01
    type: short
    text: Name it
    topics: [T32]
    difficulty: easy
    lesson: l#s
    explanation: E
    answers:
      - {text: "min.insync.replicas", fraction: 100, feedback: "..."}
      - {regex: "^min\\.?insync", fraction: 50, feedback: "..."}
    feedback_incorrect: No.
"""
)


def q(i: int) -> dict:
    return copy.deepcopy(BANK["questions"][i])


def test_documented_examples_are_valid():
    assert validate_bank(BANK) == []


@settings(max_examples=50, deadline=None)
@given(question=any_question)
def test_generated_grader_questions_are_valid(question):
    assert validate_question(question) == []


def test_common_keys():
    bad = q(0) | {"difficulty": "hrad", "topics": ["T37", "T01"], "lesson": "no-anchor"}
    del bad["explanation"]
    bad["colour"] = "red"
    problems = validate_question(bad)
    assert "explanation: missing" in problems
    assert "difficulty: must be one of easy, medium, hard (got 'hrad')" in problems
    assert "topics[0]: unknown topic 'T37' (T01..T36)" in problems
    assert any(p.startswith("lesson: must be lesson-slug#section-anchor") for p in problems)
    assert any(p.startswith("colour: unknown key") for p in problems)
    assert validate_question(q(0) | {"type": "essay"})[0].startswith("type: must be one of")
    assert validate_question(["x"]) == ["(question): must be a mapping, got list"]
    assert "text: must be text, got int (quote it)" in validate_question(q(0) | {"text": 3})


def test_single_needs_exactly_one_correct_and_feedback():
    bad = q(0)
    bad["options"][1]["correct"] = True
    del bad["options"][1]["feedback"]
    bad["options"].append({"text": "x", "feedback": "f", "weight": 5})
    problems = validate_question(bad)
    assert "options: exactly one option needs correct: true (found 2)" in problems
    assert "options[1].feedback: missing" in problems
    assert any(p.startswith("options[2].weight: unknown key") for p in problems)


def test_multiple_weights_sum_to_100():
    bad = q(1)
    bad["options"][0]["weight"] = 30
    assert validate_question(bad) == [
        "options: positive weights must sum to 100 (they sum to 96.67)"
    ]
    bad["options"][0]["weight"] = 33.335  # within the 0.01 tolerance
    assert validate_question(bad) == []
    bad["options"][0]["weight"] = "33"
    assert validate_question(bad)[0].startswith("options[0].weight: must be a number")


def test_truefalse_ordering_matching():
    tf = q(2) | {"answer": "no"}
    del tf["feedback_true"]
    assert validate_question(tf) == [
        "answer: must be true or false (got 'no')",
        "feedback_true: missing",
    ]
    assert validate_question(q(3) | {"items": ["only"]}) == ["items: needs at least 2 items"]
    m = q(4)
    m["pairs"][1][0] = "acks=0"
    m["distractors"] = ["Leader"]
    assert validate_question(m) == [
        "pairs[1]: left side 'acks=0' repeats pairs[0]",
        "distractors[0]: 'Leader' is also a right answer",
    ]
    assert validate_question(q(4) | {"pairs": [["a", "b"]]}) == ["pairs: needs at least 2 pairs"]


def test_numeric_and_short_answers():
    n = q(5)
    n["answers"] = [
        {"value": 3, "min": 1, "fraction": 100},
        {"min": 5, "max": 2, "fraction": 50},
        {"fraction": 50},
        {"value": 1, "tolerance": -1},
    ]
    assert validate_question(n) == [
        "answers[0]: give value (with tolerance) or min and max, not both",
        "answers[1]: min (5) is greater than max (2)",
        "answers[2]: needs value (and tolerance) or min and max",
        "answers[3].tolerance: must be a number >= 0 (got -1)",
    ]
    s = q(6)
    s["answers"] = [{"regex": "(unclosed", "fraction": 100}, {"text": "a", "regex": "b"}]
    problems = validate_question(s)
    assert problems[0].startswith("answers[0].regex: does not compile")
    assert problems[1] == "answers[1]: needs exactly one of text or regex"
    s["answers"] = [{"text": "x", "fraction": 50}]
    assert validate_question(s) == ["answers: at least one answer needs fraction: 100"]


def test_bank_prefixes_and_duplicate_ids():
    bank = {"questions": [q(0), q(0), "oops"]}
    bank["questions"][1]["options"][0]["feedback"] = 7
    assert validate_bank(bank) == [
        "questions[1].options[0].feedback: must be text, got int (quote it)",
        "questions[1].id: duplicate id 'found-what-01' (see questions[0])",
        "questions[2]: must be a mapping, got str",
    ]


QUIZ = yaml.safe_load(
    """
slug: foundations-quiz
title: Foundations check
module: foundations
mode: practice
tries: 3
penalty: 0.33
time_limit_minutes: 0
attempts: 0
grading: highest
pass_mark: 70
shuffle: true
questions: [found-what-01]
draws:
  - count: 5
    module: foundations
    topics: [T01, T02]
    difficulty: [easy, medium]
"""
)


def test_quiz_documented_example_is_valid():
    assert validate_quiz(QUIZ) == []
    assert validate_quiz(QUIZ, known_question_ids={"found-what-01"}) == []
    assert with_defaults({"slug": "s", "title": "t", "questions": ["a"]})["grading"] == "highest"


def test_quiz_problems():
    bad = QUIZ | {
        "mode": "homework",
        "tries": 0,
        "penalty": 1.5,
        "grading": "best",
        "pass_mark": 170,
        "shuffle": "yes",
        "extra": 1,
        "draws": [{"count": 0, "difficulty": "tricky", "topic": ["T01"]}],
    }
    problems = validate_quiz(bad, known_question_ids=set())
    for expected in (
        "extra: unknown key",
        "mode: must be one of practice, exam (got 'homework')",
        "grading: must be one of highest, latest, first, average (got 'best')",
        "tries: must be a whole number >= 1 (got 0)",
        "penalty: must be a fraction from 0 to 1 (got 1.5)",
        "pass_mark: must be a percentage from 0 to 100 (got 170)",
        "shuffle: must be true or false",
        "questions[0]: no question with id 'found-what-01'",
        "draws[0].topic: unknown key",
        "draws[0].count: must be a whole number >= 1 (got 0)",
        "draws[0].difficulty: use easy, medium, hard or a list of them (got 'tricky')",
    ):
        assert any(p.startswith(expected) for p in problems), expected
    assert validate_quiz({"slug": "s", "title": "t"}) == [
        "questions: a quiz needs fixed questions or draws"
    ]
