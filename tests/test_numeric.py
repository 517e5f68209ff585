"""The cheap difference proof: it may only ever say "different" for values that differ."""

import pytest

from verifiers import mathrules, numeric

EQUAL = [
    ("\\frac{1}{2}", "0.5"),
    ("\\sqrt{8}", "2\\sqrt{2}"),
    ("x^2+2x+1", "(x+1)^2"),
    ("\\frac 59", "5/9"),
    ("10^{20}+1-10^{20}", "1"),  # cancellation of 20 digits
    ("(10^{40}+\\sqrt{2})-10^{40}", "\\sqrt{2}"),  # 40 digits: beyond the first precision
    ("\\frac{\\pi}{2}", "\\pi/2"),
    ("\\sqrt[3]{27}", "3"),
    ("2\\cdot 3^{2}", "18"),
    ("-x^2", "-(x^2)"),
    ("y = 2x + 3", "2y = 4x + 6"),  # equations: any nonzero multiple
    ("x + y = 1", "y = 1 - x"),
    ("3 \\pm 2\\sqrt{2}", "3 \\pm \\sqrt{8}"),
    ("1 \\pm \\sqrt{5}", "1 \\pm -\\sqrt{5}"),  # the same two values, the other way round
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}"),
]
NO_DECISION = [  # outside the subset or ambiguous: left to the exact comparison
    ("i^2", "-1"),  # equal with i as the imaginary unit, so no proof of difference
    ("1/2x", "\\frac{1}{2x}"),
    ("2\\frac{1}{2}", "\\frac{5}{2}"),
    ("2^{100000}", "2^{100000}+1"),
    ("x^23", "x^{23}"),
    ("\\sin x", "x"),
    ("(1, 2)", "(2, 1)"),
    ("x_1", "x_2"),
    ("\\frac{x}{y}", "\\frac{x}{z}"),  # other variables
]
DIFFERENT = [
    ("\\frac{14}{3}", "\\frac{14}{4}"),
    ("x^2+2x+1", "(x+1)^2+1"),
    ("\\frac{\\pi}{3}", "1.047"),
    ("3\\sqrt{13}", "3\\sqrt{14}"),
    ("-\\frac{35}{9}", "\\frac{35}{9}"),
    ("6r^2-4r-24", "6r^2-4r-25"),
    ("1 - 12i", "1 - 13i"),  # i as the imaginary unit or as a variable: different either way
    ("e^2", "7.389"),
    ("y = 2x + 3", "y = 2x + 4"),
    ("5x - 7y + 11z + 4 = 0", "5x - 7y + 11z + 4 = 1"),
    ("1 \\pm \\sqrt{19}", "1 \\pm \\sqrt{20}"),
    (
        "\\begin{pmatrix} -7 \\\\ 16 \\\\ 5 \\end{pmatrix}",
        "\\begin{pmatrix} -7 \\\\ 16 \\\\ 6 \\end{pmatrix}",
    ),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} 1 & 2 \\end{pmatrix}"),  # shape
]


@pytest.mark.parametrize(("a", "b"), EQUAL + NO_DECISION)
def test_never_different_for_equal_or_undecidable(a, b):
    assert numeric.differ(a, b) is False
    assert numeric.differ(b, a) is False


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_near_misses_are_proved_different(a, b):
    assert numeric.differ(a, b) is True


def test_agrees_with_the_exact_comparison_on_every_equal_rewrite_it_decides():
    """Whatever the cheap proof calls different, SymPy must not call equal (and vice versa)."""
    for a, b in EQUAL:
        v = mathrules.check(f"\\boxed{{{b}}}", a)
        assert v.correct is True, (a, b, v)
    for a, b in DIFFERENT:
        ga, pb = mathrules.to_sympy(a), mathrules.to_sympy(b)
        assert not mathrules.same(ga, pb), (a, b)
