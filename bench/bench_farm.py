"""Farm throughput against raw `vllm.LLM.generate`: same engine, prompts, settings and seeds, one run.

    .venv/bin/python bench/bench_farm.py                         # ~5 min on 2 CPU cores
    .venv/bin/python bench/bench_farm.py --problems 64 --out bench/results/farm.json

The farm's number is end to end: generated tokens over the wall time of `Farm.run`, which includes
rendering, verification (in the background thread) and appending to the store. The raw baseline is
measured before and after the farm and averaged, so drift on a shared machine hits both.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--problems", type=int, default=48)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--chunk-sizes", default="48,16", help="farm chunk sizes to measure")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")

    from vllm import SamplingParams

    from rollout.engines import VLLMEngine
    from rollout.farm import Farm, RejectionConfig, derive_seed
    from rollout.models import prepare
    from rollout.problems import ProblemsConfig, load_problems
    from rollout.prompts import PromptConfig, render
    from rollout.store import ShardWriter

    t0 = time.perf_counter()
    vllm_kwargs = {
        "dtype": "float32",
        "max_model_len": 2048,
        "enforce_eager": True,
        "enable_chunked_prefill": False,
        "enable_prefix_caching": False,
    }
    engine = VLLMEngine(prepare("smollm2_135m"), **vllm_kwargs)
    startup = time.perf_counter() - t0
    problems = load_problems(
        ProblemsConfig(
            source="synthetic",
            generators=["arithmetic", "word_problems"],
            difficulty=[1, 2],
            count=args.problems,
            seed=0,
        )
    )
    prompt = PromptConfig()
    texts = [render(engine.tokenizer, p, prompt) for p in problems]
    sampling = {"temperature": 0.7, "top_p": 1.0, "max_tokens": args.max_tokens}
    seeds = [derive_seed(0, p["problem_id"], 0) for p in problems]

    def raw() -> tuple[float, int]:
        params = [SamplingParams(n=args.n, seed=s, **sampling) for s in seeds]
        t = time.perf_counter()
        outs = engine.llm.generate(texts, params, use_tqdm=False)
        dt = time.perf_counter() - t
        return sum(len(o.token_ids) for r in outs for o in r.outputs) / dt, sum(
            len(o.token_ids) for r in outs for o in r.outputs
        )

    engine.generate(texts[:4], 1, seeds[:4], {"temperature": 0.7, "max_tokens": 16})  # warm-up
    results = {
        "command": "python bench/bench_farm.py " + " ".join(sys.argv[1:]),
        "engine_startup_s": round(startup, 1),
        "problems": len(problems),
        "n": args.n,
        "max_tokens": args.max_tokens,
        "farm": [],
    }
    raw_before, tokens = raw()
    print(f"raw vllm.LLM.generate: {raw_before:.1f} tokens/s ({tokens} tokens)")
    farm_runs = []
    for chunk in [int(c) for c in args.chunk_sizes.split(",")]:
        with tempfile.TemporaryDirectory() as d:
            farm = Farm(
                engine,
                ShardWriter(d),
                "smollm2_135m",
                prompt,
                sampling,
                args.n,
                RejectionConfig(k_correct=10**6, max_rounds=1, max_samples=10**6),
                chunk_size=chunk,
            )
            t = time.perf_counter()
            farm.run(problems)
            wall = time.perf_counter() - t
            stored = len(ShardWriter(d).index)
        farm_runs.append(
            {
                "chunk_size": chunk,
                "tokens_per_s": farm.tokens / wall,
                "tokens": farm.tokens,
                "stored_rollouts": stored,
                "wall_s": wall,
            }
        )
        print(
            f"farm (chunk_size={chunk}, verify + store): {farm.tokens / wall:.1f} tokens/s ({farm.tokens} tokens, {stored} rollouts stored)"
        )
    raw_after, _ = raw()
    print(f"raw vllm.LLM.generate again: {raw_after:.1f} tokens/s")
    baseline = statistics.mean([raw_before, raw_after])
    for fr in farm_runs:
        fr["ratio_vs_raw"] = fr["tokens_per_s"] / baseline
        print(
            f"ratio farm/raw at chunk_size={fr['chunk_size']}: {fr['ratio_vs_raw']:.3f} (target >= 0.9)"
        )
    results.update(
        {
            "raw_tokens_per_s": [round(raw_before, 1), round(raw_after, 1)],
            "farm": [
                {k: round(v, 3) if isinstance(v, float) else v for k, v in fr.items()}
                for fr in farm_runs
            ],
        }
    )
    engine.close()
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
