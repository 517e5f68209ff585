"""rd-pipeline: the plan of the full-scale recipe (composed and validated, nothing run), config
errors, and (slow) the reduced pipeline end to end on SmolLM2, then a resume after losing a stage."""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]


def rd_pipeline(*args, timeout=1500):
    return subprocess.run(
        [sys.executable, "-m", "pipeline.run", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


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
def test_reduced_pipeline_end_to_end_then_resume_after_losing_a_stage(tmp_path, smollm2_path):
    from transformers import AutoModelForCausalLM

    run_dir = tmp_path / "smoke"
    r = rd_pipeline("experiment=smoke", f"run_dir={run_dir}")
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])

    # Every stage produced its outputs; every checkpoint loads and carries a model card.
    for stage in ("pretrain", "sft", "dpo"):
        final = run_dir / stage / "final"
        model = AutoModelForCausalLM.from_pretrained(final)
        assert model.num_parameters() > 100e6
        card = (final / "README.md").read_text()
        assert card.startswith("---\n") and "base_model: smollm2_135m" in card
        assert "## Evaluation" in card and "| dpo |" in card
    # The report: the per-stage table, verdicts, the self-distillation note, timings.
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
    assert (run_dir / "eval" / "accuracy.png").read_bytes()[:4] == b"\x89PNG"
    # DPO on SmolLM2: the reward margin grows from 0 (policy == reference at step 1).
    dpo = json.loads((run_dir / "dpo" / "summary.json").read_text())
    margins = [h["rewards/margins"] for h in dpo["history"]]
    assert abs(margins[0]) < 1e-3 and dpo["metrics"]["final/rewards/margins"] > margins[0]
    state = json.loads((run_dir / "pipeline" / "state.json").read_text())
    assert all(state[s]["status"] == "done" for s in ("rollout", "sft", "dpo", "eval"))

    # Lose the DPO stage (as a crash before it finished would): a re-run skips what is complete,
    # redoes DPO, evaluates only the new checkpoint, and rewrites the report.
    shutil.rmtree(run_dir / "dpo")
    shutil.rmtree(run_dir / "eval" / "dpo")
    before = {
        s: (run_dir / "eval" / s / "heldout" / "metrics.json").stat().st_mtime
        for s in ("base", "sft")
    }
    t0 = time.time()
    r = rd_pipeline("experiment=smoke", f"run_dir={run_dir}")
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    for stage in ("rollout", "curate", "pretrain", "sft", "pairs"):
        assert f"[{stage}] complete; skipped" in r.stdout, stage
    assert "[dpo] " in r.stdout and (run_dir / "dpo" / "final" / "config.json").exists()
    for s, mtime in before.items():  # finished evaluations were not redone
        assert (run_dir / "eval" / s / "heldout" / "metrics.json").stat().st_mtime == mtime
    assert (run_dir / "eval" / "dpo" / "heldout" / "metrics.json").stat().st_mtime > t0
    assert (run_dir / "report.json").stat().st_mtime > t0
