"""rd-sft: stage 2, supervised fine-tuning on the curated set, with TRL's SFTTrainer.

    rd-sft                                         # run_dir/curate/sft.jsonl, from run_dir/pretrain/final
    rd-sft init_from=base trainer.max_steps=50 trainer.packing=true
    accelerate launch --config_file conf/accelerate/zero2.yaml -m distill.sft run_dir=...

Starts from the stage-1 checkpoint (or the base model with init_from=base). Examples are chat
messages (and the hybrid switch each is trained under), rendered with the model's own chat template
exactly as generation shows them (distill/templates.py): the generation prompt, then the
completion, then the template's end-of-turn. They go to TRL tokenized, with labels that cover only
what the model writes: its think block, its answer and its end-of-turn, never the prompt or the
system text. `trainer.*` is passed to trl.SFTConfig unchanged (packing, padding_free, max_length,
learning_rate, ...).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from rollout.engines import ModelConfig
from rollout.stage import Stage, file_id, last_checkpoint, model_id, training_summary
from verifiers.jsonl import read_jsonl

INIT_FROM = ("pretrain", "base")
# Keys that cannot change the trained weights (rollout/stage.py leaves them out of the fingerprint).
NON_RESULT = (
    "data",  # its path; its content is an input
    "trainer.logging_*",
    "trainer.report_to",
    "trainer.save_*",
    "trainer.disable_tqdm",
    "trainer.dataloader_num_workers",
)


@dataclass
class SFTStageConfig:
    run_dir: str = "runs/demo"
    data: str | None = None  # JSONL with "messages"; None: run_dir/curate/sft.jsonl
    init_from: str = "pretrain"  # "pretrain": run_dir/pretrain/final; "base": model.path
    model: ModelConfig = field(default_factory=ModelConfig)
    trainer: dict[str, Any] = field(default_factory=dict)  # trl.SFTConfig fields
    seed: int = 0
    on_change: str = "rerun"  # settings or inputs changed: rerun (old outputs moved aside) | error


ConfigStore.instance().store(name="sft_schema", node=SFTStageConfig)


def load_messages(path: Path) -> list[dict]:
    expected = '{"messages": [..., {"role": "assistant", ...}]}'
    rows = []
    for lineno, row in read_jsonl(path, fix=f"each line must be {expected}"):
        try:
            msgs = row["messages"]
            if not msgs or msgs[-1]["role"] != "assistant":
                raise ValueError("the last message must be the assistant's")
            switch = row.get("switch")
            if switch not in (None, "think", "direct"):
                raise ValueError(f"switch must be think, direct or null, got {switch!r}")
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{path}:{lineno}: expected {expected} ({e})") from e
        rows.append({"messages": msgs, "switch": switch, "where": f"{path}:{lineno}"})
    if not rows:
        raise ValueError(f"{path}: no examples")
    return rows


class PackedRowsCollator:
    """Batches of packed rows that keep their batch dimension: (B, L) with per-row position ids.

    TRL's default for packed data flattens a batch into one row of B*L tokens (padding-free), which
    only pays off with varlen flash attention; with SDPA (CPU, and GPUs without flash-attn) the
    attention then costs (B*L)^2. Here each row stays a row: position ids restart at every example,
    so transformers builds a block-diagonal mask per row, and the cost is B*L^2, with no padding
    beyond the tail of each row.
    """

    def __init__(self, pad_token_id: int):
        self.pad = pad_token_id

    def __call__(self, rows: list[dict]) -> dict:
        import torch

        width = max(len(r["input_ids"]) for r in rows)
        ids, labels, pos = [], [], []
        for r in rows:
            n = len(r["input_ids"])
            lengths = list(r.get("seq_lengths") or [n])
            p = [i for length in lengths for i in range(length)] + list(range(width - n))
            ids.append(list(r["input_ids"]) + [self.pad] * (width - n))
            labels.append(list(r["labels"]) + [-100] * (width - n))
            pos.append(p)
        return {
            "input_ids": torch.tensor(ids),
            "labels": torch.tensor(labels),
            "position_ids": torch.tensor(pos),
        }


def tokenize_rows(tokenizer, rows: list[dict]) -> list[dict]:
    """input_ids and labels (-100 on the prompt) of every example; TRL takes them as they are."""
    from distill.templates import training_example

    out = []
    for row in rows:
        msgs = row["messages"]
        try:
            ex = training_example(tokenizer, msgs[:-1], msgs[-1]["content"], row.get("switch"))
        except ValueError as e:
            raise ValueError(f"{row.get('where', 'an example')}: {e}") from e
        out.append({"input_ids": ex["input_ids"], "labels": ex["labels"]})
    return out


def build_trainer(cfg: SFTStageConfig, model_path: str, rows: list[dict], output_dir: Path):
    """The SFTTrainer on the examples tokenized and masked here (distill/templates.py)."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.pad_token is None:  # Llama-3 ships none; padding is masked out anyway
        tokenizer.pad_token = tokenizer.eos_token
    targs: dict[str, Any] = {"report_to": "none", "seed": cfg.seed, **cfg.trainer}
    for key in ("assistant_only_loss", "completion_only_loss"):
        if targs.pop(key, None):  # the labels below already cover exactly what the model writes
            print(f"rd-sft: trainer.{key} ignored: rd-sft masks the loss itself", file=sys.stderr)
    targs.setdefault("use_cpu", not torch.cuda.is_available())
    targs.setdefault("bf16", False)
    try:
        args = SFTConfig(output_dir=str(output_dir), **targs)
    except TypeError as e:
        raise ValueError(f"trainer.* is passed to trl.SFTConfig, which rejected it: {e}") from e
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    # No KV cache in training: with one, transformers ignores the packing that position ids describe.
    model.config.use_cache = False
    data = Dataset.from_list(tokenize_rows(tokenizer, rows))
    trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer)
    if (
        args.packing
        and getattr(model.config, "_attn_implementation", "sdpa") != "flash_attention_2"
    ):
        # TRL accepts no collator of ours with packed data, so swap it in once the dataset is packed.
        trainer.data_collator = PackedRowsCollator(tokenizer.pad_token_id)
    return trainer


def run(cfg: SFTStageConfig) -> dict[str, Any]:
    from rollout.models import prepare

    # Check the config and find the inputs.
    if cfg.init_from not in INIT_FROM:
        raise ValueError(f"init_from must be one of {INIT_FROM}, got {cfg.init_from!r}")
    out = Path(cfg.run_dir) / "sft"
    final = out / "final"
    data = Path(cfg.data) if cfg.data else Path(cfg.run_dir) / "curate" / "sft.jsonl"
    if not data.exists():
        raise ValueError(
            f"no SFT set at {data}: run rd-curate run_dir={cfg.run_dir} first, or set data=<JSONL with messages>"
        )
    if cfg.init_from == "pretrain":
        start = Path(cfg.run_dir) / "pretrain" / "final"
        if not (start / "config.json").exists():
            raise ValueError(
                f"no stage-1 checkpoint at {start}: run rd-pretrain first, or init_from=base"
            )
        model_path = str(start)
    else:
        model_path = prepare(cfg.model.path)
    # Nothing to do / resume / run again: the fingerprint of the config and inputs (rollout/stage.py).
    paths = {"data": str(data), "init": model_path}
    stage = Stage(
        "rd-sft",
        out,
        cfg,
        ignore=NON_RESULT,
        inputs={"data": file_id(data), "init": model_id(model_path)},
        on_change=cfg.on_change,
        outputs=["final/config.json"],
    )
    if stage.begin(input_paths=paths) == "done":
        return stage.previous
    (out / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.structured(cfg)))

    # Load data, build the trainer, train (resuming from the newest checkpoint), save.
    trainer = build_trainer(cfg, model_path, load_messages(data), out)
    resume = last_checkpoint(out)
    t0 = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume)
    seconds = time.perf_counter() - t0
    trainer.save_model(str(final))
    trainer.processing_class.save_pretrained(str(final))
    summary = {
        **training_summary(trainer, result, seconds, resume),
        "examples": len(trainer.train_dataset),
        "init_from": model_path,
        "final": str(final),
    }
    summary = stage.finish({**summary, "input_paths": paths})
    print(json.dumps(summary, indent=2))
    return summary


@hydra.main(config_path="pkg://conf", config_name="sft", version_base="1.3")
def _hydra_main(cfg) -> None:
    typed: SFTStageConfig = OmegaConf.to_object(cfg)  # type: ignore[assignment]
    try:
        run(typed)
    except ValueError as e:
        print(f"rd-sft: error: {e}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    _hydra_main()


if __name__ == "__main__":
    main()
