"""Group a rollout store by problem: selection/stream.py (spill buckets + datatrove's executor) vs
`datasets` (load_dataset json with num_proc, sort by problem_id, walk the groups). The step both
engines would run first for rd-curate / rd-pairs; which one the streaming path is built on.

    python bench/bench_stream_engine.py                      # 20K rollouts, ~3 KB each
    python bench/bench_stream_engine.py --rollouts 60000

Each way runs in its own process (peak RSS is the process's own, ru_maxrss); prints wall time,
rollouts/s and peak RSS, and ratios against the datasets way measured in the same run. Results to
bench/results/stream_engine.json.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORDS = ["add", "the", "tens", "then", "units", "carry", "one", "so", "total", "becomes", "next"]


def make_store(directory: Path, rollouts: int, per_problem: int = 8) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    with (directory / "shard-00000-of-00001.jsonl").open("w") as f:
        for n in range(rollouts):
            pid, i = f"p{n // per_problem:07d}", n % per_problem
            text = " ".join(rng.choice(WORDS) for _ in range(500))  # ~3 KB of chain of thought
            f.write(
                json.dumps(
                    {
                        "problem_id": pid,
                        "prompt": f"Problem {pid}: what is {n % 97} plus {n % 89}?",
                        "rollout_id": f"{pid}:r0:i{i}",
                        "round": 0,
                        "index": i,
                        "completion": text + f"\nThe answer is \\boxed{{{i}}}.",
                        "correct": i % 3 != 0,
                    }
                )
                + "\n"
            )
    return sum(p.stat().st_size for p in directory.iterdir())


def way_stream(store: Path, work: Path, memory_mb: float) -> int:
    from selection.steps import rollout_order
    from selection.stream import (
        StreamConfig,
        bucket_count,
        bucket_files,
        problem_groups,
        run_steps,
        spill,
    )

    shards = sorted(store.glob("shard-*.jsonl"))
    cfg = StreamConfig(enabled=True, tasks=1, workers=1, memory_mb=memory_mb)
    buckets = bucket_count(sum(p.stat().st_size for p in shards), 1, memory_mb)
    out = work / "groups.json"

    def group(data, rank: int = 0, world_size: int = 1):
        spill(shards, rank, 1, buckets, work / "spill")
        n = 0
        for bucket in bucket_files(work / "spill"):
            for _pid, _recs in problem_groups(bucket, rollout_order):
                n += 1
        out.write_text(json.dumps(n))

    run_steps([("group", group, 1)], work, cfg, "bench")
    return json.loads(out.read_text())


def way_datasets(store: Path, work: Path, num_proc: int) -> int:
    from datasets import load_dataset

    ds = load_dataset(
        "json",
        data_files=str(store / "shard-*.jsonl"),
        split="train",
        cache_dir=str(work / "cache"),
        num_proc=num_proc,
    )
    ds = ds.sort(["problem_id", "round", "index"])
    n, current = 0, None
    for batch in ds.iter(batch_size=4096):
        for pid in batch["problem_id"]:
            if pid != current:
                current, n = pid, n + 1
    return n


def child(args) -> None:
    sys.path.insert(0, str(ROOT))
    work = Path(args.work)
    t0 = time.perf_counter()
    if args.child == "stream":
        groups = way_stream(Path(args.store), work, args.memory_mb)
    else:
        groups = way_datasets(Path(args.store), work, args.num_proc)
    seconds = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"groups": groups, "seconds": seconds, "peak_rss_mb": max(rss, kids)}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rollouts", type=int, default=20000)
    ap.add_argument("--memory-mb", type=float, default=64)
    ap.add_argument("--num-proc", type=int, default=2)
    ap.add_argument("--child", choices=("stream", "datasets"))
    ap.add_argument("--store")
    ap.add_argument("--work")
    args = ap.parse_args()
    if args.child:
        return child(args)
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        size = make_store(store, args.rollouts)
        results = {}
        for way in ("datasets", "stream"):
            cmd = [sys.executable, __file__, "--child", way, "--store", str(store)]
            cmd += ["--work", str(Path(tmp) / way), "--memory-mb", str(args.memory_mb)]
            cmd += ["--num-proc", str(args.num_proc)]
            r = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
            res = json.loads(r.stdout.strip().splitlines()[-1])
            res["rollouts_per_s"] = round(args.rollouts / res["seconds"], 1)
            results[way] = res
    base = results["datasets"]
    assert results["stream"]["groups"] == base["groups"] == -(-args.rollouts // 8)
    for way, res in results.items():
        print(
            f"{way:9s} {res['seconds']:7.1f} s  {res['rollouts_per_s']:9.1f} rollouts/s  "
            f"peak RSS {res['peak_rss_mb']:7.0f} MB  (time x{res['seconds'] / base['seconds']:.2f}, "
            f"RSS x{res['peak_rss_mb'] / base['peak_rss_mb']:.2f} vs datasets)"
        )
    out = ROOT / "bench" / "results" / "stream_engine.json"
    record = {
        "command": "python bench/bench_stream_engine.py " + " ".join(sys.argv[1:]),
        "rollouts": args.rollouts,
        "store_mb": round(size / 2**20, 1),
        "memory_mb": args.memory_mb,
        "num_proc": args.num_proc,
        "results": results,
    }
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
