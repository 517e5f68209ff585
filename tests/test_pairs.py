"""rd-pairs on hand-built rollout stores: which rollouts may pair, the strategies, the truncation check.

The stores hold problems built to hit one rule each: a problem with truncated wrong answers, one with
unjudged rollouts only on one side, one always solved, one never solved, a duplicate completion, a
chosen side too long for max_length, and a copy of a hand-written eval problem. The tokenizer is the
real SmolLM2 one with its chat template.
"""

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from dpo.pairs import PairsConfig, pair_problem, run, truncation_check
from rollout.store import ShardWriter
from verifiers.jsonl import load_jsonl

HANDWRITTEN = Path(__file__).resolve().parents[1] / "rollout" / "data" / "handwritten.jsonl"
CONTAM = json.loads(HANDWRITTEN.read_text().splitlines()[3])["prompt"]


def ro(pid, i, correct, text=None, finish="stop", difficulty=1, source="synthetic", prompt=None):
    text = text or f"We compute step {i} for {pid}.\nThe answer is \\boxed{{{i}}}."
    return {
        "problem_id": pid,
        "prompt": prompt or f"Problem {pid}: add the numbers {i % 3} and seven carefully.",
        "answer": "7",
        "kind": "math",
        "source": source,
        "meta": {"difficulty": difficulty},
        "rollout_id": f"{pid}:r0:i{i}",
        "model": "teacher",
        "completion": text,
        "finish_reason": finish,
        "num_tokens": len(text.split()),
        "round": 0,
        "index": i,
        "seed": i,
        "sampling": {"n": 4},
        "correct": correct,
        "verdict": {"verifier": "math", "extracted": str(i), "reason": ""},
    }


def store(tmp_path) -> Path:
    recs = []
    p = "Problem mixed: what is three plus four?"
    recs += [ro("mixed", i, i < 3, prompt=p) for i in range(6)]  # 3 correct, 3 wrong
    t = "Problem trunc: what is two plus five?"
    recs += [ro("trunc", 0, True, prompt=t), ro("trunc", 1, True, prompt=t)]
    recs += [ro("trunc", 2, False, "and so on " * 30 + "2", finish="length", prompt=t)]
    recs += [ro("trunc", 3, False, "and then " * 30 + "3", finish="length", prompt=t)]
    u = "Problem unjudged: what is one plus six?"
    recs += [ro("unjudged", 0, True, prompt=u), ro("unjudged", 1, None, prompt=u)]
    a = "Problem always: what is zero plus seven?"
    recs += [ro("always", i, True, prompt=a, difficulty=2) for i in range(3)]
    n = "Problem never: what is seven plus zero?"
    recs += [ro("never", i, False, prompt=n, difficulty=3) for i in range(3)]
    d = "Problem dup: what is four plus three?"
    same = "Four plus three.\nThe answer is \\boxed{7}."
    recs += [ro("dup", 0, True, same, prompt=d), ro("dup", 1, True, same, prompt=d)]
    recs += [ro("dup", 2, False, prompt=d)]
    lg = "Problem long: what is five plus two?"
    recs += [ro("long", 0, True, "five " * 600 + "\nThe answer is \\boxed{7}.", prompt=lg)]
    recs += [ro("long", 1, False, prompt=lg)]
    recs += [
        ro("contam", 0, True, prompt=CONTAM, source="handcopy"),
        ro("contam", 1, False, prompt=CONTAM),
    ]
    d = tmp_path / "rollout"
    ShardWriter(d, 0, 1).append(recs)
    return d


def cfg_for(tmp_path, **over) -> PairsConfig:
    # The Python default decontam: the hand-written set and the held-out one (offline both).
    return PairsConfig(run_dir=str(tmp_path), max_length=512, plot=True, **over)


def load(tmp_path) -> list[dict]:
    return load_jsonl(tmp_path / "pairs" / "pairs.jsonl")


def test_only_valid_pairs_are_built_and_the_report_says_where_rollouts_went(tmp_path):
    store(tmp_path)
    summary = run(cfg_for(tmp_path))
    pairs = load(tmp_path)
    assert summary["pairs"] == len(pairs) > 0
    by_problem = Counter(p["problem_id"] for p in pairs)
    # always/never solved, unjudged-only-wrong, contaminated and too-long-chosen problems: no pairs.
    assert set(by_problem) == {"mixed", "trunc", "dup"}
    assert by_problem["mixed"] == 4  # pairs_per_problem
    assert by_problem["trunc"] == 4  # 2 chosen x 2 truncated rejected
    assert by_problem["dup"] == 1  # the duplicate chosen counts once
    ids = {(p["chosen_id"], p["rejected_id"]) for p in pairs}
    assert len(ids) == len(pairs)
    for p in pairs:
        # the /think flag (SmolLM2 has no switch of its own) is added when rd-dpo renders the pair
        assert p["prompt"][-1]["role"] == "user" and p["switch"] == "think"
        assert p["chosen"].startswith("<think>\n") and "</think>" in p["chosen"]
        assert p["chosen_id"].split(":")[0] == p["problem_id"] == p["rejected_id"].split(":")[0]
        assert not p["chosen_id"].startswith(("trunc:r0:i2", "trunc:r0:i3"))  # never chosen
    # "mixed" has 3 chosen and 3 rejected: 4 pairs spread over all of them.
    mixed = [p for p in pairs if p["problem_id"] == "mixed"]
    assert len({p["chosen_id"] for p in mixed}) == 3 and len({p["rejected_id"] for p in mixed}) == 3
    report = json.loads((tmp_path / "pairs" / "report.json").read_text())
    steps = {s["step"]: s for s in report["steps"]}
    assert steps["judged"]["dropped"] == {"unjudged": 1}
    assert steps["decontaminate"]["dropped"] == {"contaminated": 2}
    # "unjudged" is one correct + one unjudged: judged-only pass rate 1, so always solved too.
    assert steps["pass-rate window"]["dropped"] == {"always solved": 4, "never solved": 3}
    assert steps["exact dedup"]["dropped"] == {"exact duplicate": 1}
    assert steps["chosen fits max_length"]["dropped"] == {"chosen longer than max_length=512": 1}
    assert report["truncation_check"]["chosen_cut"] == 0
    assert report["truncation_check"]["longest_prompt_plus_chosen"] <= 512
    assert report["lengths"]["rejected_truncated"] == 4
    assert report["by_source"] == {"synthetic": len(pairs)}
    md = (tmp_path / "pairs" / "report.md").read_text()
    assert "Truncation check" in md and "lengths.png" in md
    png = (tmp_path / "pairs" / "lengths.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_options_truncated_rejected_window_cap_and_rerun(tmp_path):
    store(tmp_path)
    run(cfg_for(tmp_path, truncated_rejected=False, pairs_per_problem=2, format="raw"))
    pairs = load(tmp_path)
    assert "trunc" not in {p["problem_id"] for p in pairs}  # its only wrong answers were truncated
    assert all(not p["meta"]["rejected_truncated"] for p in pairs)
    assert all(not p["chosen"].startswith("<think>") for p in pairs)  # raw
    assert all(p["switch"] is None for p in pairs)
    # A re-run with the same config and store does nothing; a new config rebuilds.
    again = run(cfg_for(tmp_path, truncated_rejected=False, pairs_per_problem=2, format="raw"))
    assert again["up_to_date"] is True
    run(cfg_for(tmp_path, max_pairs=3, min_pass_rate=0.4, max_pass_rate=0.6))
    pairs = load(tmp_path)
    assert len(pairs) == 3 and {p["problem_id"] for p in pairs} == {"mixed"}  # rate 0.5 only


def test_strategies_length_matched_and_hardest_first():
    import random

    chosen = [{"_tokens": t, "id": f"c{t}"} for t in (10, 50, 100)]
    rejected = [{"_tokens": t, "id": f"r{t}"} for t in (12, 95, 400)]
    got = pair_problem(chosen, rejected, 2, "length_matched", random.Random(0))
    assert [(c["id"], r["id"]) for c, r in got] == [("c100", "r95"), ("c10", "r12")]
    spread = pair_problem(chosen, rejected, 3, "random", random.Random(0))
    assert len({c["id"] for c, _ in spread}) == 3 and len({r["id"] for _, r in spread}) == 3
    from dpo.pairs import problem_order

    order = problem_order(["a", "b", "c"], {"a": 0.9, "b": 0.2, "c": 0.5}, "hardest_first", 0)
    assert order == ["b", "c", "a"]


def test_truncation_check_is_an_error_naming_the_key_and_the_fix():
    ok = truncation_check([("p1", 100), ("p2", 512)], 512, "trainer.max_length")
    assert ok["chosen_cut"] == 0 and ok["longest_prompt_plus_chosen"] == 512
    with pytest.raises(ValueError, match=r"1 of 2 chosen.*trainer.max_length=512.*513 tokens.*p2"):
        truncation_check([("p1", 100), ("p2", 513)], 512, "trainer.max_length")


def test_bad_config_and_missing_store_name_the_fix(tmp_path):
    with pytest.raises(ValueError, match="strategy must be one of"):
        run(cfg_for(tmp_path, strategy="best"))
    with pytest.raises(ValueError, match="no rollout store at .*run rd-rollout"):
        run(cfg_for(tmp_path))
    with initialize_config_module(config_module="conf", version_base="1.3"):
        cfg = compose(config_name="pairs", overrides=["strategy=length_matched"])
        assert cfg.strategy == "length_matched" and cfg.max_length == 1024
        with pytest.raises(Exception, match="pair_per_problem"):
            compose(config_name="pairs", overrides=["pair_per_problem=3"])
    r = subprocess.run(
        [sys.executable, "-m", "dpo.pairs", f"run_dir={tmp_path}/nothing"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "rd-pairs: error: no rollout store" in r.stderr


def test_a_problem_of_the_named_heldout_set_is_removed(tmp_path):
    """problems@decontam.heldout picks the held-out set by name; its problems never pair."""
    from rollout.problems import load_problems, problems_preset
    from selection.decontam import set_name

    arith = problems_preset("heldout_arith")
    held = load_problems(arith)[40]  # beyond the first 12 smoke evaluates: the whole set counts
    recs = [ro("held", i, i < 2, prompt=held["prompt"]) for i in range(4)]
    recs += [
        ro("mixed", i, i < 2, prompt="Problem mixed: what is three plus four?") for i in range(4)
    ]
    ShardWriter(tmp_path / "rollout", 0, 1).append(recs)
    with initialize_config_module(config_module="conf", version_base="1.3"):
        cfg = compose(
            config_name="pairs",
            overrides=[
                f"run_dir={tmp_path}",
                "problems@decontam.heldout=heldout_arith",
                "decontam.sets=[]",
                "decontam.benchmarks=[]",
                "plot=false",
            ],
        )
    run(OmegaConf.to_object(cfg))
    assert {p["problem_id"] for p in load(tmp_path)} == {"mixed"}
    dec = json.loads((tmp_path / "pairs" / "report.json").read_text())["decontamination"]
    assert dec["eval_sets"] == [{"set": set_name(arith), "problems": 64}]
    (removed,) = dec["removed"]
    assert removed["problem_id"] == "held" and removed["eval_problem_id"] == held["problem_id"]
