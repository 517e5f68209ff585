"""What a rollout store holds, as a table, a summary.json and a histogram of per-problem pass rates."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts per (source, kind, difficulty) and overall: pass rate, truncation, unjudged, tokens."""
    groups: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    per_problem: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in records:
        diff = (r.get("meta") or {}).get("difficulty", "-")
        for key in ("all", f"{r.get('source', '-')} / {r.get('kind', '-')} / d{diff}"):
            g = groups[key]
            g["rollouts"] += 1
            g["correct"] += r.get("correct") is True
            g["unjudged"] += r.get("correct") is None
            g["truncated"] += r.get("finish_reason") == "length"
            g["tokens"] += int(r.get("num_tokens") or 0)
        pp = per_problem[r["problem_id"]]
        pp[0] += r.get("correct") is True
        pp[1] += 1
    table = {}
    for key, g in groups.items():
        n = g["rollouts"]
        table[key] = {
            **g,
            "pass_rate": g["correct"] / n if n else 0.0,
            "truncation_rate": g["truncated"] / n if n else 0.0,
            "mean_tokens": g["tokens"] / n if n else 0.0,
        }
    rates = [c / t for c, t in per_problem.values() if t]
    return {
        "groups": table,
        "problems": len(per_problem),
        "problems_with_correct": sum(1 for c, _ in per_problem.values() if c),
        "per_problem_pass_rates": rates,
    }


def print_table(
    summary: dict[str, Any], seconds: float | None = None, tokens_per_s: float | None = None
) -> None:
    head = f"{'source / kind / difficulty':<38}{'rollouts':>9}{'pass':>8}{'trunc':>8}{'unjudged':>10}{'tokens':>10}"
    print(head)
    groups = summary["groups"]
    for key in sorted(groups, key=lambda k: (k == "all", k)):
        g = groups[key]
        print(
            f"{key:<38}{g['rollouts']:>9}{g['pass_rate']:>8.1%}{g['truncation_rate']:>8.1%}{g['unjudged']:>10}{g['tokens']:>10}"
        )
    line = f"problems: {summary['problems']} ({summary['problems_with_correct']} with a correct rollout)"
    if seconds is not None:
        line += f"; {seconds:.0f} s"
    if tokens_per_s is not None:
        line += f"; {tokens_per_s:.0f} generated tokens/s"
    print(line)


def plot_pass_rates(
    rates: list[float], path: Path, title: str = "per-problem pass rate"
) -> Path | None:
    """A histogram PNG: where the problems sit between never and always solved."""
    if not rates:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    ax.hist(rates, bins=[i / 10 for i in range(11)], color="#3b75af", edgecolor="white")
    ax.set_xlabel("fraction of a problem's rollouts judged correct")
    ax.set_ylabel("problems")
    ax.set_title(f"{title} ({len(rates)} problems)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
