"""Stages 1 and 2 on the real SmolLM2-135M (slow, run in CI): curate -> pretrain -> SFT on a small
verified store; the loss falls in each stage and stage 2 starts from stage 1's checkpoint."""

import json

import pytest

from distill.curate import CurateConfig
from distill.curate import run as curate
from distill.pack import PackConfig
from distill.pretrain import PretrainConfig
from distill.pretrain import run as pretrain
from distill.sft import SFTStageConfig
from distill.sft import run as sft
from rollout.engines import ModelConfig
from rollout.problems import ProblemsConfig, load_problems
from rollout.store import ShardWriter

pytestmark = pytest.mark.slow


def verified_store(directory, n=40):
    """A rollout store as the farm writes it: correct and wrong CoT for easy problems."""
    rows = []
    for p in load_problems(
        ProblemsConfig(source="synthetic", generators=["arithmetic"], count=n, seed=7)
    ):
        q = p["prompt"].removeprefix("What is ").rstrip("?")
        for i, (ans, ok) in enumerate(
            [(p["answer"], True), (p["answer"], True), (str(int(p["answer"]) + 1), False)]
        ):
            rows.append(
                {
                    **p,
                    "rollout_id": f"{p['problem_id']}:r0:i{i}",
                    "model": "teacher",
                    "round": 0,
                    "index": i,
                    "seed": 0,
                    "completion": f"<think>\nWe compute {q} step by step: {q} = {ans}.\n</think>\nThe answer is \\boxed{{{ans}}}.",
                    "finish_reason": "stop",
                    "num_tokens": 30,
                    "sampling": {"n": 3},
                    "correct": ok,
                    "verdict": {"correct": ok, "verifier": "math"},
                }
            )
    ShardWriter(directory).append(rows)


def test_curate_pretrain_sft_on_smollm2(smollm2_path, tmp_path):
    verified_store(tmp_path / "rollout")
    curate(CurateConfig(run_dir=str(tmp_path), tokenizer=smollm2_path, plot=False))
    assert (tmp_path / "curate" / "pretrain.jsonl").exists() and (
        tmp_path / "curate" / "sft.jsonl"
    ).exists()
    model = ModelConfig(name="smollm2_135m", path=smollm2_path)
    s1 = pretrain(
        PretrainConfig(
            run_dir=str(tmp_path),
            model=model,
            pack=PackConfig(seq_len=128, workers=1),
            trainer={
                "max_steps": 6,
                "per_device_train_batch_size": 4,
                "learning_rate": 1e-4,
                "logging_steps": 1,
                "save_steps": 1000,
                "lr_scheduler_type": "constant",
                "report_to": "none",
            },
        )
    )
    assert s1["last_loss"] < s1["first_loss"], s1
    s2 = sft(
        SFTStageConfig(
            run_dir=str(tmp_path),
            model=model,
            init_from="pretrain",
            trainer={
                "max_steps": 4,
                "per_device_train_batch_size": 4,
                "learning_rate": 5e-5,
                "logging_steps": 1,
                "max_length": 256,
                "packing": True,
                "save_steps": 1000,
                "lr_scheduler_type": "constant",
                "report_to": "none",
            },
        )
    )
    assert s2["init_from"] == str(tmp_path / "pretrain" / "final")
    assert s2["last_loss"] < s2["first_loss"], s2
    assert (
        json.loads((tmp_path / "sft" / "final" / "config.json").read_text())["model_type"]
        == "llama"
    )
