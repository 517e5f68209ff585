"""Every MATH-500 and AIME 2024 gold, as published, judged against itself and against near misses.

The golds are data nobody on the team wrote (rollout/data/benchmarks/, see SOURCES.md there). A gold
must be right as a bare answer, boxed, after a think block, in the Minerva form and after
"Answer:"; a perturbation that changes its value (a number off by one, a sign flip, a swapped tuple,
a flipped interval end, a dropped set element) must be wrong. 100% is the bar: these are the
answers the evaluation stage compares against.
"""

import json
import sys
from pathlib import Path

import pytest

from verifiers import verify_batch

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "rollout" / "data" / "benchmarks"
sys.path.insert(0, str(ROOT / "bench"))
from bench_verify import PERTURB  # noqa: E402  (one set of perturbations for the test and the benchmark)


def _golds() -> list[tuple[str, str]]:
    out = []
    for line in (DATA / "math500.jsonl").read_text().splitlines():
        row = json.loads(line)
        out.append((row["unique_id"], row["answer"]))
    for line in (DATA / "aime24.jsonl").read_text().splitlines():
        row = json.loads(line)
        out.append((f"aime24/{row['id']}", str(row["answer"])))
    return out


GOLDS = _golds()
FORMS = {
    "bare": lambda g: g,
    "boxed": lambda g: f"Adding these up, the result is $\\boxed{{{g}}}$.",
    "think": lambda g: f"<think>\nLet me work it out; I get {g}.\n</think>\n\n$\\boxed{{{g}}}$",
    "minerva": lambda g: f"Final Answer: The final answer is ${g}$. I hope it is correct.",
    "answer": lambda g: f"Answer: {g}",
}


@pytest.fixture(scope="module")
def verdicts():
    items, keys = [], []
    for uid, gold in GOLDS:
        for form, render in FORMS.items():
            items.append({"completion": render(gold), "answer": gold, "kind": "math"})
            keys.append((uid, form, gold, True))
        for name, perturb in PERTURB.items():
            wrong = perturb(gold)
            if wrong is not None:
                items.append({"completion": f"Answer: {wrong}", "answer": gold, "kind": "math"})
                keys.append((uid, name, wrong, False))
    return list(zip(keys, verify_batch(items, workers=2), strict=True))


def test_the_shipped_golds_are_all_there():
    assert len(GOLDS) == 530


@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_gold_is_right_against_itself(verdicts, form):
    misses = [(k, v) for k, v in verdicts if k[1] == form and v.correct is not True]
    assert not misses, f"{len(misses)} golds not judged right as {form}: {misses[:5]}"


@pytest.mark.parametrize("name", sorted(PERTURB))
def test_every_perturbation_is_wrong(verdicts, name):
    judged = [(k, v) for k, v in verdicts if k[1] == name]
    assert len(judged) >= 4, f"too few golds perturbed by {name}: {len(judged)}"
    misses = [(k, v) for k, v in judged if v.correct is not False]
    assert not misses, (
        f"{len(misses)} of {len(judged)} {name} perturbations not judged wrong: {misses[:5]}"
    )
