"""rd-pipeline: the plan of the full-scale recipe (composed and validated, nothing run), config
errors, per-stage overrides added to the recipe's, and (slow) the reduced pipeline end to end on
SmolLM2, then a resume after losing a stage, then an SFT setting changed through the pipeline (the
README's commands, run as printed)."""

import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]


def rd_pipeline(*args, timeout=1500, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "pipeline.run", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


def readme_command(start: str, cwd: Path, timeout=1500):
    """Runs the README's command line that starts with `start`, exactly as printed there."""
    lines = [ln for ln in (ROOT / "README.md").read_text().splitlines() if ln.startswith(start)]
    assert len(lines) == 1, (start, lines)
    argv = shlex.split(lines[0], comments=True)
    assert argv[0] == "rd-pipeline"
    return rd_pipeline(*argv[1:], timeout=timeout, cwd=cwd)


def test_stage_overrides_add_to_the_recipe_and_a_later_key_wins(tmp_path):
    from pipeline.run import merge_overrides

    base = ["++trainer.num_train_epochs=2", "++trainer.learning_rate=3e-5", "pack.seq_len=512"]
    got = merge_overrides(base, ["trainer.num_train_epochs=5", "pack.seq_len=256", "seed=1"])
    assert got == [
        "++trainer.learning_rate=3e-5",
        "++trainer.num_train_epochs=5",  # the recipe's had to add the key: still added
        "pack.seq_len=256",
        "seed=1",
    ]
    # The README's example, as printed: the SFT command keeps the default recipe's settings.
    r = readme_command("rd-pipeline run_dir=runs/p2 'overrides.sft=", tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    sft = next(ln for ln in r.stdout.splitlines() if "-m distill.sft" in ln)
    for kept in ("++trainer.per_device_train_batch_size=4", "++trainer.learning_rate=3e-5"):
        assert kept in sft, sft
    assert sft.endswith("++trainer.num_train_epochs=5") and "num_train_epochs=2" not in sft
    assert not (tmp_path / "runs").exists()  # dry run: nothing written


def test_full_scale_recipe_composes_and_prints_its_plan_without_running(tmp_path):
    run_dir = tmp_path / "phi4"
    r = rd_pipeline("experiment=phi4_mini_reasoning", "dry_run=true", f"run_dir={run_dir}")
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout
    for stage in ("rollout", "curate", "pretrain", "sft", "pairs", "dpo", "eval", "report"):
        assert f". {stage}\n" in out, stage
    assert "accelerate launch --config_file conf/accelerate/zero3.yaml -m distill.pretrain" in out
    assert "model=phi4_mini" in out and "problems=numina" in out
    assert "+problems@benchmarks.aime24=aime24" in out and "gpqa_diamond" in out
    assert "6e+10 tokens" in out and "device-hours" in out and "expected total" in out
    assert not run_dir.exists()  # a plan writes nothing


def test_plan_budgets_are_read_from_the_configs_the_run_uses(tmp_path):
    """The budgets name the stage settings; an override changes the plan as it changes the run."""
    from pipeline.run import fill_budget

    args = ["experiment=phi4_mini_reasoning", "dry_run=true", f"run_dir={tmp_path / 'p'}"]
    r = rd_pipeline(*args)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "x 8 samples, up to 24 per problem, <= 32768 tokens each" in r.stdout
    assert "<= 300000 pairs of <= 16384 tokens" in r.stdout and "x 2 epochs" in r.stdout
    r = rd_pipeline(
        *args, "overrides.rollout=['sampling.n=3']", "overrides.pairs=['max_pairs=500']"
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "x 3 samples, up to 24 per problem" in r.stdout and "<= 500 pairs" in r.stdout
    with pytest.raises(ValueError, match=r"plan\.sft\.budget .*KeyError.*sampling"):
        fill_budget("sft", "{sampling.n} samples", type("Cfg", (), {})())


def test_every_stage_override_is_checked_against_the_stage_config(tmp_path):
    r = rd_pipeline("dry_run=true", f"run_dir={tmp_path}", "overrides.sft=['trainer.max_stepz=3']")
    assert r.returncode == 2
    assert "overrides.sft do not compose with conf/sft.yaml" in r.stderr
    r = rd_pipeline("dry_run=true", "stages=[rollout,distill]")
    assert r.returncode == 2 and "stages: unknown ['distill']" in r.stderr
    r = rd_pipeline("card.push_to_hub=true")
    assert r.returncode == 2 and "card.hub_repo" in r.stderr


def test_default_and_smoke_configs_compose():
    import pipeline.run  # noqa: F401

    with initialize_config_module(config_module="conf", version_base="1.3"):
        default = compose(config_name="pipeline")
        smoke = compose(config_name="pipeline", overrides=["experiment=smoke"])
    d = OmegaConf.to_object(default)
    assert d.student == d.teacher == "smollm2_135m" and d.stages[-1] == "report"
    s = OmegaConf.to_object(smoke)
    assert "engine=hf" in s.overrides["eval"]
    assert any("runs/smoke/dpo/final" in o for o in s.overrides["eval"])


@pytest.mark.slow
@pytest.mark.timeout(3600)  # three pipeline runs: ~9 min on 2 idle cores, far more on busy ones
def test_reduced_pipeline_end_to_end_then_resume_then_an_sft_change(tmp_path, smollm2_path):
    from transformers import AutoModelForCausalLM

    run_dir = tmp_path / "runs" / "smoke"
    r = readme_command("rd-pipeline experiment=smoke run_dir=runs/smoke        #", tmp_path)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])

    # Every stage produced its outputs; every checkpoint loads and carries a model card.
    for stage in ("pretrain", "sft", "dpo"):
        final = run_dir / stage / "final"
        model = AutoModelForCausalLM.from_pretrained(final)
        assert model.num_parameters() > 100e6
        card = (final / "README.md").read_text()
        assert card.startswith("---\n") and "base_model: smollm2_135m" in card
        assert "## Evaluation" in card and "| dpo |" in card
    # The report: the per-stage table, verdicts, the self-distillation note, timings, and which
    # fingerprint and settings made every row.
    report = json.loads((run_dir / "report.json").read_text())
    table = report["table"]
    assert [row["checkpoint"] for row in table["rows"]] == ["base", "pretrain", "sft", "dpo"]
    for row in table["rows"][1:]:
        cell = row["cells"]["heldout"]
        assert cell["vs"] is not None and 0.0 <= cell["p_value"] <= 1.0
    assert len(report["verdicts"]) == 4 and report["self_distillation"] is True
    assert report["verdicts"][0].startswith("- **dpo vs base** on heldout")
    md = (run_dir / "report.md").read_text()
    for part in ("Self-distillation", "## Results per stage", "## What changed", "## Stages"):
        assert part in md, part
    made = report["provenance"]
    for stage in ("rollout", "curate", "pretrain", "sft", "pairs", "dpo", "eval"):
        fp = made["stages"][stage]["fingerprint"]
        assert fp and f"`{fp[:16]}`" in md, stage
    assert made["rows"]["base"]["identity"] == "recipe:smollm2_135m"
    assert made["rows"]["sft"]["identity"] == "sft@" + made["stages"]["sft"]["fingerprint"]
    assert "`++trainer.max_steps=2`" in md  # the settings column
    assert (run_dir / "eval" / "accuracy.png").read_bytes()[:4] == b"\x89PNG"
    # DPO on SmolLM2: the reward margin grows from 0 (policy == reference at step 1).
    dpo = json.loads((run_dir / "dpo" / "summary.json").read_text())
    margins = [h["rewards/margins"] for h in dpo["history"]]
    assert abs(margins[0]) < 1e-3 and dpo["metrics"]["final/rewards/margins"] > margins[0]
    state = json.loads((run_dir / "pipeline" / "state.json").read_text())
    assert all(state[s]["status"] == "done" for s in ("rollout", "sft", "dpo", "eval"))

    # Lose the DPO stage (as a crash before it finished would): a re-run has nothing to do up to
    # pairs, redoes DPO, evaluates only the new checkpoint, and rewrites the report.
    shutil.rmtree(run_dir / "dpo")
    shutil.rmtree(run_dir / "eval" / "dpo")
    cells = {
        s: (run_dir / "eval" / s / "heldout" / "metrics.json").stat().st_mtime
        for s in ("base", "pretrain", "sft")
    }
    t0 = time.time()
    r = readme_command("rd-pipeline experiment=smoke run_dir=runs/smoke        #", tmp_path)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    for stage in ("rollout", "curate", "pretrain", "sft", "pairs"):
        assert f"[{stage}] nothing to do" in r.stdout, stage
    assert "[dpo] ran" in r.stdout and (run_dir / "dpo" / "final" / "config.json").exists()
    for s, mtime in cells.items():  # finished evaluations were not redone
        assert (run_dir / "eval" / s / "heldout" / "metrics.json").stat().st_mtime == mtime
    assert (run_dir / "eval" / "dpo" / "heldout" / "metrics.json").stat().st_mtime > t0
    assert (run_dir / "report.json").stat().st_mtime > t0

    # An SFT setting changed through the pipeline (the README's command as printed): SFT trains
    # again with the recipe's settings plus the new one; pairs have nothing to do (the store is
    # unchanged); DPO trains again from the new SFT checkpoint; only the SFT and DPO checkpoints
    # are evaluated again; the old outputs are moved aside; the report's SFT and DPO rows change.
    before = json.loads((run_dir / "report.json").read_text())["provenance"]
    old = {s: before["stages"][s]["fingerprint"] for s in ("sft", "dpo")}
    cells = {
        s: (run_dir / "eval" / s / "heldout" / "metrics.json").stat().st_mtime
        for s in ("base", "pretrain")
    }
    r = readme_command("rd-pipeline experiment=smoke run_dir=runs/smoke 'overrides.sft=", tmp_path)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    for stage in ("rollout", "curate", "pretrain", "pairs"):
        assert f"[{stage}] nothing to do" in r.stdout, stage
    for stage in ("sft", "dpo", "eval"):
        assert f"[{stage}] ran" in r.stdout, stage
    out = r.stdout + r.stderr
    assert "rd-sft: changed since" in out and "trainer.learning_rate: 2e-05 -> 0.0001" in out
    assert "rd-dpo: changed since" in out and f'input init: "sft@{old["sft"]}"' in out
    sft_cmd = next(ln for ln in r.stdout.splitlines() if "[sft] " in ln and "-m distill.sft" in ln)
    assert "++trainer.max_steps=2" in sft_cmd and "++trainer.learning_rate=1e-4" in sft_cmd
    for s in ("sft", "dpo"):
        assert (run_dir / f"{s}.{old[s][:8]}" / "final" / "config.json").exists(), s
    for s, mtime in cells.items():
        assert (run_dir / "eval" / s / "heldout" / "metrics.json").stat().st_mtime == mtime, s
    ev = json.loads((run_dir / "eval" / "summary.json").read_text())
    assert sorted(ev["evaluated"]) == [["dpo", "heldout"], ["sft", "heldout"]]
    after = json.loads((run_dir / "report.json").read_text())["provenance"]
    for s in ("sft", "dpo"):
        assert after["rows"][s]["identity"] != before["rows"][s]["identity"]
        assert after["rows"][s]["identity"] == f"{s}@" + after["stages"][s]["fingerprint"]
    for s in ("base", "pretrain"):
        assert after["rows"][s] == before["rows"][s]
    assert "`++trainer.learning_rate=1e-4`" in (run_dir / "report.md").read_text()


def test_report_refuses_a_table_whose_upstream_changed(tmp_path):
    """A stage's recorded input that no longer matches (a file changed after the stage ran, a stage
    run by hand) makes the report an error naming the stage, not a table mixing two runs."""
    from types import SimpleNamespace

    from pipeline.report import provenance
    from rollout.stage import file_id

    data = tmp_path / "curate" / "sft.jsonl"
    data.parent.mkdir()
    data.write_text('{"prompt": "1+1", "completion": "2"}\n')
    (tmp_path / "sft").mkdir()
    summary = {
        "status": "done",
        "fingerprint": "abc123",
        "inputs": {"data": file_id(data)},
        "input_paths": {"data": str(data)},
    }
    (tmp_path / "sft" / "summary.json").write_text(json.dumps(summary))
    cfg = SimpleNamespace(stages=["sft", "report"], overrides={"sft": ["++trainer.seed=1"]})
    made = provenance(cfg, tmp_path, {})  # consistent: the row names its fingerprint and settings
    assert made["stages"]["sft"]["fingerprint"] == "abc123"
    assert made["stages"]["sft"]["settings"] == ["++trainer.seed=1"]
    data.write_text('{"prompt": "1+1", "completion": "3"}\n')  # the input changed afterwards
    with pytest.raises(ValueError, match=r"would mix results(.|\n)*sft was made from data"):
        provenance(cfg, tmp_path, {})


def test_the_report_quotes_rd_evals_comparison(tmp_path, capsys):
    """What changed, stage by stage and over the whole pipeline, comes from rd-eval's
    comparison.json (the same paired bootstrap over the same problems): the report reads no
    per-problem file of the evaluation, and without comparison.json it says which stage to run."""
    from types import SimpleNamespace

    from evaluation.evaluate import EvalConfig, compare, make_table
    from evaluation.metrics import paired_bootstrap
    from pipeline.report import write_report
    from rollout.problems import ProblemsConfig

    names = ("base", "sft", "dpo")
    ecfg = EvalConfig(checkpoints={ck: ck for ck in names})
    ecfg.benchmarks = {"heldout": ProblemsConfig(source="synthetic")}
    ids = [f"p{i}" for i in range(60)]
    rates = {"base": 0.3, "sft": 0.7, "dpo": 0.6}
    scores = {
        (ck, "heldout"): {p: float(i % 10 < 10 * r) for i, p in enumerate(ids)}
        for ck, r in rates.items()
    }
    cells = {
        key: {
            "pass@1": sum(s.values()) / 60,
            "pass@1_ci": [0.0, 1.0],
            "pass@k": {},
            "maj@n": 0.0,
            "n": 1,
            "truncation_rate": 0.0,
            "mean_tokens": 10.0,
            "problems": 60,
        }
        for key, s in scores.items()
    }
    compared = compare(ecfg, scores)
    eval_dir = tmp_path / "eval"
    eval_dir.mkdir()
    (eval_dir / "table.json").write_text(json.dumps(make_table(ecfg, cells, compared)))
    (eval_dir / "summary.json").write_text(
        json.dumps({"status": "done", "fingerprint": "e" * 16, "checkpoints": {}})
    )
    cfg = SimpleNamespace(
        run_dir=str(tmp_path),
        stages=["eval", "report"],
        overrides={},
        title="t",
        teacher="a",
        student="b",
        description="",
        card=SimpleNamespace(push_to_hub=False),
    )
    with pytest.raises(ValueError, match=r"no evaluation comparison.json at .*run the eval stage"):
        write_report(cfg, {})
    (eval_dir / "comparison.json").write_text(json.dumps(compared))
    report = write_report(cfg, {})
    capsys.readouterr()

    whole = paired_bootstrap(
        [scores["base", "heldout"][p] for p in ids], [scores["dpo", "heldout"][p] for p in ids]
    )
    lo, hi = (100 * x for x in whole["ci"])
    assert report["verdicts"][0] == (
        f"- **dpo vs base** on heldout (60 problems): {100 * whole['delta']:+.1f} points "
        f"(95% CI [{lo:+.1f}, {hi:+.1f}], p={whole['p_value']:.3f}; significant)."
    )
    assert report["verdicts"][1].startswith(
        "- sft vs base on heldout (60 problems): **improved by +40.0"
    )
    assert report["verdicts"][2].startswith(
        "- dpo vs sft on heldout (60 problems): **worse by -10.0 points**"
    )
    assert len(report["verdicts"]) == 3 and not list(tmp_path.rglob("problems.jsonl"))
    assert "## What changed" in (tmp_path / "report.md").read_text()
