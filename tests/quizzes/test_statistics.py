"""Item analysis against independently computed numbers (the statistics module and formulas
written out here) and the edge cases where Moodle leaves a statistic undefined."""

from __future__ import annotations

import math
import statistics as st

import pytest

from quizzes.statistics import item_analysis

# Four attempts, three questions worth 1, 1 and 2 marks.
SCORES = [
    [1, 1, 2],
    [1, 0, 1],
    [0, 1, 0],
    [0, 0, 1],
]
MAX = [1, 1, 2]
approx = pytest.approx


def columns(scores):
    return [list(c) for c in zip(*scores, strict=True)]


def test_hand_computed_small_quiz():
    r = item_analysis(SCORES, MAX)
    q, quiz = r["questions"], r["quiz"]
    # Totals 4, 2, 1, 1 out of 4: mean 2 (50 %), median 1.5 (37.5 %),
    # squared deviations 4 + 0 + 1 + 1 = 6, sample variance 2, sd sqrt(2) of 4.
    assert quiz["attempts"] == 4
    assert quiz["mean"] == approx(50.0)
    assert quiz["median"] == approx(37.5)
    assert quiz["sd"] == approx(100 * math.sqrt(2) / 4)
    # Question 1: marks 1,1,0,0 -> facility 50 %, variance 1/3.
    assert q[0]["facility"] == approx(50.0)
    assert q[0]["sd"] == approx(100 * math.sqrt(1 / 3))
    # Question 3: marks 2,1,0,1 of 2 -> mean 1 -> 50 %; variance 2/3 -> sd sqrt(2/3)/2.
    assert q[2]["facility"] == approx(50.0)
    assert q[2]["sd"] == approx(100 * math.sqrt(2 / 3) / 2)
    assert [x["intended_weight"] for x in q] == approx([25.0, 25.0, 50.0])
    # Cronbach: 3/2 * (1 - (1/3 + 1/3 + 2/3) / 2) = 3/2 * 1/3 = 0.5 -> 50 %.
    assert quiz["cronbach_alpha"] == approx(50.0)
    assert quiz["error_ratio"] == approx(100 * math.sqrt(0.5))
    assert quiz["standard_error"] == approx(math.sqrt(0.5) * math.sqrt(2) / 4 * 100)
    # Question 1 against the rest of the test (totals minus its marks: 3, 1, 1, 1):
    # covariance 1/3, variances 1/3 and 1 -> r = (1/3) / sqrt(1/3) = 0.57735.
    assert q[0]["discrimination_index"] == approx(100 / math.sqrt(3))


def test_matches_independent_formulas():
    scores = [
        [1, 0.5, 0, 3],
        [0, 1, 1, 2],
        [1, 1, 1, 3],
        [0.5, 0, 0, 0],
        [1, 0.5, 1, 1],
        [0, 0, 1, 2.5],
    ]
    maxes = [1, 1, 1, 3]
    r = item_analysis(scores, maxes)
    totals = [sum(row) for row in scores]
    n, p, quiz_max = len(scores), len(maxes), sum(maxes)
    cols = columns(scores)
    for i, (col, stat) in enumerate(zip(cols, r["questions"], strict=True)):
        rest = [t - x for t, x in zip(totals, col, strict=True)]
        assert stat["facility"] == approx(100 * st.mean(col) / maxes[i])
        assert stat["sd"] == approx(100 * st.stdev(col) / maxes[i])
        assert stat["discrimination_index"] == approx(100 * st.correlation(col, rest))
        assert stat["discriminative_efficiency"] == approx(
            100 * st.covariance(col, rest) / st.covariance(sorted(col), sorted(rest))
        )
    roots = [math.sqrt(max(0.0, st.covariance(c, totals))) for c in cols]
    for c, stat, root in zip(cols, r["questions"], roots, strict=True):
        if st.covariance(c, totals) >= 0:
            assert stat["effective_weight"] == approx(100 * root / sum(roots))
    quiz = r["quiz"]
    mean = st.mean(totals)
    m2 = sum((t - mean) ** 2 for t in totals) / n
    m3 = sum((t - mean) ** 3 for t in totals) / n
    m4 = sum((t - mean) ** 4 for t in totals) / n
    k2 = n * m2 / (n - 1)
    k3 = n * n * m3 / ((n - 1) * (n - 2))
    k4 = n * n * ((n + 1) * m4 - 3 * (n - 1) * m2 * m2) / ((n - 1) * (n - 2) * (n - 3))
    assert quiz["mean"] == approx(100 * mean / quiz_max)
    assert quiz["median"] == approx(100 * st.median(totals) / quiz_max)
    assert quiz["sd"] == approx(100 * st.stdev(totals) / quiz_max)
    assert quiz["skewness"] == approx(k3 / k2**1.5)
    assert quiz["kurtosis"] == approx(k4 / k2**2)
    alpha = p / (p - 1) * (1 - sum(st.variance(c) for c in cols) / st.variance(totals))
    assert quiz["cronbach_alpha"] == approx(100 * alpha)
    assert quiz["error_ratio"] == approx(100 * math.sqrt(1 - alpha))
    assert quiz["standard_error"] == approx(
        100 * math.sqrt(1 - alpha) * st.stdev(totals) / quiz_max
    )


def test_one_attempt():
    r = item_analysis([[1, 0, 0.5]])
    q, quiz = r["questions"], r["quiz"]
    assert [x["facility"] for x in q] == [100.0, 0.0, 50.0]
    for x in q:
        assert x["sd"] is x["discrimination_index"] is x["discriminative_efficiency"] is None
        assert x["effective_weight"] is None
    assert quiz["mean"] == approx(50.0)
    assert quiz["median"] == approx(50.0)
    assert quiz["sd"] is quiz["skewness"] is quiz["cronbach_alpha"] is None


def test_zero_variance_question_is_exact():
    # Everyone got 0.1 on question 1 (a float that sums inexactly): no variance, so no
    # discrimination; Moodle still shows sd 0 and an effective weight of 0.
    r = item_analysis([[0.1, 1], [0.1, 0], [0.1, 1], [0.1, 0]])
    q = r["questions"][0]
    assert q["sd"] == 0.0
    assert q["discrimination_index"] is None
    assert q["discriminative_efficiency"] is None
    assert q["effective_weight"] == 0.0
    assert r["questions"][1]["effective_weight"] == 100.0


def test_all_zero():
    r = item_analysis([[0, 0], [0, 0], [0, 0], [0, 0]])
    quiz = r["quiz"]
    assert (quiz["mean"], quiz["median"], quiz["sd"]) == (0.0, 0.0, 0.0)
    assert quiz["skewness"] is quiz["kurtosis"] is quiz["cronbach_alpha"] is None
    assert quiz["error_ratio"] is quiz["standard_error"] is None
    for q in r["questions"]:
        assert q["facility"] == 0.0
        assert q["discrimination_index"] is q["effective_weight"] is None


def test_negative_covariance_has_no_effective_weight():
    # Question 2 goes against the total: the strong learners miss it.
    r = item_analysis([[1, 0, 1], [1, 0, 1], [0, 1, 0], [0, 1, 0], [1, 0, 0]])
    q2 = r["questions"][1]
    assert q2["negative_covariance"] is True
    assert q2["effective_weight"] is None
    assert q2["discrimination_index"] < 0
    others = [q["effective_weight"] for q in (r["questions"][0], r["questions"][2])]
    assert sum(others) == approx(100.0)


def test_no_attempts_and_bad_input():
    r = item_analysis([], max_marks=[1, 2])
    assert [q["intended_weight"] for q in r["questions"]] == approx([100 / 3, 200 / 3])
    assert r["questions"][0]["facility"] is None
    assert r["quiz"]["mean"] is None and r["quiz"]["attempts"] == 0
    assert item_analysis([]) == {"questions": [], "quiz": item_analysis([])["quiz"]}
    with pytest.raises(ValueError, match=r"scores\[1\]"):
        item_analysis([[1, 0], [1]])
    with pytest.raises(ValueError):
        item_analysis([[1, "x"]])
    with pytest.raises(ValueError):
        item_analysis([[float("nan")]])
    zero_max = item_analysis([[0], [0]], max_marks=[0])
    assert zero_max["questions"][0]["facility"] is None
    assert zero_max["quiz"]["mean"] is None
