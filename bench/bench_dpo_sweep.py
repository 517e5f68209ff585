"""DPO sweep wall time: reference log-probs computed once and shared (rd-dpo's cache) against TRL's
default, a reference forward pass on every step of every sweep point.

    .venv/bin/python bench/bench_dpo_sweep.py                       # ~12 min on 2 CPU cores (SmolLM2-135M)
    .venv/bin/python bench/bench_dpo_sweep.py --pairs 32 --steps 8 --out bench/results/dpo_sweep.json

Both sides run the same 4-point grid (beta x learning rate) through `dpo.train.run`, exactly as
`rd-dpo --multirun` runs each point, with the same pairs, model, seeds and trainer settings; the
only difference is `trainer.precompute_ref_log_probs` (true with a fresh, empty cache folder for the
shared side; false for TRL's default). The points of the two sides alternate so that noise from
other processes on the machine falls on both. Time counts everything a point does: loading, the
reference pass (once, on the first shared point), training, the final evaluation on all pairs and
saving.
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


def make_pairs(n: int, seed: int = 0) -> list[dict]:
    """Arithmetic pairs with chain-of-thought of varied length; the rejected side is off by one."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        a, b = rng.randint(10, 999), rng.randint(10, 999)
        steps = " ".join(
            f"Step: {rng.randint(1, 999)} + {rng.randint(1, 99)} = {rng.randint(1, 999)}."
            for _ in range(rng.randint(2, 12))
        )
        ok, bad = a + b, a + b + rng.choice([-10, -1, 1, 10])
        user = (
            f"What is {a} + {b}?\n\nSolve the problem. Put your final answer in \\boxed{{}}. /think"
        )
        rows.append(
            {
                "problem_id": f"b{i}",
                "prompt": [{"role": "user", "content": user}],
                "chosen": f"<think>\n{steps}\n</think>\n\nThe answer is \\boxed{{{ok}}}.",
                "rejected": f"<think>\n{steps}\n</think>\n\nThe answer is \\boxed{{{bad}}}.",
                "chosen_id": f"b{i}:r0:i0",
                "rejected_id": f"b{i}:r0:i1",
                "meta": {},
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2_135m", help="recipe name or model folder")
    ap.add_argument("--pairs", type=int, default=32)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    from dpo.train import DPOStageConfig, run
    from rollout.models import prepare

    model = prepare(args.model)
    work = Path(tempfile.mkdtemp(prefix="bench-dpo-"))
    data = work / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in make_pairs(args.pairs)))
    grid = [(beta, lr) for beta in (0.05, 0.2) for lr in (1e-6, 5e-6)]
    trainer = {
        "max_steps": args.steps,
        "per_device_train_batch_size": args.batch,
        "per_device_eval_batch_size": 8,
        "precompute_ref_batch_size": 8,
        "max_length": 384,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "gradient_checkpointing": False,
    }
    sides = {
        "shared": {"precompute_ref_log_probs": True},
        "trl_default": {"precompute_ref_log_probs": False},
    }
    seconds = {s: [] for s in sides}
    margins = {s: [] for s in sides}
    for i, (beta, lr) in enumerate(grid):
        order = list(sides) if i % 2 == 0 else list(sides)[::-1]
        for side in order:
            cfg = DPOStageConfig(
                run_dir=str(work),
                data=str(data),
                init_from=model,
                output_dir=str(work / side / f"beta={beta},lr={lr}"),
                ref_cache=str(work / "ref_cache"),
                trainer={**trainer, **sides[side], "beta": beta, "learning_rate": lr},
            )
            t0 = time.perf_counter()
            summary = run(cfg)
            dt = time.perf_counter() - t0
            seconds[side].append(round(dt, 1))
            margins[side].append(round(summary["metrics"].get("rewards/margins", float("nan")), 4))
            src = [e["source"] for e in summary["reference"]["events"]]
            print(
                f"[{side}] beta={beta} lr={lr}: {dt:.1f} s, reference {src or 'per step'}",
                flush=True,
            )
    total = {s: round(sum(v), 1) for s, v in seconds.items()}
    ratio = total["shared"] / total["trl_default"]
    result = {
        "model": args.model,
        "pairs": args.pairs,
        "steps_per_point": args.steps,
        "batch": args.batch,
        "grid": grid,
        "seconds_per_point": seconds,
        "total_seconds": total,
        "ratio_shared_over_default": round(ratio, 3),
        "final_margins": margins,
        "target": "<= 0.6",
    }
    print(json.dumps(result, indent=2))
    print(
        f"4-point sweep: shared reference log-probs {total['shared']} s vs TRL default "
        f"{total['trl_default']} s: ratio {ratio:.2f}"
    )
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
