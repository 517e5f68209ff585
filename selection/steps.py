"""Selection steps that curation and pair building both apply to the rollouts, and their record.

Each step takes records and returns (kept, {reason: dropped count}); `Steps` records every step's
input, kept and dropped-by-reason counts for the report (selection/report.py). Keeping the steps
here keeps the two stages' reports comparable and lets neither stage import the other.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any


def rollout_order(r: dict[str, Any]) -> tuple:
    """rollout_id order read numerically (":r0:i10" after ":r0:i2"): deterministic across runs."""
    return (r["problem_id"], r.get("round", 0), r.get("index", 0), r["rollout_id"])


def dedup_key(r: dict[str, Any]) -> str:
    return " ".join(r["prompt"].split()) + "\x00" + " ".join(r["completion"].split())


class Steps:
    """The record of one output's selection: every step's input, kept and dropped-by-reason counts."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, step: str, before: int, kept: list, dropped: dict[str, int]) -> list:
        self.rows.append(
            {
                "step": step,
                "in": before,
                "kept": len(kept),
                "dropped": {k: v for k, v in dropped.items() if v},
            }
        )
        return kept


def only_correct(records: list[dict]) -> tuple[list[dict], dict[str, int]]:
    kept = [r for r in records if r.get("correct") is True]
    return kept, {
        "wrong": sum(r.get("correct") is False for r in records),
        "unjudged": sum(r.get("correct") is None for r in records),
    }


def drop_exact_duplicates(records: list[dict]) -> tuple[list[dict], dict[str, int]]:
    seen: set[str] = set()
    kept = []
    for r in records:
        key = dedup_key(r)
        if key not in seen:
            seen.add(key)
            kept.append(r)
    return kept, {"exact duplicate": len(records) - len(kept)}


def cap_per_problem(records: list[dict], cap: int | None) -> tuple[list[dict], dict[str, int]]:
    if cap is None:
        return records, {}
    have: Counter[str] = Counter()
    kept = []
    for r in records:  # records arrive in rollout order, so the first ones stay
        if have[r["problem_id"]] < cap:
            have[r["problem_id"]] += 1
            kept.append(r)
    return kept, {"over per-problem cap": len(records) - len(kept)}


def pass_rates(records: list[dict]) -> dict[str, float | None]:
    """correct / judged per problem; unjudged rollouts are not counted as failures."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in records:
        c = counts[r["problem_id"]]
        if r.get("correct") is not None:
            c[1] += 1
            c[0] += r["correct"] is True
    return {pid: (c / j if j else None) for pid, (c, j) in counts.items()}
