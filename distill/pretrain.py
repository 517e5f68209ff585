"""rd-pretrain: stage 1, distill pretraining: a causal-LM pass over verified chain-of-thought.

    rd-pretrain                                          # run_dir/curate/pretrain.jsonl -> run_dir/pretrain/final
    rd-pretrain trainer.max_steps=200 trainer.learning_rate=1e-4 pack.seq_len=1024
    rd-pretrain lr_rule.enabled=true lr_rule.B=0.03      # peak LR from the token budget: B * D^-0.32
    accelerate launch --config_file conf/accelerate/zero3.yaml -m distill.pretrain run_dir=...

Reads the corpus that rd-curate wrote, packs it once into memory-mapped shards
(run_dir/pretrain/packed, see distill/pack.py; position ids restart at every document so attention
never crosses documents), and trains with transformers' Trainer, whose arguments pass through
`trainer.*` unchanged. Checkpoints go to run_dir/pretrain/checkpoint-*; a re-run after a kill resumes
from the newest one and continues the same data order. The final model lands in
run_dir/pretrain/final. Tokens per second (and model FLOPs utilisation on GPU) are logged through the
trainer's own `report_to`.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from distill.pack import PackConfig
from rollout.engines import ModelConfig
from rollout.stage import Stage, file_id, files_id, last_checkpoint, model_id, training_summary

# Keys that cannot change the trained weights (rollout/stage.py leaves them out of the fingerprint).
NON_RESULT = (
    "corpus",  # its path; its content is an input
    "mfu_peak_tflops",
    "pack.workers",
    "trainer.logging_*",
    "trainer.report_to",
    "trainer.save_*",
    "trainer.disable_tqdm",
    "trainer.dataloader_num_workers",
)


@dataclass
class LRRule:
    """Peak learning rate from the token budget D: LR*(D) = B * D^exponent (the reference's rule)."""

    enabled: bool = False
    B: float | None = None  # fitted constant of the rule; required when enabled
    exponent: float = -0.32
    tokens: float | None = None  # D; None: the tokens this run will see (steps x batch x seq_len)


@dataclass
class PretrainConfig:
    run_dir: str = "runs/demo"
    # JSONL with "text", or a glob of several; None: rd-curate's, run_dir/curate/pretrain.jsonl (or
    # its pretrain-*-of-*.jsonl files when curate wrote pretrain.shards > 1)
    corpus: str | None = None
    model: ModelConfig = field(default_factory=ModelConfig)
    # Build a fresh model from a config instead of loading weights (tests, ablations), e.g.
    # {model_type: llama, hidden_size: 32, num_hidden_layers: 2, ...}; the tokenizer comes from model.path.
    init_config: dict[str, Any] = field(default_factory=dict)  # empty: load model.path
    pack: PackConfig = field(default_factory=PackConfig)
    lr_rule: LRRule = field(default_factory=LRRule)
    mfu_peak_tflops: float | None = None  # the GPU's peak (e.g. 989 for H100 bf16); None: no MFU
    trainer: dict[str, Any] = field(default_factory=dict)  # transformers.TrainingArguments fields
    seed: int = 0
    on_change: str = "rerun"  # settings or inputs changed: rerun (old outputs moved aside) | error


ConfigStore.instance().store(name="pretrain_schema", node=PretrainConfig)


def peak_lr(rule: LRRule, tokens: float) -> float:
    if rule.B is None or rule.B <= 0:
        raise ValueError(
            "lr_rule.enabled=true needs lr_rule.B > 0 (the rule's fitted constant), e.g. lr_rule.B=0.03"
        )
    if tokens <= 0:
        raise ValueError(f"lr_rule: the token budget must be > 0, got {tokens}")
    return rule.B * tokens**rule.exponent


def collate(batch: list[dict]) -> dict:
    import torch

    return {k: torch.stack([b[k] for b in batch]) for k in ("input_ids", "position_ids", "labels")}


def throughput_callback(seq_len: int, n_params: int, peak_tflops: float | None):
    """Adds tokens/s (and MFU when a peak is given and a GPU runs) to every log the trainer writes."""
    from transformers import TrainerCallback

    class Throughput(TrainerCallback):
        def __init__(self):
            self.t, self.step = None, 0

        def on_log(self, args, state, control, logs=None, **kw):
            now = time.perf_counter()
            if logs is not None and self.t is not None and state.global_step > self.step:
                steps = state.global_step - self.step
                tokens = (
                    steps
                    * args.per_device_train_batch_size
                    * args.gradient_accumulation_steps
                    * args.world_size
                    * seq_len
                )
                tps = tokens / (now - self.t)
                logs["tokens_per_s"] = round(tps, 1)
                import torch

                if peak_tflops and torch.cuda.is_available():
                    logs["mfu"] = round(
                        6 * n_params * tps / (peak_tflops * 1e12 * args.world_size), 4
                    )
            self.t, self.step = now, state.global_step

        def on_train_begin(self, args, state, control, **kw):
            self.t, self.step = time.perf_counter(), state.global_step

    return Throughput()


def build_model(cfg: PretrainConfig, model_path: str):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    if cfg.init_config:
        conf = dict(cfg.init_config)
        model_type = conf.pop("model_type", None)
        if not model_type:
            raise ValueError("init_config needs model_type (e.g. llama)")
        torch.manual_seed(cfg.seed)
        return AutoModelForCausalLM.from_config(AutoConfig.for_model(model_type, **conf))
    return AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)


def find_corpus(cfg: PretrainConfig) -> tuple[str, list[Path]]:
    """The corpus as named (for the summary) and its files, in order."""
    from distill.pack import corpus_files

    curate = Path(cfg.run_dir) / "curate"
    corpus = cfg.corpus or str(curate / "pretrain.jsonl")
    if not cfg.corpus and not Path(corpus).exists() and any(curate.glob("pretrain-*-of-*.jsonl")):
        corpus = str(curate / "pretrain-*-of-*.jsonl")  # rd-curate pretrain.shards > 1
    try:
        return corpus, corpus_files(corpus)
    except ValueError:
        raise ValueError(
            f"no corpus at {corpus}: run rd-curate run_dir={cfg.run_dir} first, or set "
            "corpus=<a JSONL with a text field, or a glob of several>"
        ) from None


def run(cfg: PretrainConfig) -> dict[str, Any]:
    from rollout.models import prepare

    # Check the config and find the inputs; decide nothing to do / resume / run (rollout/stage.py).
    out = Path(cfg.run_dir) / "pretrain"
    final = out / "final"
    corpus, files = find_corpus(cfg)
    bad = sorted(set(cfg.trainer) & {"output_dir"})
    if bad:
        raise ValueError(f"trainer.{bad[0]} is set by rd-pretrain (run_dir/pretrain); remove it")
    inputs = {"corpus": file_id(files[0]) if len(files) == 1 else files_id(files)}
    if not cfg.init_config:  # the weights it starts from (with init_config: only the tokenizer)
        inputs["model"] = model_id(cfg.model.path)
    stage = Stage(
        "rd-pretrain",
        out,
        cfg,
        ignore=NON_RESULT,
        inputs=inputs,
        on_change=cfg.on_change,
        outputs=["final/config.json"],
    )
    if stage.begin(input_paths={"corpus": str(corpus)}) == "done":
        return stage.previous
    (out / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.structured(cfg)))
    from transformers import AutoTokenizer, Trainer, TrainingArguments  # after the decision: slow

    from distill.pack import PackedDataset, pack

    # Load data: pack the corpus once (restartable per shard), then read it by memory map.
    model_path = prepare(cfg.model.path)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    from accelerate import PartialState

    # Under torchrun/accelerate every rank runs this: rank 0 packs, the others wait and then read.
    state = PartialState()
    with state.main_process_first():
        totals = pack(files, out / "packed", model_path, cfg.pack)
    dataset = PackedDataset(out / "packed")

    # Build the model and the trainer.
    model = build_model(cfg, model_path)
    # No KV cache in training: with one, transformers ignores the document boundaries in position ids.
    model.config.use_cache = False
    targs: dict[str, Any] = {
        "report_to": "none",
        "save_strategy": "steps",
        "logging_steps": 10,
        "seed": cfg.seed,
        **cfg.trainer,
    }
    targs.setdefault("use_cpu", not __import__("torch").cuda.is_available())
    targs.setdefault("bf16", False)
    if cfg.lr_rule.enabled:
        world = int(__import__("os").environ.get("WORLD_SIZE", 1))
        steps = targs.get("max_steps") or math.ceil(
            len(dataset)
            * targs.get("num_train_epochs", 1)
            / (
                targs.get("per_device_train_batch_size", 8)
                * world
                * targs.get("gradient_accumulation_steps", 1)
            )
        )
        tokens = (
            cfg.lr_rule.tokens
            or steps
            * targs.get("per_device_train_batch_size", 8)
            * world
            * targs.get("gradient_accumulation_steps", 1)
            * cfg.pack.seq_len
        )
        targs["learning_rate"] = peak_lr(cfg.lr_rule, tokens)
        print(
            f"rd-pretrain: peak learning rate {targs['learning_rate']:.3e} from {tokens:.3e} tokens (B={cfg.lr_rule.B}, exponent {cfg.lr_rule.exponent})"
        )
    try:
        args = TrainingArguments(output_dir=str(out), **targs)
    except TypeError as e:
        raise ValueError(
            f"trainer.* is passed to transformers.TrainingArguments, which rejected it: {e}"
        ) from e
    n_params = sum(p.numel() for p in model.parameters())
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=collate,
        callbacks=[throughput_callback(cfg.pack.seq_len, n_params, cfg.mfu_peak_tflops)],
    )

    # Train (resuming from the newest checkpoint), save.
    resume = last_checkpoint(out)
    if resume:
        print(f"rd-pretrain: resuming from {resume}", file=sys.stderr)
    t0 = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume)
    seconds = time.perf_counter() - t0
    trainer.save_model(str(final))
    if not trainer.is_world_process_zero():
        return {"steps": trainer.state.global_step}
    tokenizer.save_pretrained(str(final))
    summary = {
        **training_summary(trainer, result, seconds, resume),
        "sequences": len(dataset),
        "corpus_tokens": totals["tokens"],
        "packing_efficiency": totals["packing_efficiency"],
        "learning_rate": args.learning_rate,
        "world_size": args.world_size,
        "final": str(final),
    }
    summary = stage.finish({**summary, "input_paths": {"corpus": str(corpus)}})
    print(json.dumps(summary, indent=2))
    return summary


@hydra.main(config_path="pkg://conf", config_name="pretrain", version_base="1.3")
def _hydra_main(cfg) -> None:
    typed: PretrainConfig = OmegaConf.to_object(cfg)  # type: ignore[assignment]
    try:
        run(typed)
    except ValueError as e:
        print(f"rd-pretrain: error: {e}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    _hydra_main()


if __name__ == "__main__":
    main()
