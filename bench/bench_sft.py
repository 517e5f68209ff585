"""SFT real-token throughput: the project's batching (packing, padding-free) against TRL's defaults.

    .venv/bin/python bench/bench_sft.py                 # ~6 min on 2 CPU cores (SmolLM2-135M, fp32)
    .venv/bin/python bench/bench_sft.py --steps 6 --out bench/results/sft.json

Same model, same data, same run. The project's side is rd-sft's trainer (distill.sft.build_trainer:
the training template, assistant-only loss, `packing=true`: TRL's best-fit-decreasing packing, with
rows kept apart by `PackedRowsCollator`, position ids restarting per example). The baseline is TRL's SFTTrainer with its defaults and no packing
(every batch padded to its longest example). Real tokens are the non-padding tokens the model sees;
the first step of each side is a warm-up and not timed.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_rows(n: int, seed: int = 0) -> list[dict]:
    """Chat examples whose lengths vary as curated CoT does: mostly short, a long tail to max_length
    (mean 171 tokens, median 148, 95th percentile 338, max 638 with SmolLM2's tokenizer)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        a, b = rng.randint(2, 999), rng.randint(2, 999)
        steps = " ".join(
            f"Step: {rng.randint(1, 999)} + {rng.randint(1, 99)} = {rng.randint(1, 999)}."
            for _ in range(int(rng.expovariate(1 / 6)) + 1)
        )
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": f"What is {a} * {b}? /think"},
                    {
                        "role": "assistant",
                        "content": f"<think>\n{steps}\n</think>\n\nThe answer is \\boxed{{{a * b}}}.",
                    },
                ]
            }
        )
    return rows


def measure(trainer, steps: int) -> dict:
    """Real tokens/s over the timed steps (after one warm-up step)."""
    from transformers import TrainerCallback

    collate = trainer.data_collator
    counts: list[int] = []

    def counting(features):
        batch = collate(features)
        real = (
            int(batch["attention_mask"].sum())
            if "attention_mask" in batch
            else int(batch["input_ids"].numel())
        )
        counts.append(real)
        return batch

    trainer.data_collator = counting

    class Timer(TrainerCallback):
        def __init__(self):
            self.times: list[float] = []
            self.t0 = 0.0

        def on_step_begin(self, args, state, control, **kw):
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            self.times.append(time.perf_counter() - self.t0)

    timer = Timer()
    trainer.add_callback(timer)
    trainer.args.max_steps = steps + 1
    trainer.train()
    timed = timer.times[1:]
    tokens = sum(counts[1 : 1 + len(timed)])
    return {
        "real_tokens_per_s": tokens / sum(timed),
        "steps_timed": len(timed),
        "real_tokens": tokens,
        "seconds_per_step": sum(timed) / len(timed),
        "mean_real_tokens_per_step": tokens / len(timed),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from distill.sft import SFTStageConfig, build_trainer
    from rollout.models import prepare

    torch.manual_seed(0)
    model_path = prepare("smollm2_135m")
    rows = make_rows(400)
    common = {
        "per_device_train_batch_size": args.batch,
        "max_length": args.max_length,
        "learning_rate": 1e-5,
        "logging_steps": 1000,
        "save_strategy": "no",
        "report_to": "none",
        "use_cpu": True,
        "bf16": False,
        "seed": 0,
    }
    with tempfile.TemporaryDirectory() as d:
        ours_trainer = build_trainer(
            SFTStageConfig(trainer={**common, "packing": True}), model_path, rows, Path(d) / "ours"
        )
        ours = measure(ours_trainer, args.steps)
        del ours_trainer
        tok = AutoTokenizer.from_pretrained(model_path)
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
        base_args = SFTConfig(
            output_dir=str(Path(d) / "trl"), **common
        )  # TRL defaults: no packing, padded batches
        base = measure(
            SFTTrainer(
                model=model,
                args=base_args,
                train_dataset=Dataset.from_list(rows),
                processing_class=tok,
            ),
            args.steps,
        )
    ratio = ours["real_tokens_per_s"] / base["real_tokens_per_s"]
    from transformers import AutoTokenizer as _Tok

    from distill.templates import training_example

    tk = _Tok.from_pretrained(model_path)
    lengths = sorted(
        len(training_example(tk, r["messages"][:-1], r["messages"][-1]["content"])["input_ids"])
        for r in rows
    )
    length_stats = {
        "mean": sum(lengths) / len(lengths),
        "p50": lengths[len(lengths) // 2],
        "p95": lengths[int(len(lengths) * 0.95)],
        "max": lengths[-1],
    }
    print(
        f"example lengths (tokens): mean {length_stats['mean']:.0f}, median {length_stats['p50']}, p95 {length_stats['p95']}, max {length_stats['max']}"
    )
    res = {
        "command": "python bench/bench_sft.py " + " ".join(sys.argv[1:]),
        "model": "SmolLM2-135M-Instruct fp32, CPU",
        "batch": args.batch,
        "max_length": args.max_length,
        "ours_bfd_packing_rows_apart": ours,
        "trl_defaults_no_packing": base,
        "ratio": round(ratio, 3),
        "example_lengths": length_stats,
    }
    print(
        f"project batching (BFD packing, rows apart): {ours['real_tokens_per_s']:.0f} real tokens/s "
        f"({ours['mean_real_tokens_per_step']:.0f} real tokens/step, {ours['seconds_per_step']:.1f} s/step)"
    )
    print(
        f"TRL defaults, no packing:                 {base['real_tokens_per_s']:.0f} real tokens/s "
        f"({base['mean_real_tokens_per_step']:.0f} real tokens/step, {base['seconds_per_step']:.1f} s/step)"
    )
    print(f"ratio {ratio:.2f}x (target >= 1.5x)")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
