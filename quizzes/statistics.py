"""Item analysis with Moodle's quiz-statistics definitions (docs/quiz-statistics.md). Pure.

Follows Moodle's ``question/classes/statistics/questions/calculator.php`` (per question) and
``mod/quiz/report/statistics/classes/calculator.php`` (whole quiz), including when a value is
undefined (``None``), and reports each number the way Moodle's report shows it: facility and
sd as a percentage of the question's maximum mark; mean, median, sd and standard error as a
percentage of the quiz's maximum mark; intended and effective weight, discrimination index,
discriminative efficiency, internal consistency and error ratio in percent; skewness and
kurtosis as plain numbers.

Sums are exact (`fractions.Fraction`), so a question everyone scored the same on has a
variance of exactly zero and its undefined statistics come out ``None`` rather than noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any


def _exact(x: Any, what: str) -> Fraction:
    if isinstance(x, bool) or not isinstance(x, int | float | Fraction):
        raise ValueError(f"{what}: must be a number, got {x!r}")
    if isinstance(x, float) and not math.isfinite(x):
        raise ValueError(f"{what}: must be finite, got {x!r}")
    return Fraction(x)


def _pct(x: Fraction | float | None, of: Fraction) -> float | None:
    """Moodle's quiz_report_scale_summarks_as_percentage (without the formatting)."""
    if x is None or not of:
        return None
    return float(Fraction(x) * 100 / of) if isinstance(x, Fraction) else x * 100 / float(of)


def _median(sorted_values: list[Fraction]) -> Fraction:
    n = len(sorted_values)
    if n % 2:
        return sorted_values[n // 2]
    return (sorted_values[n // 2 - 1] + sorted_values[n // 2]) / 2


def item_analysis(
    scores: Sequence[Sequence[float]], max_marks: Sequence[float] | None = None
) -> dict[str, Any]:
    """Item statistics of a quiz.

    ``scores``: one row per attempt, each the marks of questions 1..P in the same order.
    ``max_marks``: the maximum mark of each question (default 1 each, i.e. marks are
    fractions). Returns ``{"questions": [per question], "quiz": {...}}``; keys are listed in
    docs/quiz-statistics.md. Raises ValueError for ragged rows or non-numeric marks.
    """
    rows = [[_exact(x, f"scores[{a}][{p}]") for p, x in enumerate(r)] for a, r in enumerate(scores)]
    if max_marks is None:
        n_q = len(rows[0]) if rows else 0
        maxes = [Fraction(1)] * n_q
    else:
        maxes = [_exact(m, f"max_marks[{p}]") for p, m in enumerate(max_marks)]
        n_q = len(maxes)
    for a, r in enumerate(rows):
        if len(r) != n_q:
            raise ValueError(f"scores[{a}]: has {len(r)} marks, expected {n_q}")
    if any(m < 0 for m in maxes):
        raise ValueError("max_marks: must not be negative")

    s = len(rows)
    quiz_max = sum(maxes, Fraction(0))
    totals = [sum(r, Fraction(0)) for r in rows]
    total_mean = sum(totals, Fraction(0)) / s if s else None

    questions: list[dict[str, Any]] = []
    sum_mark_variance = Fraction(0)
    cov_overall: list[Fraction | None] = []
    for p in range(n_q):
        marks = [r[p] for r in rows]
        others = [t - x for t, x in zip(totals, marks, strict=True)]
        stat: dict[str, Any] = {
            "max_mark": float(maxes[p]),
            "mean_mark": None,
            "facility": None,
            "sd": None,
            "discrimination_index": None,
            "discriminative_efficiency": None,
            "intended_weight": _pct(maxes[p], quiz_max),
            "effective_weight": None,
            "negative_covariance": False,
        }
        covariance_overall: Fraction | None = None
        if s:
            mean = sum(marks, Fraction(0)) / s
            stat["mean_mark"] = float(mean)
            if maxes[p]:
                stat["facility"] = float(mean / maxes[p] * 100)
        if s > 1:
            other_mean = sum(others, Fraction(0)) / s
            dx = [x - mean for x in marks]
            dy = [y - other_mean for y in others]
            dt = [t - total_mean for t in totals]
            var_x = sum((d * d for d in dx), Fraction(0)) / (s - 1)
            var_y = sum((d * d for d in dy), Fraction(0)) / (s - 1)
            cov = sum((a * b for a, b in zip(dx, dy, strict=True)), Fraction(0)) / (s - 1)
            # Largest covariance these two sets of marks could have: both sorted the same way.
            cov_max = sum(
                (
                    (a - mean) * (b - other_mean)
                    for a, b in zip(sorted(marks), sorted(others), strict=True)
                ),
                Fraction(0),
            ) / (s - 1)
            covariance_overall = sum((a * b for a, b in zip(dx, dt, strict=True)), Fraction(0)) / (
                s - 1
            )
            sum_mark_variance += var_x
            if maxes[p]:
                stat["sd"] = math.sqrt(var_x) * 100 / float(maxes[p])
            if var_x * var_y:
                stat["discrimination_index"] = 100 * float(cov) / math.sqrt(var_x * var_y)
            if cov_max:
                stat["discriminative_efficiency"] = float(100 * cov / cov_max)
            stat["negative_covariance"] = covariance_overall < 0
        cov_overall.append(covariance_overall)
        questions.append(stat)

    # Effective weight: each question's share of sqrt(covariance with the total).
    root_sum = sum(math.sqrt(c) for c in cov_overall if c is not None and c >= 0)
    if root_sum:
        for stat, c in zip(questions, cov_overall, strict=True):
            if c is not None and c >= 0:
                stat["effective_weight"] = 100 * math.sqrt(c) / root_sum

    return {"questions": questions, "quiz": _quiz_stats(totals, quiz_max, n_q, sum_mark_variance)}


def _quiz_stats(
    totals: list[Fraction], quiz_max: Fraction, n_q: int, sum_mark_variance: Fraction
) -> dict[str, Any]:
    s = len(totals)
    quiz: dict[str, Any] = {
        "attempts": s,
        "max_mark": float(quiz_max),
        "mean": None,
        "median": None,
        "sd": None,
        "skewness": None,
        "kurtosis": None,
        "cronbach_alpha": None,
        "error_ratio": None,
        "standard_error": None,
    }
    if not s:
        return quiz
    mean = sum(totals, Fraction(0)) / s
    quiz["mean"] = _pct(mean, quiz_max)
    quiz["median"] = _pct(_median(sorted(totals)), quiz_max)
    if s < 2:
        return quiz
    power2 = sum(((t - mean) ** 2 for t in totals), Fraction(0))
    power3 = sum(((t - mean) ** 3 for t in totals), Fraction(0))
    power4 = sum(((t - mean) ** 4 for t in totals), Fraction(0))
    sd = math.sqrt(power2 / (s - 1))
    quiz["sd"] = _pct(sd, quiz_max)
    if s < 3:
        return quiz
    m2, m3, m4 = power2 / s, power3 / s, power4 / s
    k2 = s * m2 / (s - 1)
    k3 = s * s * m3 / ((s - 1) * (s - 2))
    if not k2:
        return quiz
    quiz["skewness"] = float(k3) / float(k2) ** 1.5
    if s > 3:
        k4 = s * s * ((s + 1) * m4 - 3 * (s - 1) * m2 * m2) / ((s - 1) * (s - 2) * (s - 3))
        quiz["kurtosis"] = float(k4 / (k2 * k2))
    if n_q > 1:
        cic = Fraction(100 * n_q, n_q - 1) * (1 - sum_mark_variance / k2)
        quiz["cronbach_alpha"] = float(cic)
        if cic <= 100:  # Moodle stores NaN as null here
            error_ratio = 100 * math.sqrt(1 - float(cic) / 100)
            quiz["error_ratio"] = error_ratio
            quiz["standard_error"] = _pct(error_ratio * sd / 100, quiz_max)
    return quiz
