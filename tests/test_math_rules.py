"""Table tests for the math checker: every rule of "what correct means", both directions.

Two tables: the one below (written with the implementation) and tests/cases/*.jsonl (written to the
rules by a separate author who did not read the implementation).
"""

import json
from pathlib import Path

import pytest

from verifiers import mathrules

B = "\\boxed{{{}}}".format

TABLE = [
    # --- final answer: last commitment, after </think>, self-corrections, remarks after it
    ("<think>Maybe 5? No, 2+5=7.</think>The answer is \\boxed{7}.", "7", True, "think"),
    ("<think>It is \\boxed{7}.</think>So the answer is \\boxed{5}.", "7", False, "think"),
    (
        "First I got \\boxed{5}. Wait, I made an error: the answer is \\boxed{7}.",
        "7",
        True,
        "self_correction",
    ),
    (
        "First I got \\boxed{7}. Wait, recheck: the answer is \\boxed{5}.",
        "7",
        False,
        "self_correction",
    ),
    ("The answer is not 5; it is 7.", "7", True, "self_correction"),
    ("The answer is not 7; it is 5.", "7", False, "self_correction"),
    (
        "Answer: 12. Note that 13 would be the count if we included zero.",
        "12",
        True,
        "remark_after",
    ),
    ("\\boxed{12}. (Had we counted the endpoints we would get 14.)", "12", True, "remark_after"),
    ("\\boxed{14}. Some might think 12, but that misses endpoints.", "12", False, "remark_after"),
    (
        "Final Answer: The final answer is $\\frac{3}{4}$. I hope it is correct.",
        "0.75",
        True,
        "minerva",
    ),
    (
        "Final Answer: The final answer is $\\frac{4}{3}$. I hope it is correct.",
        "0.75",
        False,
        "minerva",
    ),
    ("**Answer:** $42$", "42", True, "markdown"),
    ("**Answer:** $24$", "42", False, "markdown"),
    ("We compute 6*7 = 42.", "42", True, "last_expression"),
    ("She pays 3 * 6 = 18 dollars.\n#### 18\nNote: 3 of them were free.", "18", True, "gsm8k"),
    ("She pays 3 * 6 = 18 dollars.\n#### 19", "18", False, "gsm8k"),
    ("**Final Answer:**\n$42$", "42", True, "markdown"),
    ("We compute 6*7 = 43.", "42", False, "last_expression"),
    # --- no final answer
    ("Computing... 2+2 = 4 and then", "4", False, "truncated", "length"),
    ("<think>2+2=4 so the answer is 4", "4", False, "unclosed_think"),
    ("<think>2+2=4</think>", "4", False, "empty_region"),
    ("The answer is \\boxed{}.", "4", False, "empty_box"),
    ("The answer is \\boxed{?}.", "4", False, "placeholder"),
    ("I'm sorry, but I can't help with that. (It might be 4.)", "4", False, "refusal"),
    ("I cannot solve this problem.", "4", False, "refusal"),
    ("The sum is 4. " + "Let me double check the sum. " * 30, "4", False, "repetition_loop"),
    ("4\n" + "The value is 4 again.\n" * 8, "4", False, "repetition_loop"),
    # --- hedges
    ("The answer is \\boxed{5} or \\boxed{7}.", "7", False, "hedge"),
    ("It is either 5 or 7.", "7", False, "hedge"),
    ("So $x = 2$ or $x = 3$.", "3", False, "hedge_extra_root"),
    ("So $x = 2$ or $x = 3$.", "2, 3", True, "roots"),
    ("\\boxed{x = 2 \\text{ or } x = 3}", "3, 2", True, "roots"),
    ("\\boxed{2, 3, 4}", "2, 3", False, "extra_element"),
    ("\\boxed{2}", "2, 3", False, "missing_element"),
    # --- fraction = decimal = percent = scientific notation
    (B("0.5"), "\\frac{1}{2}", True, "fraction_decimal"),
    (B("\\frac{1}{2}"), "0.5", True, "fraction_decimal"),
    (B("\\dfrac{2}{4}"), "0.5", True, "fraction_decimal"),
    (B("0.6"), "\\frac{1}{2}", False, "fraction_decimal"),
    (B("50\\%"), "\\frac{1}{2}", True, "percent"),
    (B("50\\%"), "50", True, "percent"),
    (B("0.5"), "50\\%", True, "percent"),
    (B("5\\%"), "\\frac{1}{2}", False, "percent"),
    (B("2.5 \\times 10^{3}"), "2500", True, "sci_notation"),
    (B("2.5e3"), "2500", True, "sci_notation"),
    (B("2.5 \\times 10^{4}"), "2500", False, "sci_notation"),
    (B("1.2\\cdot 10^{-3}"), "0.0012", True, "sci_notation"),
    # --- unsimplified values
    (B("\\sqrt{8}"), "2\\sqrt{2}", True, "radical"),
    (B("\\frac{\\sqrt{2}}{2}"), "\\frac{1}{\\sqrt{2}}", True, "radical"),
    (B("\\sqrt{6}"), "2\\sqrt{2}", False, "radical"),
    (B("\\log_2 32"), "5", True, "log"),
    (B("\\log_3 32"), "5", False, "log"),
    (B("5!"), "120", True, "factorial"),
    (B("4!"), "120", False, "factorial"),
    (B("\\binom{6}{3}"), "20", True, "binomial"),
    (B("\\binom{6}{2}"), "20", False, "binomial"),
    # --- sets, intervals, inequalities, pm
    (B("\\{3, 1, 2\\}"), "\\{1, 2, 3\\}", True, "set_order"),
    (B("3, 1, 2"), "1, 2, 3", True, "set_order"),
    (B("\\{1, 2, 4\\}"), "\\{1, 2, 3\\}", False, "set_order"),
    (B("x \\le 3"), "(-\\infty, 3]", True, "interval_inequality"),
    (B("x < 3"), "(-\\infty, 3]", False, "interval_inequality"),
    (B("[2, 5)"), "2 \\le x < 5", True, "interval_inequality"),
    (B("-1 < x < 4"), "(-1, 4)", True, "interval_inequality"),
    (B("-1 \\le x < 4"), "(-1, 4)", False, "interval_inequality"),
    (B("x \\in [0, \\infty)"), "[0, \\infty)", True, "interval_inequality"),
    (B("(0, \\infty)"), "[0, \\infty)", False, "interval_open_closed"),
    (B("[1, 3]"), "[1, 3)", False, "interval_open_closed"),
    (B("2 \\pm \\sqrt{5}"), "2 + \\sqrt{5}, 2 - \\sqrt{5}", True, "pm"),
    (B("2 + \\sqrt{5}"), "2 \\pm \\sqrt{5}", False, "pm"),
    (B("\\pm 3"), "3, -3", True, "pm"),
    # --- assignments and equations
    (B("x = 3"), "3", True, "x_equals"),
    (B("x = 4"), "3", False, "x_equals"),
    (B("3"), "x = 3", True, "x_equals"),
    (B("y = 2x + 1"), "2x - y + 1 = 0", True, "equation_line"),
    (B("4x - 2y + 2 = 0"), "y = 2x + 1", True, "equation_line"),
    (B("y = 2x - 1"), "y = 2x + 1", False, "equation_line"),
    (B("y = x + 1"), "y = 2x + 1", False, "equation_line"),
    # --- angles and units
    (B("\\frac{\\pi}{3}"), "60^\\circ", True, "degrees_radians"),
    (B("60^\\circ"), "\\frac{\\pi}{3}", True, "degrees_radians"),
    (B("60"), "60^\\circ", True, "degrees_radians"),
    (B("\\frac{\\pi}{4}"), "60^\\circ", False, "degrees_radians"),
    (B("1.5 \\text{ km}"), "1500 \\text{ m}", True, "units"),
    (B("90 \\text{ minutes}"), "1.5 \\text{ hours}", True, "units"),
    (B("150 \\text{ cm}"), "1.5 \\text{ m}", True, "units"),
    (B("15 \\text{ cm}"), "1.5 \\text{ m}", False, "units"),
    (B("12 \\text{ apples}"), "12", True, "units"),
    (B("\\$12.50"), "12.5", True, "units_money"),
    (B("\\$12.05"), "12.5", False, "units_money"),
    ("Each friend pays $\\$110$.", "\\$110", True, "units_money"),
    ("The answer is $\\$110$ per person.", "110", True, "units_money"),
    ("Each friend pays $\\$120$.", "\\$110", False, "units_money"),
    # --- formatting
    (B("1{,}000{,}000"), "1000000", True, "formatting"),
    (B("1,000,000"), "1000000", True, "formatting"),
    (B("1\\,000\\,000"), "1000000", True, "formatting"),
    (B("1\u2009000"), "1000", True, "formatting"),
    (B("\\textbf{42}"), "42", True, "formatting"),
    (B("\\text{42}"), "42", True, "formatting"),
    (B("042"), "42", True, "formatting"),
    ("The population is 2.5 million.", "2500000", True, "formatting"),
    ("The population is 2.5 billion.", "2500000", False, "formatting"),
    (B("1,000,001"), "1000000", False, "formatting"),
    (B("\\text{Tuesday}"), "Tuesday", True, "text"),
    (B("\\text{Monday}"), "Tuesday", False, "text"),
    # --- approximations and near misses
    (B("3.14"), "\\pi", False, "approx_irrational"),
    (B("3.14159265358979"), "\\pi", False, "approx_irrational"),
    (B("\\pi"), "\\pi", True, "approx_irrational"),
    (B("1.414"), "\\sqrt{2}", False, "approx_irrational"),
    (B("0.333"), "\\frac{1}{3}", False, "approx_repeating"),
    (B("0.\\overline{3}"), "\\frac{1}{3}", True, "repeating_decimal"),
    (B("0.1\\overline{6}"), "\\frac{1}{6}", True, "repeating_decimal"),
    (B("\\frac{1}{100!}"), "\\frac{1}{99!}", False, "near_miss"),
    (B("\\frac{1}{99!}"), "\\frac{1}{99!}", True, "near_miss"),
    (B("10^{-20}"), "10^{-21}", False, "near_miss"),
    (B("1000000001"), "1000000000", False, "near_miss"),
    # --- structure
    (B("(1, 2)"), "(1, 2)", True, "tuple_order"),
    (B("(2, 1)"), "(1, 2)", False, "tuple_order"),
    (B("(3, -1)"), "(3, -1)", True, "tuple_order"),
    (B("(-1, 3)"), "(3, -1)", False, "tuple_order"),
    (
        B("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}"),
        "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
        True,
        "matrix",
    ),
    (
        B("\\begin{pmatrix} 1 & 3 \\\\ 2 & 4 \\end{pmatrix}"),
        "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
        False,
        "matrix_transpose",
    ),
    # --- symbolic expressions
    (B("2x + 2"), "2(x+1)", True, "expression"),
    (B("x^2 - 1"), "(x-1)(x+1)", True, "expression"),
    (B("x^2 + 1"), "(x-1)(x+1)", False, "expression"),
    # --- gold written as a dataset stores it
    (B("\\frac{1}{2}"), "$\\frac{1}{2}$", True, "gold_format"),
    (B("\\frac{1}{2}"), "\\boxed{\\frac12}", True, "gold_format"),
    (B("-3"), "-3", True, "gold_format"),
    (B("3"), "-3", False, "gold_format"),
]


def _load_jsonl(name):
    path = Path(__file__).parent / "cases" / name
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("row", TABLE, ids=[f"{i}-{r[3]}-{r[2]}" for i, r in enumerate(TABLE)])
def test_math_table(row):
    completion, gold, expected, _category = row[:4]
    finish = row[4] if len(row) > 4 else "stop"
    v = mathrules.check(completion, gold, finish)
    assert v.correct is expected, f"{v}"
    assert v.verifier == "math" and v.version


CASES = (
    _load_jsonl("math_cases.jsonl")
    + _load_jsonl("math_cases_2.jsonl")
    + _load_jsonl("math_cases_3.jsonl")
)


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{i}-{c['category']}-{c['label']}" for i, c in enumerate(CASES)]
)
def test_math_cases_written_to_the_rules(case):
    v = mathrules.check(case["completion"], case["answer"], case.get("finish_reason", "stop"))
    assert v.correct is case["label"], f"{case.get('note', '')}: got {v}"


# Each rule of "what correct means" and the table categories that exercise it.
RULES = {
    "last commitment after </think>": [
        "think",
        "self_correction",
        "remark_after",
        "minerva",
        "markdown",
        "gsm8k",
    ],
    "no final answer": [
        "truncated",
        "unclosed_think",
        "empty_region",
        "empty_box",
        "placeholder",
        "refusal",
        "repetition_loop",
        "last_expression",
    ],
    "hedges": ["hedge", "hedge_extra_root", "roots", "extra_element", "missing_element"],
    "fraction = decimal = percent = scientific": ["fraction_decimal", "percent", "sci_notation"],
    "unsimplified values": ["radical", "log", "factorial", "binomial"],
    "sets in any order": ["set_order"],
    "interval = inequality": ["interval_inequality"],
    "pm": ["pm"],
    "x = 3 is 3": ["x_equals"],
    "equivalent lines": ["equation_line"],
    "degrees = radians": ["degrees_radians"],
    "units": ["units", "units_money"],
    "formatting": ["formatting", "text"],
    "approximations and near misses": [
        "approx_irrational",
        "approx_repeating",
        "repeating_decimal",
        "near_miss",
    ],
    "structure": ["interval_open_closed", "tuple_order", "matrix", "matrix_transpose"],
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_table_covers_every_rule_both_ways(rule):
    labels = {r[2] for r in TABLE if r[3] in RULES[rule]}
    assert labels == {True, False}, f"rule {rule!r} needs cases in both directions, has {labels}"


def test_at_least_250_cases():
    assert len(TABLE) + len(CASES) >= 250


def test_unparseable_gold_is_unjudged_not_wrong():
    v = mathrules.check("\\boxed{5}", "\\frac{")
    assert v.correct is None
    assert mathrules.check("\\boxed{5}", None).correct is None


def test_fast_path_decides_plain_numbers_without_sympy():
    assert mathrules.check("\\boxed{0.5}", "1/2", fast_only=True).correct is True
    # an expression needs SymPy: the fast path declines instead of guessing
    assert mathrules.check("\\boxed{\\log_2 8}", "3", fast_only=True) is None
    # radicals, number lists and simple intervals have fast paths of their own
    assert mathrules.check("\\boxed{\\sqrt{18}}", "3\\sqrt{2}", fast_only=True).correct is True
    assert mathrules.check("\\boxed{\\{3, 1\\}}", "1, 3", fast_only=True).correct is True
    assert mathrules.check("\\boxed{x \\le 3}", "(-\\infty, 3]", fast_only=True).correct is True
    assert mathrules.check("\\boxed{x < 3}", "(-\\infty, 3]", fast_only=True).correct is False
