"""Evaluation statistics: pass@k, bootstrap intervals over problems, paired comparisons, majority vote.

Pure functions on numbers (numpy only), so rd-eval, notebooks and tests share one definition.
The unit of resampling is the problem, not the sample: samples of one problem are correlated, and
the question a benchmark answers is "how would this model do on other problems like these".

    from evaluation.metrics import pass_at_k, bootstrap_ci, paired_bootstrap, majority_vote
    pass_at_k(n=5, c=2, k=2)                     # 0.7
    bootstrap_ci(per_problem_pass1)              # (low, high) of the mean, 95%
    paired_bootstrap(base_scores, sft_scores)    # {"delta", "ci", "p_value", "n"}
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Resample in blocks of about this many draws, so a large benchmark never allocates n_boot x n at once.
_BLOCK = 2_000_000


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct: 1 - C(n-c, k) / C(n, k).

    The product form 1 - prod_{i=n-c+1..n} (1 - k/i) never builds the huge binomials, so it stays
    exact enough for n in the thousands (Chen et al. 2021, "Evaluating Large Language Models
    Trained on Code").
    """
    if not 0 <= c <= n:
        raise ValueError(f"pass_at_k needs 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"pass_at_k needs 1 <= k <= n, got k={k} with n={n} samples")
    if n - c < k:  # every draw of k samples contains a correct one
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def _boot_means(x: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Means of n_boot resamples (with replacement) of x; the same seed gives the same resamples."""
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot)
    step = max(1, _BLOCK // len(x))
    for start in range(0, n_boot, step):
        m = min(step, n_boot - start)
        out[start : start + m] = x[rng.integers(0, len(x), size=(m, len(x)))].mean(axis=1)
    return out


def _as_scores(values: Sequence[float], name: str) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or len(x) == 0:
        raise ValueError(
            f"{name} must be a non-empty list of per-problem scores, got shape {x.shape}"
        )
    return x


def bootstrap_ci(
    values: Sequence[float], n_boot: int = 10000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-problem scores.

    Resampling problems (not samples) gives the interval a benchmark of this size can support:
    with 30 AIME problems it is wide, and it should be.

    Args:
        values: one score per problem (e.g. its pass@1 = correct / n).
        n_boot: bootstrap resamples.
        seed: resampling seed (the interval is deterministic given it).
        level: coverage of the interval.

    Returns:
        (low, high).
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    means = _boot_means(_as_scores(values, "values"), n_boot, seed)
    low, high = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(low), float(high)


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], n_boot: int = 10000, seed: int = 0
) -> dict[str, object]:
    """Is b better than a on the same problems? Paired bootstrap of the mean difference.

    Pairing matters: two checkpoints' scores on one problem are strongly correlated (easy problems
    are easy for both), so resampling the per-problem differences gives a far tighter, and correct,
    interval than comparing two independent intervals.

    The p-value is two-sided and read off the same bootstrap distribution of the delta:
    2 * min(P(delta* <= 0), P(delta* >= 0)), each with the +1 correction (count + 1) / (n_boot + 1)
    so it is never exactly 0, clipped to 1. It is the smallest level at which the percentile
    interval excludes 0, so "p < 0.05" and "the 95% interval excludes 0" agree.

    Args:
        a: per-problem scores of the reference (e.g. the previous stage).
        b: per-problem scores of the candidate, same problems, same order.
        n_boot: bootstrap resamples.
        seed: resampling seed.

    Returns:
        {"delta": mean(b) - mean(a), "ci": (low, high) 95% interval of the delta,
         "p_value": two-sided, "n": number of problems}.
    """
    x, y = _as_scores(a, "a"), _as_scores(b, "b")
    if len(x) != len(y):
        raise ValueError(
            f"paired_bootstrap needs scores on the same problems: len(a)={len(x)} != len(b)={len(y)}"
        )
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    d = y - x
    means = _boot_means(d, n_boot, seed)
    low, high = np.quantile(means, [0.025, 0.975])
    le = (np.count_nonzero(means <= 0) + 1) / (n_boot + 1)
    ge = (np.count_nonzero(means >= 0) + 1) / (n_boot + 1)
    return {
        "delta": float(d.mean()),
        "ci": (float(low), float(high)),
        "p_value": float(min(1.0, 2 * min(le, ge))),
        "n": len(d),
    }


def majority_vote(answers: Sequence[str | None], correct: Sequence[bool | None]) -> bool:
    """Is the most frequent extracted answer correct? (maj@n, self-consistency.)

    Samples without an answer (None: truncated, nothing extracted) do not vote. Ties go to the
    answer seen first, so the result is deterministic. Answers are compared as strings: "1/2" and
    "0.5" are different votes, which can only understate maj@n. The winner counts as correct when
    any sample giving it was judged correct (a truncated sample with the same text is not).

    Args:
        answers: the extracted answer of each sample, None when there is none.
        correct: the verdict of each sample (True, False, or None for "could not judge").

    Returns:
        True when the majority answer is correct; False when no sample gave an answer.
    """
    if len(answers) != len(correct):
        raise ValueError(
            f"majority_vote needs one verdict per answer: {len(answers)} answers, {len(correct)} verdicts"
        )
    counts: dict[str, int] = {}
    for ans in answers:
        if ans is not None:
            counts[ans] = counts.get(ans, 0) + 1  # dicts keep first-seen order: ties go first
    if not counts:
        return False
    top = max(counts, key=lambda k: counts[k])  # max returns the first maximal key
    return any(ok is True for ans, ok in zip(answers, correct, strict=True) if ans == top)


def breakdown(
    groups: Sequence[dict[str, object]], scores: Sequence[float], keys: Sequence[str]
) -> dict[str, dict[str, dict[str, float]]]:
    """Mean score per value of each grouping key (MATH-500's subject and level).

    Args:
        groups: per problem, its grouping fields (e.g. {"subject": "Algebra", "level": 3}).
        scores: per problem, its score (pass@1), in the same order.
        keys: the fields to group by; a key no problem has is left out.

    Returns:
        {key: {value: {"problems": count, "pass@1": mean}}}, values sorted (numbers numerically).
    """
    if len(groups) != len(scores):
        raise ValueError(f"breakdown needs one score per problem: {len(groups)} vs {len(scores)}")
    out: dict[str, dict[str, dict[str, float]]] = {}
    for key in keys:
        sums: dict[object, list[float]] = {}
        for g, s in zip(groups, scores, strict=True):
            if key in g and g[key] is not None:
                sums.setdefault(g[key], []).append(s)
        if sums:
            order = sorted(
                sums,
                key=lambda v: (
                    not isinstance(v, int | float),
                    v if isinstance(v, int | float) else str(v),
                ),
            )
            out[key] = {
                str(v): {"problems": len(sums[v]), "pass@1": float(np.mean(sums[v]))} for v in order
            }
    return out
