"""Tokenize-and-pack throughput per core against the tokenizer's own batch encoding, same run.

    .venv/bin/python bench/bench_pack.py                      # ~1-2 min on 2 cores
    .venv/bin/python bench/bench_pack.py --docs 40000 --out bench/results/pack.json

The baseline is the physical limit of this step: the fast tokenizer's batch encoder on one core
(`tokenizer(texts)`, TOKENIZERS_PARALLELISM off), nothing written. The pipeline (`distill.pack`)
reads JSONL, tokenizes in worker processes, packs and writes memory-mapped shards; its tokens per
second are divided by the cores it used. The corpus imitates verified chain-of-thought: a question,
a few hundred words of working, a boxed answer.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_corpus(path: Path, docs: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    steps = [
        "First, we note that",
        "Substituting the values gives",
        "Therefore the total is",
        "Let us check:",
        "Multiplying both sides by",
        "Adding the two results,",
        "So the remainder is",
        "Wait, let me recompute:",
    ]
    with path.open("w") as f:
        for _ in range(docs):
            a, b = rng.randint(2, 999), rng.randint(2, 999)
            body = " ".join(
                f"{rng.choice(steps)} {rng.randint(1, 9999)} + {rng.randint(1, 99)} = {rng.randint(1, 9999)}."
                for _ in range(rng.randint(5, 40))
            )
            text = f"<|im_start|>user\nWhat is {a} * {b}?<|im_end|>\n<|im_start|>assistant\n<think>\n{body}\n</think>\nThe answer is \\boxed{{{a * b}}}.<|im_end|>"
            f.write(json.dumps({"text": text}) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--docs", type=int, default=20000)
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    os.environ["TOKENIZERS_PARALLELISM"] = "false"

    from transformers import AutoTokenizer

    from distill.pack import PackConfig, pack
    from rollout.models import prepare

    tok_path = prepare("smollm2_135m")
    tok = AutoTokenizer.from_pretrained(tok_path)
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "corpus.jsonl"
        make_corpus(src, args.docs)
        texts = [json.loads(line)["text"] for line in src.read_text().splitlines()]

        def baseline() -> tuple[float, int]:
            t = time.perf_counter()
            n = 0
            for i in range(0, len(texts), 256):
                n += sum(
                    len(x) for x in tok(texts[i : i + 256], add_special_tokens=False)["input_ids"]
                )
            return n / (time.perf_counter() - t), n

        base1, ntok = baseline()
        cores = min(args.workers, os.cpu_count() or 1)
        marks: list[tuple[float, int]] = []  # (time, tokens so far) after each batch

        def progress(n: int) -> None:
            marks.append((time.perf_counter(), (marks[-1][1] if marks else 0) + n))

        t = time.perf_counter()
        totals = pack(
            src,
            Path(d) / "packed",
            tok_path,
            PackConfig(seq_len=args.seq_len, docs_per_shard=5000, workers=args.workers),
            progress=progress,
        )
        pack_s = time.perf_counter() - t
        base2, _ = baseline()
    baseline_per_core = (base1 + base2) / 2
    # Steady state: from the first finished batch to the end (worker start-up, ~3 s of spawning and
    # importing transformers per worker, is paid once per job and reported apart).
    (t_first, tok_first), t_end = marks[0], t + pack_s
    ours_per_core = (totals["tokens"] - tok_first) / (t_end - t_first) / cores
    startup_s = t_first - t
    ratio = ours_per_core / baseline_per_core
    hours_60b = 60e9 / (ours_per_core * 64) / 3600
    res = {
        "command": "python bench/bench_pack.py " + " ".join(sys.argv[1:]),
        "docs": args.docs,
        "tokens": totals["tokens"],
        "seq_len": args.seq_len,
        "workers": args.workers,
        "cores_used": cores,
        "tokenizer_batch_encode_tokens_per_s_one_core": [round(base1), round(base2)],
        "pack_tokens_per_s_per_core": round(ours_per_core),
        "ratio": round(ratio, 3),
        "packing_efficiency": round(totals["packing_efficiency"], 5),
        "hours_for_60B_tokens_on_64_cores": round(hours_60b, 2),
        "pack_seconds_total": round(pack_s, 2),
        "worker_startup_and_first_batch_s": round(startup_s, 2),
        "pack_tokens_per_s_per_core_including_startup": round(totals["tokens"] / pack_s / cores),
    }
    print(
        f"corpus: {args.docs} documents, {totals['tokens']:,} tokens (+{totals['padding']} padding), seq_len {args.seq_len}"
    )
    print(
        f"tokenizer batch encode, one core: {base1:,.0f} / {base2:,.0f} tokens/s (before / after)"
    )
    print(
        f"distill.pack, {args.workers} workers on {cores} cores: {ours_per_core:,.0f} tokens/s per core, ratio {ratio:.3f} (target >= 0.8)"
    )
    print(
        f"  (including worker start-up, {startup_s:.1f} s once per job: {totals['tokens'] / pack_s / cores:,.0f} tokens/s per core)"
    )
    print(f"packing efficiency {totals['packing_efficiency']:.5f} (target >= 0.995)")
    print(f"60B tokens on 64 cores at this rate: {hours_60b:.2f} hours")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
