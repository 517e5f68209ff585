"""evaluation/metrics.py against values worked out by hand and against simulation."""

import math

import numpy as np
import pytest

from evaluation.metrics import bootstrap_ci, majority_vote, paired_bootstrap, pass_at_k

# ----------------------------------------------------------------------------- pass@k


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (5, 2, 2, 0.7),  # 1 - C(3,2)/C(5,2) = 1 - 3/10
        (4, 1, 2, 0.5),  # 1 - C(3,2)/C(4,2) = 1 - 3/6
        (10, 3, 5, 1 - 21 / 252),  # 1 - C(7,5)/C(10,5)
        (8, 0, 4, 0.0),  # nothing correct: never
        (8, 8, 4, 1.0),  # everything correct: always
        (8, 5, 4, 1.0),  # only 3 wrong: any 4 contain a correct one
        (1, 1, 1, 1.0),
    ],
)
def test_pass_at_k_by_hand(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("n", "c"), [(1, 0), (4, 1), (16, 5), (100, 37)])
def test_pass_at_1_is_the_fraction_correct(n, c):
    assert pass_at_k(n, c, 1) == pytest.approx(c / n)


def test_pass_at_k_matches_the_binomial_formula_and_grows_with_k():
    for n, c in [(20, 3), (50, 10), (200, 1)]:
        values = [pass_at_k(n, c, k) for k in range(1, n + 1)]
        exact = [1 - math.comb(n - c, k) / math.comb(n, k) for k in range(1, n + 1)]
        assert values == pytest.approx(exact, abs=1e-9)
        assert all(b >= a - 1e-12 for a, b in zip(values, values[1:], strict=False))


def test_pass_at_k_rejects_impossible_arguments():
    with pytest.raises(ValueError, match=r"1 <= k <= n, got k=5 with n=4"):
        pass_at_k(4, 1, 5)
    with pytest.raises(ValueError, match="0 <= c <= n"):
        pass_at_k(4, 5, 1)
    with pytest.raises(ValueError, match="1 <= k"):
        pass_at_k(4, 1, 0)


# ----------------------------------------------------------------------------- bootstrap


def test_bootstrap_interval_is_deterministic_and_brackets_the_mean():
    x = np.random.default_rng(1).random(50)
    lo, hi = bootstrap_ci(x, n_boot=2000, seed=3)
    assert lo < x.mean() < hi
    assert (lo, hi) == bootstrap_ci(x, n_boot=2000, seed=3)
    assert bootstrap_ci([0.5] * 10) == (0.5, 0.5)  # no spread, no width
    wide = bootstrap_ci(x, n_boot=2000, seed=3, level=0.99)
    assert wide[0] <= lo and wide[1] >= hi


def test_bootstrap_interval_covers_the_true_mean_about_95_percent_of_the_time():
    # 400 benchmarks of 100 problems, each problem solved with probability 0.3.
    rng = np.random.default_rng(0)
    hits = 0
    for i in range(400):
        scores = (rng.random(100) < 0.3).astype(float)
        lo, hi = bootstrap_ci(scores, n_boot=1000, seed=i)
        hits += lo <= 0.3 <= hi
    assert 0.90 <= hits / 400 <= 0.98


def test_bootstrap_rejects_empty_input():
    with pytest.raises(ValueError, match="non-empty"):
        bootstrap_ci([])


# ----------------------------------------------------------------------------- paired comparison


def test_identical_scores_give_no_difference():
    a = np.random.default_rng(0).random(40)
    r = paired_bootstrap(a, a.copy(), n_boot=2000)
    assert r["delta"] == 0.0 and r["ci"] == (0.0, 0.0) and r["p_value"] == 1.0 and r["n"] == 40


def test_clearly_better_on_most_problems_is_significant():
    rng = np.random.default_rng(0)
    a = rng.random(100) * 0.5
    b = a + 0.2 * (rng.random(100) < 0.9)  # better on ~90% of problems, never worse
    r = paired_bootstrap(a, b, n_boot=2000)
    assert r["delta"] > 0.15 and r["ci"][0] > 0 and r["p_value"] < 0.01


def test_a_small_difference_on_a_few_problems_is_not_significant():
    a = (np.random.default_rng(0).random(200) < 0.3).astype(float)
    b = a.copy()
    b[np.flatnonzero(a == 0)[:6]] = 1.0  # 6 problems gained, 4 lost: +1 point, within the noise
    b[np.flatnonzero(a == 1)[:4]] = 0.0
    r = paired_bootstrap(a, b, n_boot=2000)
    assert r["delta"] == pytest.approx(0.01)
    assert r["ci"][0] < 0 < r["ci"][1] and r["p_value"] > 0.3


def test_swapping_the_pair_flips_the_sign_and_keeps_p():
    rng = np.random.default_rng(2)
    a, b = rng.random(60), rng.random(60) + 0.05
    ab, ba = (
        paired_bootstrap(a, b, n_boot=3000, seed=5),
        paired_bootstrap(b, a, n_boot=3000, seed=5),
    )
    assert ba["delta"] == pytest.approx(-ab["delta"])
    assert ba["ci"] == pytest.approx((-ab["ci"][1], -ab["ci"][0]))
    assert ba["p_value"] == pytest.approx(ab["p_value"])


def test_paired_needs_the_same_problems():
    with pytest.raises(ValueError, match=r"len\(a\)=3 != len\(b\)=2"):
        paired_bootstrap([1, 0, 1], [1, 0])


# ----------------------------------------------------------------------------- majority vote


@pytest.mark.parametrize(
    ("answers", "correct", "expected"),
    [
        (["4", "4", "5"], [True, True, False], True),
        (["5", "4", "5"], [False, True, False], False),  # the majority is wrong
        (["5", "4"], [False, True], False),  # a tie goes to the answer seen first
        (["4", "5"], [True, False], True),
        ([None, None, "4"], [False, False, True], True),  # no-answer samples do not vote
        ([None, None], [False, False], False),  # nobody answered
        ([], [], False),
        (["4", "4", "3"], [None, None, False], False),  # unjudged is not correct
    ],
)
def test_majority_vote(answers, correct, expected):
    assert majority_vote(answers, correct) is expected


def test_majority_vote_needs_one_verdict_per_answer():
    with pytest.raises(ValueError, match="2 answers, 1 verdicts"):
        majority_vote(["1", "2"], [True])
