"""Synthetic and hand-written problems: deterministic, well-formed, and exact by the verifier.

Three kinds of check: the records (ids, fields, determinism, the prefix property), the answers
recomputed here from the prompt text where the prompt is a formula, and the project's verifier
accepting every gold answer boxed as itself and rejecting a neighbouring wrong one.
"""

import json
import random
import re
from fractions import Fraction
from pathlib import Path

import pytest

from rollout import synthetic
from rollout.synthetic import GENERATORS, decimal_number, generate, latex_number
from verifiers import verify

HANDWRITTEN = Path(__file__).resolve().parents[1] / "rollout" / "data" / "handwritten.jsonl"
FIELDS = {"problem_id", "prompt", "answer", "kind", "source", "meta"}
PER_GENERATOR = 51  # 17 at each level


def boxed(answer: str) -> str:
    return "The answer is \\boxed{" + answer + "}."


def value(gold: str) -> Fraction:
    """Read back a gold string written by latex_number or decimal_number."""
    m = re.fullmatch(r"(-?)\\frac\{(\d+)\}\{(\d+)\}", gold)
    if m:
        return (-1 if m[1] else 1) * Fraction(int(m[2]), int(m[3]))
    assert re.fullmatch(r"-?\d+(\.\d+)?", gold), gold
    return Fraction(gold)


def problems_of(name: str) -> list[dict]:
    return generate([name], count=PER_GENERATOR, seed=7)


# --------------------------------------------------------------------------------------------
# Records


def test_registry_names_resolve_to_functions():
    assert list(GENERATORS) == [
        "arithmetic",
        "fractions",
        "percentages",
        "linear_equations",
        "modular",
        "word_problems",
    ]
    for name, fn in GENERATORS.items():
        made = fn(random.Random(name), 1)
        assert {"prompt", "answer"} <= made.keys() <= {"prompt", "answer", "meta"}, name


def test_same_arguments_same_problems():
    assert generate(count=60, seed=3) == generate(count=60, seed=3)
    assert generate(count=60, seed=3) != generate(count=60, seed=4)


def test_shorter_call_is_a_prefix_of_a_longer_one():
    assert generate(count=10, seed=5) == generate(count=20, seed=5)[:10]
    assert (
        generate(["fractions"], count=7, difficulty=[3])
        == generate(["fractions"], count=30, difficulty=[3])[:7]
    )


def test_problem_depends_only_on_its_id():
    # The same id reached through different generator lists names the same problem.
    alone = {p["problem_id"]: p for p in generate(["modular"], count=30, seed=2)}
    mixed = generate(["modular", "modular"], count=30, seed=2)
    shared = [p for p in mixed if p["problem_id"] in alone]
    assert shared
    for p in shared:
        assert p == alone[p["problem_id"]]


def test_ids_unique_and_fields_exact():
    problems = generate(count=600, seed=11)
    assert len({p["problem_id"] for p in problems}) == len(problems)
    for i, p in enumerate(problems):
        assert set(p) == FIELDS
        assert p["kind"] == "math" and p["source"] == "synthetic"
        name, level = p["meta"]["generator"], p["meta"]["difficulty"]
        assert p["problem_id"] == f"syn-{name}-d{level}-s11-{i:06d}"
        assert isinstance(p["prompt"], str) and isinstance(p["answer"], str)
        # Question text only: the answer format and chat template belong to the caller.
        assert "boxed" not in p["prompt"] and "<|" not in p["prompt"]
        assert p["prompt"].rstrip()[-1] in "?."


def test_cycles_generators_then_difficulties():
    names = ["fractions", "modular"]
    problems = generate(names, count=12, difficulty=[3, 1])
    got = [(p["meta"]["generator"], p["meta"]["difficulty"]) for p in problems]
    assert got[:4] == [("fractions", 3), ("modular", 3), ("fractions", 1), ("modular", 1)]
    assert got[4:8] == got[:4]
    every_pair = generate(count=18)
    assert len({(p["meta"]["generator"], p["meta"]["difficulty"]) for p in every_pair}) == 18


def test_single_name_and_single_level_accepted():
    assert generate("arithmetic", count=3, difficulty=2) == generate(
        ["arithmetic"], count=3, difficulty=[2]
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"generators": ["arithmetic", "calculus"]}, "unknown generator 'calculus'"),
        ({"generators": ["calculus"]}, "known generators: arithmetic, fractions, percentages"),
        ({"generators": []}, "must not be empty"),
        ({"difficulty": [0]}, "difficulty must be 1, 2 or 3, got 0"),
        ({"difficulty": [1, 4]}, "difficulty must be 1, 2 or 3, got 4"),
        ({"difficulty": [True]}, "got True"),
        ({"count": -1}, "count must be >= 0, got -1"),
    ],
)
def test_bad_arguments_name_the_value_and_the_choices(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        generate(**kwargs)


# --------------------------------------------------------------------------------------------
# Answers


@pytest.mark.parametrize(
    ("q", "latex", "decimal"),
    [
        (Fraction(7), "7", "7"),
        (Fraction(-3), "-3", "-3"),
        (Fraction(0), "0", "0"),
        (Fraction(3, 4), "\\frac{3}{4}", "0.75"),
        (Fraction(-5, 2), "-\\frac{5}{2}", "-2.5"),
        (Fraction(-1, 8), "-\\frac{1}{8}", "-0.125"),
        (Fraction(1001, 100), "\\frac{1001}{100}", "10.01"),
    ],
)
def test_number_formats(q, latex, decimal):
    assert latex_number(q) == latex
    assert decimal_number(q) == decimal
    assert value(latex) == value(decimal) == q


def test_decimal_refuses_a_repeating_value():
    with pytest.raises(ValueError, match="no terminating decimal"):
        decimal_number(Fraction(1, 3))


def _eval(expression: str) -> Fraction:
    """Evaluate + - * over integers and a/b fractions with Python's own parser and precedence."""
    assert re.fullmatch(r"[\d\s+\-*/()]+", expression), expression
    python = re.sub(r"(\d+)/(\d+)", r"Fraction(\1, \2)", expression)  # integers stay exact ints
    return Fraction(eval(python, {"Fraction": Fraction}))


@pytest.mark.parametrize("name", ["arithmetic", "fractions"])
def test_expression_answers_recomputed(name):
    for p in problems_of(name):
        expression = re.fullmatch(r"(?:What is|Calculate|Compute) (.+)[?.]", p["prompt"])[1]
        assert value(p["answer"]) == _eval(expression), p
        assert p["answer"] == latex_number(value(p["answer"]))  # reduced, canonical


def test_linear_answers_satisfy_the_equation():
    for p in problems_of("linear_equations"):
        equation = re.fullmatch(r"Solve for x: (.+) = (.+)\.", p["prompt"])
        x = value(p["answer"])
        sides = [re.sub(r"(\d)x", r"\1*x", s) for s in equation.groups()]
        left, right = (eval(s, {"x": x}) for s in sides)
        assert left == right, p


def test_modular_answers_recomputed():
    for p in problems_of("modular"):
        m = re.fullmatch(
            r"What is (?:the remainder when )?(.+?)(?: mod | is divided by )(\d+)\?", p["prompt"]
        )
        expression, modulus = m[1].replace("^", "**"), int(m[2])
        assert int(p["answer"]) == eval(expression) % modulus, p


def test_percentages_and_word_problems_have_exact_plain_answers():
    for p in problems_of("percentages"):
        assert p["answer"] == decimal_number(value(p["answer"])), p
    for p in problems_of("word_problems"):
        assert re.fullmatch(r"\d+", p["answer"]) and int(p["answer"]) > 0, p


def test_level_one_is_small():
    for p in generate(count=120, difficulty=[1], seed=1):
        numbers = [int(n) for n in re.findall(r"\d+", p["prompt"])]
        assert len(numbers) <= 4 and max(numbers) <= 200, p


@pytest.mark.parametrize("name", list(GENERATORS))
def test_verifier_accepts_gold_and_rejects_a_neighbour(name):
    for p in problems_of(name):
        gold = p["answer"]
        ok = verify(boxed(gold), gold)
        assert ok.correct is True, (p, ok)
        # One more than the gold, written the same way the generator writes it.
        write = latex_number if "\\frac" in gold else decimal_number
        wrong = write(value(gold) + 1)
        bad = verify(boxed(wrong), gold)
        assert bad.correct is False, (p, wrong, bad)


def test_verifier_rejects_a_different_fraction():
    for p in problems_of("fractions"):
        gold = value(p["answer"])
        if gold.denominator == 1:
            continue
        swapped = latex_number(Fraction(gold.denominator, gold.numerator))
        assert verify(boxed(swapped), p["answer"]).correct is False, p


# --------------------------------------------------------------------------------------------
# Hand-written problems


def handwritten() -> list[dict]:
    return [json.loads(line) for line in HANDWRITTEN.read_text().splitlines() if line.strip()]


def test_handwritten_records():
    rows = handwritten()
    assert 25 <= len(rows) <= 40
    assert [r["problem_id"] for r in rows] == [f"hand-{i:03d}" for i in range(1, len(rows) + 1)]
    for r in rows:
        assert set(r) == FIELDS, r
        assert r["source"] == "handwritten"
        assert r["kind"] in ("math", "choice")
        assert r["meta"]["difficulty"] in (1, 2, 3)
        assert isinstance(r["meta"]["domain"], str) and r["meta"]["domain"]
        assert isinstance(r["prompt"], str) and isinstance(r["answer"], str)
    kinds = [r["kind"] for r in rows]
    assert 4 <= kinds.count("choice") <= 5
    domains = {r["meta"]["domain"] for r in rows if r["kind"] == "math"}
    assert {"arithmetic", "algebra", "geometry", "number theory", "probability"} <= domains


def test_handwritten_choice_answers_are_offered_letters():
    for r in handwritten():
        if r["kind"] != "choice":
            continue
        letters = re.findall(r"^([A-Z])\) ", r["prompt"], flags=re.MULTILINE)
        assert letters == ["A", "B", "C", "D"], r
        assert r["answer"] in letters, r
        assert list(r["meta"]["choices"]) == letters
        assert verify(boxed(r["answer"]), r["answer"], kind="choice").correct is True


@pytest.mark.parametrize(
    "row", [r for r in handwritten() if r["kind"] == "math"], ids=lambda r: r["problem_id"]
)
def test_handwritten_math_gold_accepted_by_verifier(row):
    verdict = verify(boxed(row["answer"]), row["answer"])
    assert verdict.correct is True, verdict


def test_module_docstring_says_how_to_use_it():
    assert "generate(" in synthetic.__doc__ and "GENERATORS" in synthetic.__doc__
