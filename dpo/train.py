"""rd-dpo: stage 3, roll-out DPO on correct-vs-wrong pairs (TRL's DPOTrainer), and sweeps over it.

    rd-dpo                                             # run_dir/pairs/pairs.jsonl, from run_dir/sft/final
    rd-dpo trainer.beta=0.05 'trainer.loss_type=[ipo]' trainer.learning_rate=1e-6
    rd-dpo --multirun trainer.beta=0.01,0.05,0.1 trainer.learning_rate=5e-7,1e-6   # a 3x2 grid
    accelerate launch --config_file conf/accelerate/zero3.yaml -m dpo.train run_dir=...

`trainer.*` goes to trl.DPOConfig unchanged (beta, loss_type, learning_rate, lr_scheduler_type, ...).

Reference log-probabilities are computed once and kept on disk (ref_cache), keyed by the reference
weights and the tokenized pairs (and the few trainer settings that change them), so every point of
a beta/learning-rate sweep, a resumed run and a re-run reuse them; TRL's own precompute keeps them
only for one process. The computation itself is TRL's (which gathers ZeRO-3's sharded weights for
it), and several ranks agree on rank 0's key, so accelerate/DeepSpeed runs take the same path. The cache
is a DPOTrainer subclass of its own (dpo/ref_cache.py), which states the TRL internals it uses.
`trainer.precompute_ref_log_probs=false` gives TRL's default instead: a reference forward pass on
every step.

A single run writes run_dir/dpo/; a sweep point writes its own folder under run_dir/dpo_sweep/
(named by its overrides), each with final/, summary.json (status, overrides, final metrics,
history), metrics.jsonl, config.yaml; rd-sweep-report gathers a sweep folder into a table.
"""

from __future__ import annotations

import hashlib
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

# Keys that cannot change the trained weights or the summary's numbers (rollout/stage.py leaves them
# out of the fingerprint): paths whose content is an input, caches, what a sweeper reads back, logging.
NON_RESULT = (
    "data",
    "ref_cache",
    "output_dir",
    "objective",
    "trainer.logging_*",
    "trainer.report_to",
    "trainer.save_*",
    "trainer.disable_tqdm",
    "trainer.dataloader_num_workers",
)


@dataclass
class DPOStageConfig:
    run_dir: str = "runs/demo"
    data: str | None = None  # pairs JSONL (rd-pairs); null: run_dir/pairs/pairs.jsonl
    init_from: str = "sft"  # "sft": run_dir/sft/final; "base": model.path; or a model folder
    model: ModelConfig = field(default_factory=ModelConfig)
    trainer: dict[str, Any] = field(default_factory=dict)  # trl.DPOConfig fields
    ref_cache: str | None = None  # reference log-prob cache; null: run_dir/dpo_ref_cache
    output_dir: str | None = None  # null: run_dir/dpo, or the sweep point's folder under --multirun
    final_eval: bool = True  # reward margins/accuracies of the trained model on all pairs
    evaluate: bool = False  # also run rd-eval on the trained checkpoint
    eval: dict[str, Any] = field(default_factory=dict)  # rd-eval (EvalConfig) fields for that
    objective: str = "rewards/margins"  # the summary metric returned to a sweeper (Optuna)
    seed: int = 0
    on_change: str = "rerun"  # settings or inputs changed: rerun (old outputs moved aside) | error


ConfigStore.instance().store(name="dpo_schema", node=DPOStageConfig)


def point_name(override_dirname: str) -> str:
    """A sweep point's folder: its overrides, shortened with a hash past 120 characters (file
    systems stop at 255, and fixed overrides repeat in every point); summary.json keeps them all."""
    if len(override_dirname) <= 120:
        return override_dirname or "default"
    digest = hashlib.sha1(override_dirname.encode()).hexdigest()[:8]
    return f"{override_dirname[:100].rsplit(',', 1)[0]},...-{digest}"


OmegaConf.register_new_resolver("rd_point", point_name, replace=True)


def load_pairs(path: Path) -> list[dict]:
    """rd-pairs rows (prompt messages, chosen and rejected completions, switch); errors name
    file:line. build_trainer renders and tokenizes them with the model's own template."""
    expected = '{"prompt": [messages], "chosen": str, "rejected": str} as written by rd-pairs'
    rows = []
    for lineno, row in read_jsonl(path, fix=f"each line must be {expected}"):
        try:
            prompt, chosen, rejected = row["prompt"], row["chosen"], row["rejected"]
            if isinstance(prompt, str):
                prompt = [{"role": "user", "content": prompt}]
            if not (prompt and all("role" in m and "content" in m for m in prompt)):
                raise ValueError("prompt must be chat messages or a string")
            if not isinstance(chosen, str) or not isinstance(rejected, str):
                raise ValueError("chosen and rejected must be strings")
            switch = row.get("switch")
            if switch not in (None, "think", "direct"):
                raise ValueError(f"switch must be think, direct or null, got {switch!r}")
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{path}:{lineno}: expected {expected} ({e})") from e
        ids = f"{row.get('chosen_id', '?')}|{row.get('rejected_id', '?')}"
        rows.append(
            {
                "id": f"{path.name}:{lineno} ({ids})",
                "prompt": prompt,
                "chosen": chosen,
                "rejected": rejected,
                "switch": switch,
            }
        )
    if not rows:
        raise ValueError(f"{path}: no pairs (rd-pairs found no problem with both outcomes?)")
    return rows


def tokenize_pairs(tokenizer, rows: list[dict]) -> list[dict]:
    """prompt_ids, chosen_ids, rejected_ids of every pair, as generation shows them: the model's
    own generation prompt (under the pair's switch) tokenized alone, then each completion with the
    template's end-of-turn (rollout/prompts.py training_parts). TRL's own tokenization renders the
    completion through the template (which drops R1-Distill's reasoning, and Qwen3's from earlier
    turns) and appends the tokenizer's EOS, so rd-dpo hands TRL the ids instead."""
    from rollout.prompts import training_parts

    def ids(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    out = []
    for r in rows:
        try:
            prompt, chosen = training_parts(tokenizer, r["prompt"], r["chosen"], r["switch"])
            _, rejected = training_parts(tokenizer, r["prompt"], r["rejected"], r["switch"])
        except ValueError as e:
            raise ValueError(f"{r['id']}: {e}") from e
        out.append(
            {
                "prompt_ids": ids(str(prompt)),
                "chosen_ids": ids(chosen),
                "rejected_ids": ids(rejected),
            }
        )
    return out


# ---------------------------------------------------------------------------------------------
# The stage.


def output_dir(cfg: DPOStageConfig) -> tuple[Path, dict[str, str]]:
    """(folder, overrides): run_dir/dpo for a single run; the sweep point's folder under --multirun."""
    if cfg.output_dir:
        return Path(cfg.output_dir), {}
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
        if hc.mode == RunMode.MULTIRUN:
            overrides = dict(o.split("=", 1) for o in hc.overrides.task if "=" in o)
            return Path(hc.runtime.output_dir), overrides
    except ValueError:  # not under Hydra (a direct call to run())
        pass
    return Path(cfg.run_dir) / "dpo", {}


def start_model(cfg: DPOStageConfig) -> str:
    from rollout.models import prepare

    if cfg.init_from == "sft":
        start = Path(cfg.run_dir) / "sft" / "final"
        if not (start / "config.json").exists():
            raise ValueError(
                f"no SFT checkpoint at {start}: run rd-sft run_dir={cfg.run_dir} first, or set "
                "init_from=base (model.path) or init_from=<a model folder>"
            )
        return str(start)
    if cfg.init_from == "base":
        return prepare(cfg.model.path)
    if not (Path(cfg.init_from) / "config.json").exists():
        raise ValueError(f"init_from={cfg.init_from!r} is not sft, base or a model folder")
    return cfg.init_from


def dataset_on_disk(rows: list[dict], folder: Path):
    """The pairs as an Arrow dataset in the run's folder, written once by rank 0. TRL caches its
    tokenization and reference log-probs next to a dataset's files and every rank reads them back;
    an in-memory dataset would put them in each process's own temporary folder."""
    import shutil

    from accelerate import PartialState
    from datasets import Dataset, load_from_disk

    state = PartialState()
    with state.main_process_first():
        if state.is_main_process:
            shutil.rmtree(folder, ignore_errors=True)
            Dataset.from_list(rows).save_to_disk(str(folder))
    return load_from_disk(str(folder))


def build_trainer(cfg: DPOStageConfig, model_path: str, rows: list[dict], out: Path):
    """The DPOTrainer (cached reference log-probs), after the truncation check on its max_length."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig

    from dpo.pairs import truncation_check
    from dpo.ref_cache import CachedRefDPOTrainer

    targs: dict[str, Any] = {
        "report_to": "none",
        "seed": cfg.seed,
        "precompute_ref_log_probs": True,
        "gradient_checkpointing": False,
        **cfg.trainer,
    }
    targs.setdefault("use_cpu", not torch.cuda.is_available())
    targs.setdefault("bf16", False)
    try:
        args = DPOConfig(output_dir=str(out), **targs)
    except (TypeError, ValueError) as e:
        raise ValueError(f"trainer.* is passed to trl.DPOConfig, which rejected it: {e}") from e
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.pad_token is None:  # Llama-3 ships none; padding is masked out anyway
        tokenizer.pad_token = tokenizer.eos_token
    tokenized = tokenize_pairs(tokenizer, rows)
    if args.max_length is not None:
        lengths = [
            (r["id"], len(t["prompt_ids"]) + len(t["chosen_ids"]))
            for r, t in zip(rows, tokenized, strict=True)
        ]
        truncation_check(lengths, args.max_length, "trainer.max_length")
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    model.config.use_cache = False
    data = dataset_on_disk(tokenized, out / ".pairs_dataset")
    trainer = CachedRefDPOTrainer(
        model=model,
        args=args,
        train_dataset=data,
        eval_dataset=data if cfg.final_eval else None,
        processing_class=tokenizer,
        ref_cache_dir=Path(cfg.ref_cache) if cfg.ref_cache else Path(cfg.run_dir) / "dpo_ref_cache",
    )
    if args.precompute_ref_log_probs and not trainer.ref_events:
        raise RuntimeError(
            "TRL computed the reference log-probs without calling CachedRefDPOTrainer's "
            "_precompute_ref_logps: the TRL internals dpo/ref_cache.py overrides have changed "
            "(pyproject pins the tested trl>=1.16,<1.17)"
        )
    return trainer


def distributed_info(trainer) -> dict[str, Any]:
    """How the run was spread: ranks, and the DeepSpeed ZeRO stage when there is one."""
    plugin = getattr(trainer.accelerator.state, "deepspeed_plugin", None)
    return {
        "type": str(trainer.accelerator.distributed_type).split(".")[-1],
        "world_size": trainer.accelerator.num_processes,
        "zero_stage": plugin.zero_stage if plugin is not None else None,
    }


def final_metrics(history: list[dict], evaluation: dict[str, float]) -> dict[str, float]:
    """The last logged training values, then the final evaluation on all pairs (eval_ keys)."""
    out: dict[str, float] = {}
    for entry in history:
        for k, v in entry.items():
            if k in ("loss", "train_loss") or k.startswith(("rewards/", "logps/")):
                out["train_loss" if k == "loss" else k] = v
    for k, v in evaluation.items():
        if k.startswith("eval_"):
            out[f"final/{k[5:]}"] = v
    if "final/rewards/margins" in out:  # the headline numbers: measured after training, all pairs
        out["rewards/margins"] = out["final/rewards/margins"]
        out["rewards/accuracies"] = out.get(
            "final/rewards/accuracies", out.get("rewards/accuracies")
        )
    return out


def run(cfg: DPOStageConfig) -> dict[str, Any]:
    """The stage (or one sweep point); returns its summary."""
    out, overrides = output_dir(cfg)
    final = out / "final"
    data = Path(cfg.data) if cfg.data else Path(cfg.run_dir) / "pairs" / "pairs.jsonl"
    if not data.exists():
        raise ValueError(
            f"no pairs at {data}: run rd-pairs run_dir={cfg.run_dir} first, or set data=<pairs JSONL>"
        )
    model_path = start_model(cfg)
    rows = load_pairs(data)
    if cfg.evaluate:
        eval_config(cfg, final, out)  # a bad eval.* fails now, not after training
    # Nothing to do / resume / run again: the fingerprint of the config and inputs (rollout/stage.py).
    # A sweep point's old outputs go beside the sweep folder, where rd-sweep-report does not look.
    paths = {"data": str(data), "init": model_path}
    stage = Stage(
        "rd-dpo",
        out,
        cfg,
        ignore=NON_RESULT,
        inputs={"data": file_id(data), "init": model_id(model_path)},
        on_change=cfg.on_change,
        outputs=["final/config.json"],
        aside=out.parent.with_name(out.parent.name + ".aside") if overrides else None,
    )
    if stage.begin(overrides=overrides, input_paths=paths) == "done":
        return stage.previous
    (out / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.structured(cfg)))

    trainer = build_trainer(cfg, model_path, rows, out)
    resume = last_checkpoint(out)
    t0 = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume)
    seconds = time.perf_counter() - t0
    evaluation = trainer.evaluate() if cfg.final_eval else {}
    trainer.save_model(str(final))
    trainer.processing_class.save_pretrained(str(final))
    history = [h for h in trainer.state.log_history if "loss" in h]
    if not trainer.is_world_process_zero():  # under torchrun/accelerate, rank 0 writes the outputs
        return {"status": "done", "metrics": final_metrics(history, evaluation)}
    with open(out / "metrics.jsonl", "w") as f:
        for h in trainer.state.log_history:
            f.write(json.dumps(h) + "\n")
    metrics = final_metrics(history, evaluation)
    if cfg.evaluate:
        metrics.update(evaluate_checkpoint(cfg, final, out))
    summary = {
        "status": "done",
        "overrides": overrides,
        "metrics": metrics,
        "history": history,
        **training_summary(trainer, result, seconds, resume),
        "pairs": len(rows),
        "init_from": model_path,
        "final": str(final),
        "distributed": distributed_info(trainer),
        "reference": {
            "precomputed": trainer.args.precompute_ref_log_probs,
            "events": trainer.ref_events,
            "cache": str(trainer.ref_cache_dir),
        },
        "seconds": round(seconds, 1),
        "input_paths": paths,
    }
    summary = stage.finish(summary)
    print(
        json.dumps({k: summary[k] for k in ("metrics", "steps", "seconds", "reference")}, indent=2)
    )
    return summary


def eval_config(cfg: DPOStageConfig, final: Path, out: Path, check: bool = True) -> list[str]:
    """rd-eval's command-line overrides for the trained checkpoint, into the point's own folder:
    conf/eval.yaml with eval.* merged in (per top-level key; a dict merges into rd-eval's),
    run_dir=<point>, and the checkpoint as the table's only row. rd-dpo does
    not import evaluation/ (it sits above the stages), so `check` asks rd-eval itself to compose
    them (`--cfg job`: Hydra rejects an unknown key or a bad type, nothing runs) before training."""
    import re
    import subprocess

    def value(v: Any) -> str:  # a plain value in Hydra's override grammar
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k}: {value(x)}" for k, x in v.items()) + "}"
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if v is None or isinstance(v, bool):
            return {None: "null", True: "true", False: "false"}[v]
        if isinstance(v, int | float):
            return repr(v)
        # Quoted: backslashes before a quote (or the closing one) doubled, quotes escaped.
        text = re.sub(r"(\\+)(?='|$)", lambda m: 2 * m.group(1), str(v)).replace("'", "\\'")
        return f"'{text}'"

    given = OmegaConf.to_container(OmegaConf.create(dict(cfg.eval)), resolve=False)
    overrides = []
    for k, v in given.items():
        if k in ("run_dir", "checkpoints"):
            continue
        # A dict merges through `++` (which also lets it add keys to dict fields such as
        # sampling.extra, while a dataclass field still refuses an unknown key); the plain `k={}`
        # before it is what makes Hydra refuse a top-level key rd-eval does not have.
        overrides += (
            [f"{k}={{}}", f"++{k}={value(v)}"] if isinstance(v, dict) else [f"{k}={value(v)}"]
        )
    overrides += [
        f"run_dir={value(str(out))}",
        "~checkpoints.base",
        f"+checkpoints.dpo={value(str(final))}",
    ]
    if check:
        r = subprocess.run(
            [sys.executable, "-m", "evaluation.evaluate", *overrides, "--cfg", "job"],
            capture_output=True,
            text=True,
        )
        if r.returncode != 0:
            why = (r.stderr.strip() or r.stdout.strip()).splitlines()
            raise ValueError(
                "eval.* must be rd-eval (EvalConfig) keys, as in conf/eval.yaml: "
                + "\n".join(why[-6:])
            )
    return overrides


def evaluate_checkpoint(cfg: DPOStageConfig, final: Path, out: Path) -> dict[str, float]:
    """rd-eval (a process of its own) on the trained checkpoint; eval/<benchmark>/<metric> from
    its table.json for the summary."""
    import subprocess

    cmd = [sys.executable, "-m", "evaluation.evaluate", *eval_config(cfg, final, out, check=False)]
    r = subprocess.run(cmd)
    if r.returncode != 0:
        raise ValueError(
            f"rd-eval on {final} failed (exit code {r.returncode}; its error is printed above): "
            + " ".join(cmd[1:])
        )
    table = json.loads((out / "eval" / "table.json").read_text())
    metrics = {}
    for bench, cell in table["rows"][0]["cells"].items():
        for k in ("pass@1", "maj@n", "truncation_rate"):
            if k in cell:
                metrics[f"eval/{bench}/{k}"] = cell[k]
    return metrics


def main() -> None:
    _hydra_main()


@hydra.main(config_path="pkg://conf", config_name="dpo", version_base="1.3")
def _hydra_main(cfg) -> float | None:
    typed: DPOStageConfig = OmegaConf.to_object(cfg)  # type: ignore[assignment]
    try:
        summary = run(typed)
    except ValueError as e:
        print(f"rd-dpo: error: {e}", file=sys.stderr)
        sys.exit(2)
    return summary["metrics"].get(typed.objective)  # what an Optuna sweep optimises


if __name__ == "__main__":
    main()
