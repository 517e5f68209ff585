"""rd-eval on CPU in seconds: outputs, resume, a two-checkpoint comparison, config errors, Hydra.

The engine is the real `hf` engine on the tiny random model (real tokenizer and chat template), so a
random model scores ~0 and the tests check structure and bookkeeping, not accuracy.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from evaluation.evaluate import EvalConfig, compare, make_table, run, table_markdown
from rollout.problems import ProblemsConfig

ROOT = Path(__file__).resolve().parents[1]


def cfg_for(run_dir, checkpoints, **over) -> EvalConfig:
    cfg = EvalConfig(run_dir=str(run_dir), checkpoints=dict(checkpoints), plot=False, n_boot=200)
    cfg.engine.name = "hf"
    cfg.benchmarks = {
        "tiny": ProblemsConfig(source="synthetic", generators=["arithmetic"], count=4, seed=1000)
    }
    cfg.sampling.n, cfg.sampling.max_tokens, cfg.chunk_size, cfg.ks = 2, 8, 3, [1, 2]
    for k, v in over.items():
        obj = cfg
        *path, last = k.split(".")
        for part in path:
            obj = getattr(obj, part)
        setattr(obj, last, v)
    return cfg


class Counting:
    """An engine wrapper that counts what it is asked to generate."""

    def __init__(self, engine):
        self.engine, self.tokenizer = engine, engine.tokenizer
        self.calls = self.prompts = 0

    def generate(self, prompts, n, seeds, sampling):
        self.calls += 1
        self.prompts += len(prompts)
        return self.engine.generate(prompts, n, seeds, sampling)

    def close(self):
        pass


@pytest.fixture(scope="module")
def hf_engine(tiny_model):
    from rollout.engines import HFEngine

    return HFEngine(tiny_model)


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


# ----------------------------------------------------------------------------- outputs and resume


def test_outputs_have_the_documented_structure(tiny_model, hf_engine, tmp_path, capsys):
    cfg = cfg_for(tmp_path, {"base": tiny_model}, plot=True, ks=[1, 2, 4])
    table = run(cfg, engine=Counting(hf_engine))
    d = tmp_path / "eval" / "base" / "tiny"
    samples = read_jsonl(d / "samples.jsonl")
    assert len(samples) == 4 * 2
    assert set(samples[0]) >= {
        "problem_id",
        "index",
        "seed",
        "completion",
        "finish_reason",
        "num_tokens",
        "correct",
        "extracted",
        "verdict",
    }
    assert {s["index"] for s in samples} == {0, 1}
    # A random model writes 8 tokens without an EOS: truncated, so never correct.
    assert all(s["finish_reason"] == "length" and s["correct"] is False for s in samples)
    problems = read_jsonl(d / "problems.jsonl")
    assert [p["n"] for p in problems] == [2] * 4
    assert set(problems[0]) == {
        "problem_id",
        "n",
        "correct",
        "unjudged",
        "pass@1",
        "majority_correct",
        "truncated",
        "mean_tokens",
    }
    m = json.loads((d / "metrics.json").read_text())
    assert m["problems"] == 4 and m["samples"] == 8 and m["n"] == 2
    assert m["pass@1"] == 0.0 and m["pass@1_ci"] == [0.0, 0.0] and m["maj@n"] == 0.0
    assert set(m["pass@k"]) == {"pass@1", "pass@2"}  # pass@4 > 2 samples: skipped, with a note
    assert m["truncation_rate"] == 1.0 and m["mean_tokens"] == 8.0
    assert m["generated_tokens"] == 64 and m["seconds"] >= 0 and len(m["fingerprint"]) == 16
    assert m["protocol"]["sampling"]["n"] == 2 and m["protocol"]["seed"] == 0
    assert "pass@4 skipped" in capsys.readouterr().err
    out = tmp_path / "eval"
    for name in ("table.md", "table.json", "summary.json", "config.yaml", "accuracy.png"):
        assert (out / name).exists(), name
    assert json.loads((out / "table.json").read_text()) == json.loads(json.dumps(table))
    compared = json.loads((out / "comparison.json").read_text())
    assert compared == {"n_boot": 200, "seed": 0, "stages": [], "overall": []}  # one row
    assert table["rows"][0]["cells"]["tiny"]["p_value"] is None  # the first row has nothing above
    assert any("pass@4" in n for n in table["notes"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["evaluated"] == [["base", "tiny"]] and summary["reused"] == []
    assert (out / "accuracy.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(out.rglob(".*.tmp-*"))  # every write was atomic


def test_a_finished_run_generates_nothing_and_a_protocol_change_redoes_it(
    tiny_model, hf_engine, tmp_path
):
    first = Counting(hf_engine)
    run(cfg_for(tmp_path, {"base": tiny_model}), engine=first)
    assert first.prompts == 4 and first.calls == 2  # chunk_size 3: two engine calls
    samples = (tmp_path / "eval" / "base" / "tiny" / "samples.jsonl").read_text()

    again = Counting(hf_engine)
    run(cfg_for(tmp_path, {"base": tiny_model}, ks=[1], n_boot=300), engine=again)
    assert again.calls == 0  # statistics are recomputed from problems.jsonl, nothing generated
    m = json.loads((tmp_path / "eval" / "base" / "tiny" / "metrics.json").read_text())
    assert set(m["pass@k"]) == {"pass@1"}
    assert (tmp_path / "eval" / "base" / "tiny" / "samples.jsonl").read_text() == samples
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert summary["evaluated"] == [] and summary["reused"] == [["base", "tiny"]]

    # An eval folder without comparison.json (made before rd-eval wrote it) gets one from the
    # per-problem rows, nothing generated.
    (tmp_path / "eval" / "comparison.json").unlink()
    older = Counting(hf_engine)
    run(cfg_for(tmp_path, {"base": tiny_model}, ks=[1], n_boot=300), engine=older)
    assert older.calls == 0 and (tmp_path / "eval" / "comparison.json").exists()

    changed = Counting(hf_engine)
    run(cfg_for(tmp_path, {"base": tiny_model}, **{"sampling.max_tokens": 6}), engine=changed)
    assert changed.prompts == 4
    m = json.loads((tmp_path / "eval" / "base" / "tiny" / "metrics.json").read_text())
    assert m["mean_tokens"] == 6.0


def test_an_interrupted_benchmark_is_redone_and_a_finished_one_kept(
    tiny_model, hf_engine, tmp_path
):
    cfg = cfg_for(tmp_path, {"base": tiny_model})
    cfg.benchmarks["other"] = ProblemsConfig(source="builtin", limit=2)
    run(cfg, engine=Counting(hf_engine))
    # A crash before metrics.json (the last write) leaves a benchmark unfinished.
    (tmp_path / "eval" / "base" / "other" / "metrics.json").unlink()
    again = Counting(hf_engine)
    run(cfg, engine=again)
    assert again.prompts == 2  # only the builtin benchmark's 2 problems


def test_two_checkpoints_give_a_paired_two_row_table(tiny_model, tmp_path, monkeypatch):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import rollout.engines

    # A second "stage": the tiny model with other random weights.
    other = tmp_path / "stage2"
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    torch.manual_seed(1)
    for p in model.parameters():
        p.data.normal_(0, 0.02)
    model.save_pretrained(other)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(other)

    made, closed = [], []
    real = rollout.engines.make_engine

    def spy(name, path, kwargs):
        engine = real(name, path, kwargs)
        made.append(path)
        engine.close = lambda: closed.append(path)
        return engine

    monkeypatch.setattr(rollout.engines, "make_engine", spy)
    out = tmp_path / "run"
    table = run(cfg_for(out, {"base": tiny_model, "stage2": str(other)}, plot=True))
    assert made == [tiny_model, str(other)] and closed == made  # one engine each, closed in turn
    assert [r["checkpoint"] for r in table["rows"]] == ["base", "stage2"]
    cell = table["rows"][1]["cells"]["tiny"]
    assert cell["vs"] == "base" and cell["delta"] == 0.0 and cell["p_value"] == 1.0
    assert cell["delta_ci"] == [0.0, 0.0] and set(cell) >= {
        "maj@n",
        "truncation_rate",
        "mean_tokens",
    }
    md = (out / "eval" / "table.md").read_text()
    assert "| stage2 | 0.0 [0.0, 0.0] +0.0 p=1.000 |" in md and "tiny maj@2" in md
    compared = json.loads((out / "eval" / "comparison.json").read_text())
    assert (
        compared["stages"]
        == compared["overall"]
        == [
            {
                "checkpoint": "stage2",
                "vs": "base",
                "benchmark": "tiny",
                "problems": 4,
                "delta": 0.0,
                "delta_ci": [0.0, 0.0],
                "p_value": 1.0,
            }
        ]
    )
    # The same per-problem seeds for every checkpoint: that is what makes the comparison paired.
    seeds = [
        [
            (s["problem_id"], s["seed"])
            for s in read_jsonl(out / "eval" / ck / "tiny" / "samples.jsonl")
        ]
        for ck in ("base", "stage2")
    ]
    assert seeds[0] == seeds[1]
    texts = [
        [s["completion"] for s in read_jsonl(out / "eval" / ck / "tiny" / "samples.jsonl")]
        for ck in ("base", "stage2")
    ]
    assert texts[0] != texts[1]  # really two models


def test_the_table_marks_significant_gains():
    cfg = EvalConfig(checkpoints={"base": "a", "sft": "b"}, n_boot=10000)
    cfg.benchmarks = {"b1": ProblemsConfig(source="synthetic")}
    ids = [f"p{i}" for i in range(100)]
    scores = {
        ("base", "b1"): {p: 0.0 for p in ids},
        ("sft", "b1"): {p: float(i % 2) for i, p in enumerate(ids)},
    }
    cells = {
        key: {
            "pass@1": sum(s.values()) / 100,
            "pass@1_ci": [0.0, 0.0],
            "pass@k": {},
            "maj@n": 0.0,
            "n": 4,
            "truncation_rate": 0.25,
            "mean_tokens": 100.0,
            "problems": 100,
        }
        for key, s in scores.items()
    }
    compared = compare(cfg, scores)
    table = make_table(cfg, cells, compared)
    cell = table["rows"][1]["cells"]["b1"]
    assert cell["delta"] == pytest.approx(0.5) and cell["p_value"] < 0.01
    assert compared["stages"] == compared["overall"]  # two rows: the one comparison is both
    assert {k: cell[k] for k in ("vs", "delta", "delta_ci", "p_value")} == {
        k: compared["stages"][0][k] for k in ("vs", "delta", "delta_ci", "p_value")
    }
    md = table_markdown(table)
    assert "| sft | 50.0 [0.0, 0.0] +50.0 p<0.001* |" in md
    assert "| base | 0.0 | 25.0 | 100 |" in md


def test_the_comparison_pairs_each_row_with_the_one_above_and_the_last_with_the_first():
    from evaluation.metrics import paired_bootstrap

    cfg = EvalConfig(checkpoints={"base": "a", "sft": "b", "dpo": "c"}, n_boot=2000, seed=3)
    cfg.benchmarks = {"b1": ProblemsConfig(source="synthetic"), "b2": ProblemsConfig()}
    ids = [f"p{i}" for i in range(40)]
    rates = {"base": 0.2, "sft": 0.5, "dpo": 0.4}
    scores = {
        (ck, b): {p: float((i * 7 + j) % 10 < 10 * r) for i, p in enumerate(ids)}
        for ck, r in rates.items()
        for j, b in enumerate(cfg.benchmarks)
    }
    compared = compare(cfg, scores)
    assert [(c["checkpoint"], c["vs"], c["benchmark"]) for c in compared["stages"]] == [
        ("sft", "base", "b1"),
        ("sft", "base", "b2"),
        ("dpo", "sft", "b1"),
        ("dpo", "sft", "b2"),
    ]
    assert [(c["checkpoint"], c["vs"]) for c in compared["overall"]] == [("dpo", "base")] * 2
    last_vs_first = compared["overall"][0]
    expect = paired_bootstrap(
        [scores["base", "b1"][p] for p in ids],
        [scores["dpo", "b1"][p] for p in ids],
        n_boot=2000,
        seed=3,
    )
    assert last_vs_first["delta"] == pytest.approx(0.2) == expect["delta"]
    assert last_vs_first["delta_ci"] == list(expect["ci"])
    assert last_vs_first["p_value"] == expect["p_value"] and last_vs_first["problems"] == 40


def test_greedy_takes_one_sample_and_skips_larger_k(tiny_model, hf_engine, tmp_path, capsys):
    table = run(cfg_for(tmp_path, {"base": tiny_model}, greedy=True), engine=Counting(hf_engine))
    m = json.loads((tmp_path / "eval" / "base" / "tiny" / "metrics.json").read_text())
    assert m["n"] == 1 and m["samples"] == 4 and m["protocol"]["sampling"]["temperature"] == 0.0
    assert "pass@2" not in table["rows"][0]["cells"]["tiny"]
    assert "pass@2 skipped" in capsys.readouterr().err


# ----------------------------------------------------------------------------- config errors


def test_config_errors_name_the_key_and_the_fix_all_at_once(tiny_model, tmp_path):
    not_a_model = tmp_path / "empty"
    not_a_model.mkdir()
    cfg = cfg_for(
        tmp_path,
        {"base": tiny_model, "sft": str(tmp_path / "sft" / "final"), "odd": str(not_a_model)},
        ks=[0, 2],
        **{"sampling.n": 0},
    )
    with pytest.raises(ValueError) as e:
        run(cfg)
    msg = str(e.value)
    assert f"checkpoints.sft={tmp_path}/sft/final: no such model folder" in msg
    assert "~checkpoints.sft" in msg and "run_dir/<stage>/final" in msg
    assert "checkpoints.odd" in msg and "no config.json" in msg
    assert "sampling.n must be >= 1, got 0" in msg and "ks must be" in msg
    assert "checkpoints.base" not in msg
    assert not (tmp_path / "eval").exists()  # nothing written before the config is checked


def test_recipes_and_hub_names_pass_the_checkpoint_check():
    from evaluation.evaluate import checkpoint_error

    assert checkpoint_error("base", "smollm2_135m") is None
    assert checkpoint_error("base", "microsoft/Phi-4-mini-instruct") is None
    assert "no such model folder" in checkpoint_error("base", "smollm2_135x")
    assert "no such model folder" in checkpoint_error("sft", "runs/demo/sft/final")


def test_cli_reports_config_errors_with_exit_code_2(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "evaluation.evaluate",
            f"checkpoints.base={tmp_path}/nope",
            "plot=false",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert r.returncode == 2, r.stderr
    assert "rd-eval: error: invalid rd-eval config" in r.stderr
    assert f"checkpoints.base={tmp_path}/nope: no such model folder" in r.stderr


# ----------------------------------------------------------------------------- Hydra


def test_eval_yaml_composes_into_a_typed_config():
    with initialize_config_module(config_module="conf", version_base="1.3"):
        cfg = compose(
            config_name="eval",
            overrides=[
                "++checkpoints={sft: runs/demo/sft/final}",
                "+problems@benchmarks.math500=math500",
                "benchmarks.math500.limit=100",
                "benchmarks.heldout.limit=50",
            ],
        )
    typed = OmegaConf.to_object(cfg)
    assert isinstance(typed, EvalConfig)
    assert (
        list(typed.checkpoints) == ["base", "sft"] and typed.checkpoints["base"] == "smollm2_135m"
    )
    assert typed.benchmarks["math500"].name == "HuggingFaceH4/MATH-500"
    assert typed.benchmarks["math500"].limit == 100 and typed.benchmarks["heldout"].limit == 50
    assert typed.sampling.n == 4 and typed.sampling.top_p == 0.95 and typed.ks == [1, 4]
    assert typed.prompt.example is False and typed.engine.name == "vllm"


def test_the_heldout_benchmark_is_the_set_named_in_conf_problems():
    """conf/eval.yaml takes the held-out set by name (conf/problems/heldout.yaml); the dataclass
    does not restate it, a smaller set is picked by name, and the set can be dropped."""
    with initialize_config_module(config_module="conf", version_base="1.3"):
        typed = OmegaConf.to_object(compose(config_name="eval"))
        smaller = OmegaConf.to_object(
            compose(
                config_name="eval",
                overrides=[
                    "problems@benchmarks.heldout=heldout_arith",
                    "benchmarks.heldout.limit=12",
                ],
            )
        )
        dropped = OmegaConf.to_object(
            compose(
                config_name="eval",
                overrides=["~benchmarks.heldout", "+problems@benchmarks.aime24=aime24"],
            )
        )

    def named(name):
        return yaml.safe_load((ROOT / "conf" / "problems" / f"{name}.yaml").read_text())

    assert typed.benchmarks == {"heldout": ProblemsConfig(**named("heldout"))}
    assert typed.benchmarks["heldout"].count == 200 and typed.benchmarks["heldout"].limit is None
    assert smaller.benchmarks == {"heldout": ProblemsConfig(**named("heldout_arith"), limit=12)}
    assert list(dropped.benchmarks) == ["aime24"]
    assert EvalConfig().benchmarks == typed.benchmarks  # the Python default names the same file


@pytest.mark.parametrize(
    "override",
    ["sampling.nn=3", "benchmarkz.x=1", "++benchmarks.x={source: file, pth: a.jsonl}", "kz=[1]"],
)
def test_unknown_keys_are_rejected_with_their_name(override):
    from hydra.errors import ConfigCompositionException

    with (
        initialize_config_module(config_module="conf", version_base="1.3"),
        pytest.raises(ConfigCompositionException, match=override.split("=")[0].lstrip("+")),
    ):
        compose(config_name="eval", overrides=[override])
