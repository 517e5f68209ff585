"""rd-dpo on a tiny random model: training, the reference log-prob cache, a real 2x2 Hydra multirun
and its report, the truncation check, and input errors. TRL's DPOTrainer is the real one."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dpo.train import DPOStageConfig, load_pairs, run

ROOT = Path(__file__).resolve().parents[1]


def arithmetic_pairs(n: int = 8) -> list[dict]:
    rows = []
    for i in range(n):
        a, b = 3 + i, 11 + 2 * i
        prompt = [{"role": "user", "content": f"What is {a} + {b}? Put the answer in \\boxed{{}}."}]
        rows.append(
            {
                "problem_id": f"p{i}",
                "prompt": prompt,
                "chosen": f"{a} + {b} = {a + b}.\nThe answer is \\boxed{{{a + b}}}.",
                "rejected": f"{a} + {b} = {a + b + 1}.\nThe answer is \\boxed{{{a + b + 1}}}.",
                "chosen_id": f"p{i}:r0:i0",
                "rejected_id": f"p{i}:r0:i1",
                "meta": {},
            }
        )
    return rows


def write_pairs(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


TRAINER = {
    "max_steps": 3,
    "per_device_train_batch_size": 4,
    "per_device_eval_batch_size": 8,
    "learning_rate": 1e-3,
    "max_length": 96,
    "logging_steps": 1,
    "save_steps": 100,
    "report_to": "none",
    "precompute_ref_batch_size": 8,
}


def cfg_for(tmp_path, tiny_model, out: str, **trainer) -> DPOStageConfig:
    return DPOStageConfig(
        run_dir=str(tmp_path),
        data=str(tmp_path / "pairs.jsonl"),
        init_from=tiny_model,
        output_dir=str(tmp_path / out),
        trainer={**TRAINER, **trainer},
    )


def computed(tmp_path) -> list[dict]:
    f = tmp_path / "dpo_ref_cache" / "computed.jsonl"
    return [json.loads(x) for x in f.read_text().splitlines()] if f.exists() else []


def test_dpo_trains_and_reuses_cached_reference_logps(tmp_path, tiny_model):
    write_pairs(tmp_path / "pairs.jsonl", arithmetic_pairs())
    first = run(cfg_for(tmp_path, tiny_model, "a"))
    assert first["status"] == "done" and first["steps"] == 3
    assert (Path(first["final"]) / "config.json").exists()
    m = first["metrics"]
    for k in ("train_loss", "rewards/margins", "rewards/accuracies", "final/rewards/margins"):
        assert k in m, k
    # At step 1 the policy is the reference: margins start at 0; three steps at lr 1e-3 move them.
    assert first["history"][0]["rewards/margins"] == pytest.approx(0.0, abs=1e-4)
    assert m["final/rewards/margins"] > 0
    ev = first["reference"]["events"]
    assert [e["source"] for e in ev] == ["computed", "cache"]  # train computed, eval same content
    # Another beta: the same reference log-probs are loaded, not recomputed.
    second = run(cfg_for(tmp_path, tiny_model, "b", beta=0.5))
    assert [e["source"] for e in second["reference"]["events"]] == ["cache", "cache"]
    assert len(computed(tmp_path)) == 1
    # Another max_length changes what the reference sees: a new key, computed once more.
    third = run(cfg_for(tmp_path, tiny_model, "c", max_length=80))
    assert third["reference"]["events"][0]["source"] == "computed"
    assert len({e["key"] for e in computed(tmp_path)}) == 2
    # A finished folder is left alone.
    again = run(cfg_for(tmp_path, tiny_model, "a"))
    assert again["seconds"] == first["seconds"]


def test_trl_default_reference_path_still_works(tmp_path, tiny_model):
    write_pairs(tmp_path / "pairs.jsonl", arithmetic_pairs(4))
    s = run(cfg_for(tmp_path, tiny_model, "plain", precompute_ref_log_probs=False, max_steps=1))
    assert s["status"] == "done" and s["reference"]["events"] == []
    assert computed(tmp_path) == []


def test_multirun_grid_writes_four_points_one_reference_pass_and_a_report(tmp_path, tiny_model):
    write_pairs(tmp_path / "pairs.jsonl", arithmetic_pairs())
    trainer = [f"trainer.{k}={v}" for k, v in TRAINER.items() if k != "max_steps"]
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "dpo.train",
            "--multirun",
            f"run_dir={tmp_path}",
            f"data={tmp_path / 'pairs.jsonl'}",
            f"init_from={tiny_model}",
            "trainer.max_steps=2",
            *trainer,
            "trainer.beta=0.1,0.5",
            "trainer.learning_rate=1e-4,1e-3",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    sweep = tmp_path / "dpo_sweep"
    points = sorted(p for p in sweep.iterdir() if (p / "summary.json").exists())
    assert len(points) == 4
    grid = set()
    for p in points:
        s = json.loads((p / "summary.json").read_text())
        assert s["status"] == "done" and (p / "final" / "config.json").exists()
        grid.add(
            (float(s["overrides"]["trainer.beta"]), float(s["overrides"]["trainer.learning_rate"]))
        )
        assert len(p.name) < 130  # long override lists are shortened with a hash
    assert grid == {(0.1, 1e-4), (0.1, 1e-3), (0.5, 1e-4), (0.5, 1e-3)}
    # The reference pass ran once for the whole sweep; every other point loaded it.
    assert len(computed(tmp_path)) == 1
    sources = [
        e["source"]
        for p in points
        for e in json.loads((p / "summary.json").read_text())["reference"]["events"]
    ]
    assert sources.count("computed") == 1 and sources.count("cache") == 7
    rep = subprocess.run(
        [sys.executable, "-m", "dpo.sweep_report", f"run_dir={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rep.returncode == 0, rep.stderr[-2000:]
    for f in ("report.md", "report.csv", "heatmap.png"):
        assert (sweep / f).exists(), f
    csv_rows = (sweep / "report.csv").read_text().splitlines()
    assert len(csv_rows) == 5  # header + 4 points


def test_a_chosen_side_the_trainer_would_cut_is_an_error(tmp_path, tiny_model):
    rows = arithmetic_pairs(2)
    rows[1]["chosen"] = "long " * 200 + rows[1]["chosen"]
    write_pairs(tmp_path / "pairs.jsonl", rows)
    with pytest.raises(
        ValueError,
        match=r"1 of 2 chosen .* trainer.max_length=96.*pair pairs.jsonl:2 \(p1:r0:i0\|p1:r0:i1\)",
    ):
        run(cfg_for(tmp_path, tiny_model, "cut"))
    assert not (tmp_path / "cut" / "final").exists()


def test_bad_pairs_and_missing_inputs_name_file_line_and_fix(tmp_path, tiny_model):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(arithmetic_pairs(1)[0]) + "\n" + '{"prompt": "x", "chosen": 1}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: expected"):
        load_pairs(bad)
    cfg = DPOStageConfig(run_dir=str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="no pairs at .*run rd-pairs"):
        run(cfg)
    write_pairs(tmp_path / "empty" / "pairs" / "pairs.jsonl", arithmetic_pairs(1))
    with pytest.raises(ValueError, match="no SFT checkpoint .*run rd-sft"):
        run(cfg)
    cfg = cfg_for(tmp_path, tiny_model, "x", betta=0.1)
    write_pairs(tmp_path / "pairs.jsonl", arithmetic_pairs(1))
    with pytest.raises(ValueError, match="trl.DPOConfig, which rejected it.*betta"):
        run(cfg)


def test_a_point_can_evaluate_its_checkpoint_through_rd_eval(tmp_path, tiny_model):
    write_pairs(tmp_path / "pairs.jsonl", arithmetic_pairs(4))
    cfg = cfg_for(tmp_path, tiny_model, "evaluated", max_steps=1)
    cfg.evaluate = True
    cfg.eval = {
        "engine": {"name": "hf"},
        "benchmarks": {"heldout": {"count": 4, "generators": ["arithmetic"], "difficulty": [1]}},
        "sampling": {"n": 2, "max_tokens": 8},
        "ks": [1, 2],
        "n_boot": 200,
        "plot": False,
    }
    s = run(cfg)
    m = s["metrics"]
    assert 0.0 <= m["eval/heldout/pass@1"] <= 1.0 and "eval/heldout/truncation_rate" in m
    out = tmp_path / "evaluated" / "eval"
    assert (out / "dpo" / "heldout" / "samples.jsonl").exists() and (out / "table.json").exists()
    cfg.output_dir = str(tmp_path / "bad")
    cfg.eval = {"benchmark": {}}
    with pytest.raises(ValueError, match=r"eval\.\* must be rd-eval"):
        run(cfg)


def test_eval_settings_reach_rd_eval_as_the_values_given(tmp_path):
    """rd-dpo hands eval.* to rd-eval (a process of its own) as Hydra overrides: awkward strings
    (quotes, backslashes, spaces, number-like text) parse back to the same values, and rd-eval's
    own composition rejects a bad type before any training."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from dpo.train import eval_config

    cfg = DPOStageConfig()
    cfg.eval = {
        "prompt": {"system": "It's C:\\temp\\", "thinking": "off"},
        "sampling": {"n": 2, "extra": {"stop": ["a b", "1e-4", "null"], "min_p": 1e-05}},
        "ks": [1, 2],
        "greedy": True,
    }
    overrides = eval_config(cfg, tmp_path / "fi nal", tmp_path / "out")  # composes: no error
    parsed = {
        o.key_or_group: o.value() for o in OverridesParser.create().parse_overrides(overrides)
    }
    assert {k: parsed[k] for k in cfg.eval} == cfg.eval
    assert parsed["run_dir"] == str(tmp_path / "out") and "~checkpoints.base" in overrides
    assert parsed["checkpoints.dpo"] == str(tmp_path / "fi nal")
    cfg.eval = {"sampling": {"n": "four"}}
    with pytest.raises(ValueError, match=r"eval\.\* must be rd-eval(.|\n)*sampling\.n"):
        eval_config(cfg, tmp_path / "final", tmp_path / "out")


def test_loss_types_pass_through_to_trl(tmp_path, tiny_model):
    write_pairs(tmp_path / "pairs.jsonl", arithmetic_pairs(4))
    s = run(cfg_for(tmp_path, tiny_model, "ipo", loss_type=["ipo"], beta=0.5, max_steps=1))
    cfg = (tmp_path / "ipo" / "config.yaml").read_text()
    assert s["status"] == "done" and "- ipo" in cfg
    # IPO's loss at the first step (policy == reference) is (0 - 1/(2 beta))^2 = 1.0 for beta 0.5.
    assert s["history"][0]["loss"] == pytest.approx(1.0, abs=1e-3)


def test_two_ranks_share_one_reference_pass_and_the_cache(tmp_path, tiny_model):
    """torchrun, 2 CPU ranks (gloo): the ranks agree on the cache key (rank 0's), compute together
    on a miss with rank 0 writing, and both load on a hit."""
    import os

    write_pairs(tmp_path / "pairs.jsonl", arithmetic_pairs(8))
    trainer = [f"trainer.{k}={v}" for k, v in TRAINER.items() if k != "max_steps"]

    def launch(out: str, beta: float):
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            str(29300 + os.getpid() % 300),
            "-m",
            "dpo.train",
            f"run_dir={tmp_path}",
            f"data={tmp_path / 'pairs.jsonl'}",
            f"init_from={tiny_model}",
            f"output_dir={tmp_path / out}",
            "trainer.max_steps=1",
            *trainer,
            f"trainer.beta={beta}",
        ]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        errors = [line for line in r.stderr.splitlines() if "Error" in line or "error" in line]
        assert r.returncode == 0, "\n".join(errors[:20]) + r.stderr[-2000:]
        return json.loads((tmp_path / out / "summary.json").read_text())

    first = launch("r1", 0.1)
    assert [e["source"] for e in first["reference"]["events"]] == ["computed", "cache"]
    second = launch("r2", 0.3)
    assert [e["source"] for e in second["reference"]["events"]] == ["cache", "cache"]
    assert len(computed(tmp_path)) == 1


@pytest.mark.slow
def test_shipped_zero3_config_computes_once_and_trains(tmp_path, tiny_model):
    """accelerate launch with conf/accelerate/zero3.yaml (2 CPU ranks, DeepSpeed on gloo): the
    reference pass runs once under ZeRO-3, training runs after it (TRL's precompute engine is
    released first), and a second run loads the cache."""
    pytest.importorskip("deepspeed")
    import os

    write_pairs(tmp_path / "pairs.jsonl", arithmetic_pairs(8))
    env = {**os.environ, "DS_ACCELERATOR": "cpu", "TORCH_EXTENSIONS_DIR": str(tmp_path / "ext")}

    def launch(out: str, beta: float) -> dict:
        cmd = [
            sys.executable, "-m", "accelerate.commands.launch",
            "--config_file", str(ROOT / "conf" / "accelerate" / "zero3.yaml"),
            "--num_processes", "2", "--mixed_precision", "no",
            "--main_process_port", str(29500 + os.getpid() % 300),
            "-m", "dpo.train",
            f"run_dir={tmp_path}", f"data={tmp_path / 'pairs.jsonl'}", f"init_from={tiny_model}",
            f"output_dir={tmp_path / out}", "trainer.max_steps=1", "trainer.per_device_train_batch_size=2",
            "trainer.max_length=96", "trainer.save_steps=100", f"trainer.beta={beta}",
        ]  # fmt: skip
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
        errors = [line for line in r.stderr.splitlines() if "Error" in line]
        assert r.returncode == 0, "\n".join(errors[:20]) + r.stderr[-2000:]
        return json.loads((tmp_path / out / "summary.json").read_text())

    first = launch("z1", 0.1)
    assert first["distributed"] == {"type": "DEEPSPEED", "world_size": 2, "zero_stage": 3}
    assert [e["source"] for e in first["reference"]["events"]] == ["computed", "cache"]
    assert first["status"] == "done" and first["steps"] == 1
    second = launch("z2", 0.3)
    assert [e["source"] for e in second["reference"]["events"]] == ["cache", "cache"]
    assert len(computed(tmp_path)) == 1


def test_the_reference_cache_hook_is_what_runs(tmp_path, tiny_model, monkeypatch):
    """CachedRefDPOTrainer (dpo/ref_cache.py) overrides TRL's private
    DPOTrainer._precompute_ref_logps. Were it renamed or no longer called, TRL's own pass would run
    silently instead of the cache: this test, the import check and rd-dpo itself say so loudly."""
    import trl
    from trl import DPOTrainer

    from dpo import ref_cache
    from dpo.train import build_trainer

    pin = f'"trl>={ref_cache.TESTED_TRL},<'
    assert pin in (ROOT / "pyproject.toml").read_text(), f'pyproject must pin {pin}..."'
    for hook in ref_cache.HOOKS:
        assert callable(getattr(DPOTrainer, hook, None)), (
            f"trl {trl.__version__}: DPOTrainer.{hook} is gone; dpo/ref_cache.py overrides it "
            f"(written for trl {ref_cache.TESTED_TRL}, the version pyproject pins)"
        )

    # Spies around the real methods: the override, and TRL's per-batch reference forward pass.
    calls = {"hook": 0, "trl_batches": 0}
    hook, trl_pass = (
        ref_cache.CachedRefDPOTrainer._precompute_ref_logps,
        DPOTrainer.compute_ref_log_probs,
    )

    def spy_hook(self, *a, **k):
        calls["hook"] += 1
        return hook(self, *a, **k)

    def spy_trl(self, *a, **k):
        calls["trl_batches"] += 1
        return trl_pass(self, *a, **k)

    monkeypatch.setattr(ref_cache.CachedRefDPOTrainer, "_precompute_ref_logps", spy_hook)
    monkeypatch.setattr(DPOTrainer, "compute_ref_log_probs", spy_trl)
    rows = load_pairs(write_pairs(tmp_path / "pairs.jsonl", arithmetic_pairs(4)))
    cfg = cfg_for(tmp_path, tiny_model, "hook")

    cold = build_trainer(cfg, tiny_model, rows, tmp_path / "hook")
    assert calls["hook"] == 2 and calls["trl_batches"] >= 1  # train and eval; computed once
    assert [e["source"] for e in cold.ref_events] == ["computed", "cache"]
    calls.update(hook=0, trl_batches=0)
    warm = build_trainer(cfg, tiny_model, rows, tmp_path / "hook")
    assert calls == {"hook": 2, "trl_batches": 0}  # from the cache: TRL's pass did not run
    assert "ref_chosen_logps" in warm.train_dataset.column_names

    # A fault no real TRL 1.16 produces, injected: the hook bypassed, as after a TRL rename.
    monkeypatch.setattr(
        ref_cache.CachedRefDPOTrainer, "_precompute_ref_logps", DPOTrainer._precompute_ref_logps
    )
    with pytest.raises(RuntimeError, match="without calling CachedRefDPOTrainer.*trl>=1.16,<1.17"):
        build_trainer(cfg, tiny_model, rows, tmp_path / "hook")
