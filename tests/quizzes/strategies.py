"""Hypothesis strategies for valid bank questions (docs/authoring.md format)."""

from __future__ import annotations

from hypothesis import strategies as st

words = st.text(
    alphabet=st.characters(codec="utf-8", categories=("L", "N"), max_codepoint=0x17F),
    min_size=1,
    max_size=8,
)
phrase = st.lists(words, min_size=1, max_size=4).map(" ".join)
fb = phrase  # feedback is required for options and true/false


def _base(t: str) -> dict:
    return {
        "id": "q-1",
        "type": t,
        "text": "Question?",
        "topics": ["T01"],
        "difficulty": "easy",
        "lesson": "some-lesson#a-section",
        "explanation": "Because.",
    }


@st.composite
def single_q(draw):
    n = draw(st.integers(2, 6))
    right = draw(st.integers(0, n - 1))
    opts = [
        {"text": f"opt {i} " + draw(words), "feedback": draw(fb)}
        | ({"correct": True} if i == right else {})
        for i in range(n)
    ]
    return _base("single") | {"options": opts}


@st.composite
def multiple_q(draw):
    k = draw(st.integers(1, 4))
    # Split 100 into k positive integer weights.
    cuts = sorted(draw(st.lists(st.integers(1, 99), min_size=k - 1, max_size=k - 1, unique=True)))
    bounds = [0, *cuts, 100]
    good = [bounds[i + 1] - bounds[i] for i in range(k)]
    bad = draw(st.lists(st.integers(-100, 0), min_size=1, max_size=4))
    opts = [{"text": f"o{i}", "weight": w, "feedback": draw(fb)} for i, w in enumerate(good + bad)]
    order = draw(st.permutations(range(len(opts))))
    return _base("multiple") | {"options": [opts[i] for i in order]}


@st.composite
def truefalse_q(draw):
    return _base("truefalse") | {
        "answer": draw(st.booleans()),
        "feedback_true": draw(fb),
        "feedback_false": draw(fb),
    }


@st.composite
def ordering_q(draw):
    items = draw(st.lists(phrase, min_size=2, max_size=6))
    return _base("ordering") | {
        "items": items,
        "feedback_correct": "ok",
        "feedback_partial": "half",
    }


@st.composite
def matching_q(draw):
    lefts = draw(st.lists(phrase, min_size=2, max_size=5, unique=True))
    rights = draw(st.lists(phrase, min_size=len(lefts), max_size=len(lefts)))
    q = _base("matching") | {"pairs": [[a, b] for a, b in zip(lefts, rights, strict=True)]}
    if draw(st.booleans()):
        extra = st.lists(phrase.filter(lambda d: d not in rights), min_size=1, max_size=3)
        q["distractors"] = draw(extra)
    return q


@st.composite
def numeric_q(draw):
    value = draw(st.integers(-10_000, 10_000))
    tol = draw(st.sampled_from([0, 0.5, 1, 10]))
    answers = [{"value": value, "tolerance": tol, "fraction": 100, "feedback": "yes"}]
    if draw(st.booleans()):
        lo = draw(st.integers(-20_000, 20_000))
        answers.append({"min": lo, "max": lo + draw(st.integers(0, 50)), "fraction": 50})
    return _base("numeric") | {"answers": answers, "feedback_incorrect": "no"}


@st.composite
def short_q(draw):
    text = draw(phrase)
    answers = [{"text": text, "fraction": 100, "feedback": "yes"}]
    if draw(st.booleans()):
        answers.append({"regex": "^" + draw(words), "fraction": 50})
    return _base("short") | {"answers": answers}


any_question = st.one_of(
    single_q(), multiple_q(), truefalse_q(), ordering_q(), matching_q(), numeric_q(), short_q()
)

junk = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.binary(max_size=5),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(max_size=3) | st.integers(-3, 10), children, max_size=4)
    ),
    max_leaves=10,
)
