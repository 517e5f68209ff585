"""Stages 1 and 2 on a tiny random model (seconds): loss falls, resume after SIGKILL, the SFT loss mask."""

import json
import os
import subprocess
import sys

import pytest
from kill import kill_once

from distill.pack import PackConfig
from distill.pretrain import LRRule, PretrainConfig, peak_lr
from distill.pretrain import run as pretrain
from distill.sft import SFTStageConfig, build_trainer
from distill.sft import run as sft
from rollout.engines import ModelConfig

TINY = {
    "model_type": "llama",
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 2,
    "max_position_embeddings": 512,
    "vocab_size": 49152,
    "tie_word_embeddings": True,
}


def write_corpus(path, n=120):
    with path.open("w") as f:
        for i in range(n):
            a, b = i % 9 + 1, (i * 7) % 9 + 1
            f.write(
                json.dumps(
                    {
                        "text": f"<|im_start|>user\nWhat is {a} + {b}?<|im_end|>\n<|im_start|>assistant\n<think>\n{a} + {b} = {a + b}\n</think>\nThe answer is \\boxed{{{a + b}}}.<|im_end|>\n"
                    }
                )
                + "\n"
            )
    return path


def write_sft(path, n=24):
    with path.open("w") as f:
        for i in range(n):
            a, b = i % 7 + 2, i % 5 + 1
            msgs = [
                {"role": "user", "content": f"What is {a} + {b}? /think"},
                {
                    "role": "assistant",
                    "content": f"<think>\n{a} + {b} = {a + b}\n</think>\n\nThe answer is \\boxed{{{a + b}}}.",
                },
            ]
            f.write(json.dumps({"messages": msgs}) + "\n")
    return path


def pretrain_cfg(run_dir, smollm2_path, **trainer):
    return PretrainConfig(
        run_dir=str(run_dir),
        model=ModelConfig(name="tiny", path=smollm2_path),
        init_config=dict(TINY),
        pack=PackConfig(seq_len=64, workers=1, docs_per_shard=1000),
        trainer={
            "max_steps": 30,
            "per_device_train_batch_size": 4,
            "learning_rate": 3e-3,
            "logging_steps": 1,
            "save_steps": 1000,
            "lr_scheduler_type": "constant",
            **trainer,
        },
    )


def test_pretrain_loss_falls_and_its_checkpoint_starts_sft(smollm2_path, tmp_path):
    from distill.pack import PackConfig

    write_corpus(tmp_path / "corpus.jsonl")
    cfg = pretrain_cfg(tmp_path, smollm2_path)
    cfg.corpus = str(tmp_path / "corpus.jsonl")
    cfg.pack = PackConfig(seq_len=64, workers=1, docs_per_shard=1000)
    s1 = pretrain(cfg)
    assert s1["steps"] == 30 and s1["last_loss"] < s1["first_loss"] * 0.7, s1
    assert (tmp_path / "pretrain" / "final" / "config.json").exists()
    # idempotent
    assert pretrain(cfg)["steps"] == 30

    write_sft(tmp_path / "sft.jsonl")
    scfg = SFTStageConfig(
        run_dir=str(tmp_path),
        data=str(tmp_path / "sft.jsonl"),
        init_from="pretrain",
        trainer={
            "max_steps": 12,
            "per_device_train_batch_size": 4,
            "learning_rate": 3e-3,
            "logging_steps": 1,
            "max_length": 128,
            "packing": True,
            "lr_scheduler_type": "constant",
            "save_steps": 1000,
        },
    )
    s2 = sft(scfg)
    assert s2["init_from"].endswith("pretrain/final") and s2["last_loss"] < s2["first_loss"], s2
    assert (tmp_path / "sft" / "final" / "config.json").exists()


def test_sft_loss_mask_trains_think_and_answer_not_prompt_or_system(
    smollm2_path, tiny_model, tmp_path
):
    from transformers import AutoTokenizer

    msgs = [
        {"role": "system", "content": "SYSTEM TEXT"},
        {"role": "user", "content": "What is 2 + 3? /think"},
        {
            "role": "assistant",
            "content": "<think>\n2 + 3 = 5\n</think>\n\nThe answer is \\boxed{5}.",
        },
    ]
    trainer = build_trainer(
        SFTStageConfig(trainer={"max_length": 256, "max_steps": 1}),
        tiny_model,
        [{"messages": msgs}],
        tmp_path,
    )
    row = trainer.train_dataset[0]
    tok = AutoTokenizer.from_pretrained(tiny_model)
    ids = row["input_ids"]
    mask = [
        lab != -100 for lab in row["labels"]
    ]  # TRL builds labels from the template's generation markers
    trained = tok.decode([t for t, m in zip(ids, mask, strict=True) if m])
    untrained = tok.decode([t for t, m in zip(ids, mask, strict=True) if not m])
    assert trained == msgs[2]["content"] + "<|im_end|>"
    assert (
        "SYSTEM TEXT" in untrained and "What is 2 + 3?" in untrained and "<think>" not in untrained
    )
    last_trained = max(i for i, m in enumerate(mask) if m)
    assert ids[last_trained] == tok.eos_token_id  # the trained turn ends with the end-of-turn token
    batch = trainer.data_collator([{k: row[k] for k in ("input_ids", "labels")}])
    labels = batch["labels"][0].tolist()
    assert [lab for lab in labels if lab != -100] == [
        t for t, m in zip(ids, mask, strict=True) if m
    ]


def test_lr_rule_from_the_token_budget():
    assert peak_lr(LRRule(enabled=True, B=0.03), 60e9) == pytest.approx(0.03 * 60e9**-0.32)
    assert peak_lr(LRRule(enabled=True, B=0.03), 1e9) > peak_lr(LRRule(enabled=True, B=0.03), 60e9)
    with pytest.raises(ValueError, match=r"lr_rule.B > 0"):
        peak_lr(LRRule(enabled=True), 1e9)


def test_stage_errors_name_the_missing_input(tmp_path, smollm2_path):
    with pytest.raises(ValueError, match=r"run rd-curate run_dir=.* first"):
        pretrain(PretrainConfig(run_dir=str(tmp_path)))
    (tmp_path / "curate").mkdir()
    write_sft(tmp_path / "curate" / "sft.jsonl")
    with pytest.raises(
        ValueError, match=r"no stage-1 checkpoint .* run rd-pretrain first, or init_from=base"
    ):
        sft(SFTStageConfig(run_dir=str(tmp_path)))
    with pytest.raises(ValueError, match=r"trainer.\* is passed to transformers.TrainingArguments"):
        cfg = pretrain_cfg(tmp_path, smollm2_path, no_such_field=1)
        cfg.corpus = str(write_corpus(tmp_path / "c.jsonl", 10))
        pretrain(cfg)


def cli(run_dir, smollm2_path, corpus):
    tiny = ",".join(f"{k}:{v}" for k, v in TINY.items())
    return [
        sys.executable,
        "-m",
        "distill.pretrain",
        f"run_dir={run_dir}",
        f"corpus={corpus}",
        f"model.path={smollm2_path}",
        f"++init_config={{{tiny}}}",
        "pack.seq_len=64",
        "pack.workers=1",
        "trainer.max_steps=12",
        "trainer.save_steps=4",
        "trainer.logging_steps=1",
        "trainer.learning_rate=3e-3",
        "trainer.report_to=none",
        "trainer.save_total_limit=null",
        "trainer.per_device_train_batch_size=4",
        "trainer.lr_scheduler_type=cosine",
        "trainer.warmup_steps=2",
    ]


def test_sigkill_then_resume_continues_the_same_data_order_and_loss(smollm2_path, tmp_path):
    corpus = write_corpus(tmp_path / "corpus.jsonl")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    subprocess.run(
        cli(tmp_path / "ref", smollm2_path, corpus),
        check=True,
        capture_output=True,
        env=env,
        timeout=900,
    )
    ref = dict(
        (s, loss)
        for s, loss in json.loads((tmp_path / "ref" / "pretrain" / "summary.json").read_text())[
            "loss_by_step"
        ]
    )

    run_dir = tmp_path / "killed"
    proc = subprocess.Popen(
        cli(run_dir, smollm2_path, corpus),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    kill_once(proc, run_dir / "pretrain" / "checkpoint-8" / "trainer_state.json")
    out = subprocess.run(
        cli(run_dir, smollm2_path, corpus), capture_output=True, text=True, env=env, timeout=900
    )
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads((run_dir / "pretrain" / "summary.json").read_text())
    assert got["resumed_from"] and got["resumed_from"].endswith(("checkpoint-8", "checkpoint-4"))
    resumed = dict((s, loss) for s, loss in got["loss_by_step"])
    after = [s for s in resumed if s > int(got["resumed_from"].split("-")[-1])]
    assert after and all(resumed[s] == pytest.approx(ref[s], rel=1e-5) for s in after), (
        resumed,
        ref,
    )


def test_two_process_data_parallel_on_cpu_with_gloo(smollm2_path, tmp_path):
    """torchrun, 2 ranks on CPU: rank 0 packs while the other waits, then DDP trains and rank 0 saves."""
    corpus = write_corpus(tmp_path / "corpus.jsonl", 40)
    run_dir = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(29600 + os.getpid() % 300),
        "-m",
        "distill.pretrain",
        *cli(run_dir, smollm2_path, corpus)[3:],
        "trainer.max_steps=3",
    ]
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=900, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads((run_dir / "pretrain" / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 3
    assert (run_dir / "pretrain" / "final" / "model.safetensors").exists()


def test_shipped_accelerate_configs_name_their_strategy():
    import yaml

    root = __import__("pathlib").Path(__file__).resolve().parents[1] / "conf" / "accelerate"
    cfgs = {p.stem: yaml.safe_load(p.read_text()) for p in root.glob("*.yaml")}
    assert (
        cfgs["zero2"]["deepspeed_config"]["zero_stage"] == 2
        and cfgs["zero3"]["deepspeed_config"]["zero_stage"] == 3
    )
    assert cfgs["fsdp"]["distributed_type"] == "FSDP"
    assert all(
        c["compute_environment"] == "LOCAL_MACHINE" and c["num_processes"] >= 1
        for c in cfgs.values()
    )


def test_packed_rows_keep_examples_apart(tiny_model):
    """A packed row's examples see only themselves: their logits equal those of separate forwards."""
    import torch
    from transformers import AutoModelForCausalLM

    from distill.sft import PackedRowsCollator

    model = AutoModelForCausalLM.from_pretrained(tiny_model, attn_implementation="sdpa").eval()
    a, b = list(range(100, 117)), list(range(300, 311))
    row = {"input_ids": a + b, "labels": a + b, "seq_lengths": [len(a), len(b)]}
    batch = PackedRowsCollator(pad_token_id=0)(
        [row, {"input_ids": a, "labels": a, "seq_lengths": [len(a)]}]
    )
    assert batch["input_ids"].shape == (2, 28)
    assert batch["position_ids"][0].tolist() == list(range(17)) + list(range(11))
    assert batch["labels"][1].tolist()[17:] == [-100] * 11
    with torch.no_grad():
        # use_cache=False as in training: with a cache, transformers does not read packing from position ids
        packed = model(
            input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False
        ).logits
        alone_b = model(input_ids=torch.tensor([b])).logits
        alone_a = model(input_ids=torch.tensor([a])).logits
    assert torch.allclose(packed[0, 17:], alone_b[0], atol=1e-5), (
        "the second example attended to the first"
    )
    assert torch.allclose(packed[0, :17], alone_a[0], atol=1e-5)


def test_rd_pretrain_finds_curates_corpus_whole_or_in_shards(tmp_path):
    """rd-curate's pretrain.jsonl, or its pretrain.shards files read in name order; a glob given
    as corpus= names several; nothing there names the fix."""
    from distill.pretrain import find_corpus

    curate = tmp_path / "curate"
    curate.mkdir()
    for k in (1, 0):
        write_corpus(curate / f"pretrain-{k:05d}-of-00002.jsonl", 3)
    corpus, files = find_corpus(PretrainConfig(run_dir=str(tmp_path)))
    assert corpus == str(curate / "pretrain-*-of-*.jsonl")
    assert [p.name for p in files] == [
        "pretrain-00000-of-00002.jsonl",
        "pretrain-00001-of-00002.jsonl",
    ]
    write_corpus(curate / "pretrain.jsonl", 3)
    assert find_corpus(PretrainConfig(run_dir=str(tmp_path)))[1] == [curate / "pretrain.jsonl"]
    given = PretrainConfig(run_dir=str(tmp_path), corpus=str(curate / "pretrain-0000[1]-*.jsonl"))
    assert [p.name for p in find_corpus(given)[1]] == ["pretrain-00001-of-00002.jsonl"]
    with pytest.raises(ValueError, match=r"no corpus at .*: run rd-curate run_dir=.* first"):
        find_corpus(PretrainConfig(run_dir=str(tmp_path / "empty")))
