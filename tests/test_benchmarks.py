"""The real benchmarks, offline: MATH-500 and AIME 2024 as released, shipped in rollout/data/benchmarks/.

problems=math500 / problems=aime24 read the hub by default and a local copy by problems.path, with the
hub's own columns and ids (no mapping by hand); rd-eval reports MATH-500 per subject and per level.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from evaluation.metrics import breakdown
from rollout.problems import load_problems
from verifiers import verify

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "rollout" / "data" / "benchmarks"
# the README's command, run as printed (tests/test_benchmarks.py::test_smollm2_on_50_math500...)
README_EVAL = (
    "rd-eval +problems@benchmarks.math500=math500 "
    "benchmarks.math500.path=rollout/data/benchmarks/math500.jsonl benchmarks.math500.limit=50 "
    "~benchmarks.heldout greedy=true ks=[1]"
)


def problems_cfg(name: str, *overrides: str):
    import rollout.generate  # noqa: F401  (registers the schema)

    with initialize_config_module(config_module="conf", version_base="1.3"):
        cfg = compose(config_name="rollout", overrides=[f"problems={name}", *overrides])
    return OmegaConf.to_object(cfg).problems


def test_shipped_copies_are_the_released_files():
    sha = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in DATA.glob("*.jsonl")}
    assert sha["math500.jsonl"].startswith("35dc41080a3680858b27fa7e0533d2d547825316")
    assert sha["aime24.jsonl"].startswith("af2b8bd2aa911b6333ad0df32f3ca05c7ae8ed10")
    notes = (DATA / "SOURCES.md").read_text()
    assert sha["math500.jsonl"] in notes and "MIT" in notes


def test_math500_local_copy_reads_with_the_hub_columns():
    cfg = problems_cfg("math500", "problems.path=rollout/data/benchmarks/math500.jsonl")
    assert cfg.source == "hub" and cfg.name == "HuggingFaceH4/MATH-500"  # the hub is the default
    probs = load_problems(cfg)
    assert len(probs) == 500 and probs[0]["problem_id"] == "test/precalculus/807.json"
    assert {p["source"] for p in probs} == {"MATH-500"}  # the same label as from the hub
    subjects = {p["meta"]["subject"] for p in probs}
    assert len(subjects) == 7 and "Intermediate Algebra" in subjects
    assert {p["meta"]["level"] for p in probs} == {1, 2, 3, 4, 5}
    assert probs[0]["answer"] == "\\left( 3, \\frac{\\pi}{2} \\right)"


def test_aime24_local_copy_and_its_golds():
    probs = load_problems(
        problems_cfg("aime24", "problems.path=rollout/data/benchmarks/aime24.jsonl")
    )
    assert len(probs) == 30 and len({p["problem_id"] for p in probs}) == 30
    assert "025" in {p["answer"] for p in probs}  # zero-padded as released
    for p in probs:  # every gold is an integer 0-999 the verifier accepts as a plain answer
        assert verify(f"The answer is \\boxed{{{int(p['answer'])}}}.", p["answer"]).correct is True


def test_a_missing_local_copy_names_the_key(tmp_path):
    cfg = problems_cfg("math500", f"problems.path={tmp_path / 'nope.jsonl'}")
    with pytest.raises(ValueError, match="problems.path=.*nope.jsonl: no such file"):
        load_problems(cfg)


def test_breakdown_per_subject_and_level():
    groups = [
        {"subject": "Algebra", "level": 1},
        {"subject": "Algebra", "level": 2},
        {"subject": "Geometry", "level": 10},
        {"level": 2},
    ]
    out = breakdown(groups, [1.0, 0.0, 0.5, 1.0], ("subject", "level", "topic"))
    assert out["subject"] == {
        "Algebra": {"problems": 2, "pass@1": 0.5},
        "Geometry": {"problems": 1, "pass@1": 0.5},
    }
    assert list(out["level"]) == ["1", "2", "10"]  # numeric order, not "1", "10", "2"
    assert out["level"]["2"] == {"problems": 2, "pass@1": 0.5} and "topic" not in out
    with pytest.raises(ValueError, match="one score per problem"):
        breakdown(groups, [1.0], ("level",))


def test_readme_prints_the_offline_math500_command():
    assert README_EVAL in (ROOT / "README.md").read_text()


@pytest.mark.slow
def test_smollm2_on_50_math500_problems_with_the_breakdown(smollm2_path, tmp_path):
    """The README's command as printed, in a fresh folder: real vLLM, real MATH-500, no hub."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    bin_dir = Path(sys.executable).parent
    r = subprocess.run(
        [str(bin_dir / README_EVAL.split()[0]), *README_EVAL.split()[1:]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert r.returncode == 0, r.stderr[-4000:]
    out = tmp_path / "runs" / "demo" / "eval"
    metrics = json.loads((out / "base" / "math500" / "metrics.json").read_text())
    rows = [json.loads(x) for x in (out / "base" / "math500" / "problems.jsonl").open()]
    first50 = [json.loads(x) for x in (DATA / "math500.jsonl").open()][:50]
    assert metrics["problems"] == 50 and [r["problem_id"] for r in rows] == [
        p["unique_id"] for p in first50
    ]
    by = metrics["breakdown"]
    assert set(by) == {"subject", "level"}
    for key in ("subject", "level"):
        counts = {str(v): sum(str(p[key]) == str(v) for p in first50) for v in by[key]}
        assert {v: g["problems"] for v, g in by[key].items()} == counts
        assert sum(counts.values()) == 50
        # the groups' pass@1, weighted by their sizes, is the benchmark's pass@1
        total = sum(g["pass@1"] * g["problems"] for g in by[key].values()) / 50
        assert total == pytest.approx(metrics["pass@1"])
    table = (out / "table.md").read_text()
    assert "## math500: pass@1 (%) by subject (problems)" in table
    assert "## math500: pass@1 (%) by level (problems)" in table
    print(table)
