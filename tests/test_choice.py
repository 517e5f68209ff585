"""Multiple-choice checker: the final declared letter; hedges and undeclared answers are wrong."""

import json
from pathlib import Path

import pytest

from verifiers import choice

TABLE = [
    ("Answer: C", "C", True),
    ("Answer: C", "B", False),
    ("After comparing the options, \\boxed{C}.", "C", True),
    ("The answer is (C).", "C", True),
    ("The answer is C.", "C", True),
    ("**Answer: C**", "C", True),
    ("answer: c", "C", True),
    ("Final answer: (d)", "D", True),
    ("The correct option is B because the rate doubles.", "B", True),
    ("I first thought A. Rechecking the units, the answer is D.", "D", True),
    ("Answer: A. Option C would hold only at low temperature.", "A", True),
    ("<think>Probably C</think>Answer: B", "C", False),
    ("<think>Probably C", "C", False),
    ("Answer: C", "C", False, "length"),
    ("It is A or C.", "A", False),
    ("Answer: A or C", "C", False),
    ("\\boxed{A \\text{ or } C}", "A", False),
    ("The options are all plausible.", "A", False),
    ("Option A is a reasonable guess but I cannot determine the answer.", "A", False),
    ("(B)", "B", True),
    ("Let me evaluate each option.\nB", "B", True),
    ("The answer is a consequence of symmetry, so the answer is B.", "B", True),
]


@pytest.mark.parametrize("row", TABLE, ids=[f"{i}-{r[2]}" for i, r in enumerate(TABLE)])
def test_choice_table(row):
    completion, gold, expected = row[:3]
    v = choice.check(completion, gold, row[3] if len(row) > 3 else "stop")
    assert v.correct is expected, v


def _cases():
    out = []
    for name in ("choice_cases.jsonl", "choice_cases_2.jsonl", "choice_cases_3.jsonl"):
        p = Path(__file__).parent / "cases" / name
        if p.exists():
            out += [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
    return out


CASES = _cases()


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{i}-{c['category']}-{c['label']}" for i, c in enumerate(CASES)]
)
def test_choice_cases_written_to_the_rules(case):
    v = choice.check(case["completion"], case["answer"], case.get("finish_reason", "stop"))
    assert v.correct is case["label"], f"{case.get('note', '')}: got {v}"


def test_gold_that_is_not_a_letter_is_unjudged():
    assert choice.check("Answer: C", "carbon").correct is None


def test_letters_option_limits_the_choices():
    assert choice.check("Answer: E", "E", letters="ABCD").correct is None
    assert choice.check("Answer: E", "E", letters="ABCDE").correct is True
