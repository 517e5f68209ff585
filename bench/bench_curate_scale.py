"""The data path at scale: rd-curate and rd-pairs over synthetic verified stores of growing size,
and the farm writer's memory over one large shard.

    .venv/bin/python bench/bench_curate_scale.py                       # ~12 min of CPU on 2 cores
    .venv/bin/python bench/bench_curate_scale.py --sizes 100000,300000,1000000 --farm-rollouts 1000000
    .venv/bin/python bench/bench_curate_scale.py --code /tmp/base --label baseline   # another checkout
    .venv/bin/python bench/bench_curate_scale.py --stream on --memory-mb 128 --overrides "stream.tasks=2"
    .venv/bin/python bench/bench_curate_scale.py --sizes 30000,100000,300000 --memory-mb 64 \
        --farm-rollouts 0 --label stream --out bench/results/curate_scale.json   # recorded in RESULTS.md

For each size a store is generated the way rd-rollout writes one (rollout.store.ShardWriter, sharded
by problem id with rollout.problems.shard_of), then `python -m distill.curate` and
`python -m dpo.pairs` run on it as processes. Each is measured from outside: wall time, CPU time,
rollouts/s and the peak of the summed PSS of its process tree, sampled every 0.1 s: each sample
adds up the proportional set size (/proc/<pid>/smaps_rollup's "Pss:", RSS from /proc/<pid>/statm
where that is unreadable) of the process and all its descendants, so pages that forked or
forkserver workers (datatrove's) share with their parent are counted once, not once per process.
It is stored as peak_rss_mb (the name kept for readers of older results) with
"memory_measure": "pss"; the kernel's ru_maxrss from wait4, the largest single process's RSS, is
stored apart as max_single_rss_mb. --stream on/off sets the stages' stream.enabled (auto: their
default) and, unless off, --memory-mb their stream.memory_mb. Ratios are against the smallest size
of the same run. The farm writer part writes one shard of --farm-rollouts through ShardWriter in a
fresh process, then reopens it (a resume: repair, index, plan the next round) in another, measuring
each one's peak the same way.

The synthetic store (deterministic in --seed): 8 rollouts per problem (round 0, n=8), ~3 KB of
chain-of-thought each (log-normal length, median ~2.8 KB, 0.3-16 KB), words drawn from MATH-500's
problems and solutions (rollout/data/benchmarks/math500.jsonl), so the tokenizer sees real math
text; a `<think>` block, then a boxed answer. Sources numina/synthetic/gsm8k/olympiad with
difficulty 1-5; a problem's pass probability falls with difficulty (Beta-distributed, so some
problems are always or never solved); 7% of rollouts truncated (finish_reason=length, never
correct), 2% unjudged (correct=None), 4% exact and 5% near duplicates of an earlier rollout of the
same problem (one word changed), 1% of problems repeat another problem's prompt under a new id.

Results go to --out (JSON, one entry per --label, so a baseline and a later run sit side by side)
and are printed with a 12M-rollout extrapolation whose assumptions are printed with it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROLLOUTS_PER_PROBLEM = 8
SOURCES = {"numina": 0.45, "synthetic": 0.2, "gsm8k": 0.2, "olympiad": 0.15}
PASS_MEAN = {1: 0.85, 2: 0.7, 3: 0.5, 4: 0.3, 5: 0.12}  # mean pass probability by difficulty
TRUNCATED, UNJUDGED, EXACT_DUP, NEAR_DUP, DUP_PROMPT = 0.07, 0.02, 0.04, 0.05, 0.01
TARGET_ROLLOUTS = 12_000_000
TARGET_CORES = 64
# The recipe's rollouts are 4-6K tokens (~16-24 KB of text); these are ~3 KB. Work that scales with
# text (JSON, tokenizing, shingling) grows with it; the factor is (mean recipe bytes / mean bytes here).
RECIPE_BYTES = 20_000


# ---------------------------------------------------------------------------------------------
# The synthetic store


def vocabulary() -> list[str]:
    words: set[str] = set()
    with (ROOT / "rollout" / "data" / "benchmarks" / "math500.jsonl").open(encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            text = re.sub(
                r"\[asy\].*?\[/asy\]", " ", row["problem"] + " " + row["solution"], flags=re.S
            )
            words.update(text.split())
    # Few decontamination words each (selection/decontam.py splits "$x^2+1$" into five): a random
    # run of these never looks like a MATH-500 question.
    return sorted(
        w
        for w in words
        if len(w) <= 16
        and "boxed" not in w
        and len(re.findall(r"[^\W_]+|[+\-*/=<>^%()\[\]]", w)) <= 2
    )


class Synth:
    """Problems and their rollouts, a pure function of (seed, problem number)."""

    def __init__(self, seed: int):
        self.seed = seed
        self.vocab = vocabulary()
        self.word_len = sum(len(w) + 1 for w in self.vocab) / len(self.vocab)

    def text(self, rng: random.Random, chars: int) -> str:
        ws = rng.choices(self.vocab, k=max(3, round(chars / self.word_len)))
        return "\n".join(" ".join(ws[i : i + 18]) for i in range(0, len(ws), 18))

    def problem(self, k: int) -> dict:
        rng = random.Random(f"{self.seed}:p:{k}")
        source = rng.choices(list(SOURCES), weights=list(SOURCES.values()))[0]
        difficulty = rng.randint(1, 5)
        if k > 0 and rng.random() < DUP_PROMPT:  # the same question in another dataset
            prompt = self.problem(rng.randrange(k))["prompt"]
        else:
            prompt = self.text(rng, rng.randint(80, 600)) + f" Find the value for case {k}."
        return {
            "problem_id": f"{source}-{k:08d}",
            "prompt": prompt,
            "answer": str(k % 997),
            "kind": "math",
            "source": source,
            "meta": {"difficulty": difficulty},
        }

    def rollouts(self, k: int) -> list[dict]:
        from rollout.farm import derive_seed

        p = self.problem(k)
        rng = random.Random(f"{self.seed}:r:{k}")
        mean = PASS_MEAN[p["meta"]["difficulty"]]
        pass_p = rng.betavariate(2 * mean / (1 - mean + 1e-9) + 0.1, 2.0) if mean < 1 else 1.0
        gold = int(p["answer"])
        seed = derive_seed(self.seed, p["problem_id"], 0)
        out: list[dict] = []
        for i in range(ROLLOUTS_PER_PROBLEM):
            u = rng.random()
            if out and u < EXACT_DUP:
                prev = rng.choice(out)
                completion, finish, correct, extracted = (
                    prev["completion"],
                    prev["finish_reason"],
                    prev["correct"],
                    prev["verdict"]["extracted"],
                )
            elif out and u < EXACT_DUP + NEAR_DUP:
                prev = rng.choice(out)
                ws = prev["completion"].split(" ")
                ws[rng.randrange(len(ws))] = rng.choice(self.vocab)
                completion = " ".join(ws)
                finish, correct = prev["finish_reason"], prev["correct"]
                extracted = prev["verdict"]["extracted"]
            else:
                chars = int(min(16_000, max(300, rng.lognormvariate(math.log(2800), 0.5))))
                reasoning = self.text(rng, chars)
                if rng.random() < TRUNCATED:
                    completion, finish, correct, extracted = (
                        "<think>\n" + reasoning,
                        "length",
                        False,
                        None,
                    )
                else:
                    ok = rng.random() < pass_p
                    value = gold if ok else gold + rng.choice([-2, -1, 1, 3, 10])
                    completion = (
                        f"<think>\n{reasoning}\n</think>\n\nThe answer is $\\boxed{{{value}}}$."
                    )
                    finish, extracted = "stop", str(value)
                    correct = None if rng.random() < UNJUDGED else ok
            out.append(
                {
                    **p,
                    "rollout_id": f"{p['problem_id']}:r0:i{i}",
                    "model": "teacher-synthetic",
                    "completion": completion,
                    "finish_reason": finish,
                    "num_tokens": len(completion) // 4,
                    "round": 0,
                    "index": i,
                    "seed": seed,
                    "sampling": {"n": ROLLOUTS_PER_PROBLEM, "temperature": 0.8, "max_tokens": 4096},
                    "correct": correct,
                    "verdict": {
                        "correct": correct,
                        "extracted": extracted,
                        "reason": "" if correct is not None else "could not parse",
                        "verifier": "math",
                        "version": "synthetic",
                        "details": {},
                    },
                }
            )
        return out


def generate(directory: Path, rollouts: int, num_shards: int, seed: int) -> dict:
    """A store of `rollouts` rollouts under directory, written through ShardWriter as the farm does."""
    from rollout.problems import shard_of
    from rollout.store import ShardWriter

    synth = Synth(seed)
    writers = [ShardWriter(directory, s, num_shards) for s in range(num_shards)]
    buffers: list[list[dict]] = [[] for _ in range(num_shards)]
    counts = {"rollouts": 0, "correct": 0, "wrong": 0, "unjudged": 0, "truncated": 0, "bytes": 0}
    for k in range(rollouts // ROLLOUTS_PER_PROBLEM):
        recs = synth.rollouts(k)
        s = shard_of(recs[0]["problem_id"], num_shards) if num_shards > 1 else 0
        buffers[s].extend(recs)
        for r in recs:
            counts["rollouts"] += 1
            c = r["correct"]
            counts["correct" if c is True else "wrong" if c is False else "unjudged"] += 1
            counts["truncated"] += r["finish_reason"] == "length"
            counts["bytes"] += len(r["completion"].encode())
        if len(buffers[s]) >= 512:  # a farm chunk: 64 prompts x 8
            writers[s].append(buffers[s])
            buffers[s] = []
    for w, b in zip(writers, buffers, strict=True):
        w.append(b)
    counts["problems"] = rollouts // ROLLOUTS_PER_PROBLEM
    counts["mean_completion_bytes"] = round(counts.pop("bytes") / max(1, counts["rollouts"]))
    counts["store_mb"] = round(sum(f.stat().st_size for f in directory.glob("shard-*")) / 2**20, 1)
    return counts


# ---------------------------------------------------------------------------------------------
# Measuring a process tree


PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def pss_kb(pid: int) -> int:
    """PSS of one process in kB (/proc/<pid>/smaps_rollup's "Pss:" line); its RSS from
    /proc/<pid>/statm where smaps_rollup is unreadable or has no Pss line; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, IndexError, ValueError):
        pass
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0


def tree_pss_kb(root: int) -> int:
    """PSS summed over root and every descendant, in kB (from /proc): shared pages counted once."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += pss_kb(pid)
        todo.extend(children.get(pid, []))
    return total


def measure(cmd: list[str], cwd: Path, env: dict, log: Path) -> dict:
    """Run cmd; wall and CPU seconds, the peak of its process tree's summed PSS sampled every
    0.1 s (MB, as peak_rss_mb) and the largest single process's RSS (ru_maxrss, MB)."""
    t0 = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        peak = 0
        try:
            while True:
                pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                peak = max(peak, tree_pss_kb(proc.pid))
                time.sleep(0.1)
        except BaseException:  # interrupted: leave no measured process behind
            proc.kill()
            raise
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}); log {log}:\n{tail}")
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(ru.ru_utime + ru.ru_stime, 2),
        "peak_rss_mb": round(peak / 1024, 1),  # the peak of the tree's summed PSS
        "memory_measure": "pss",
        "max_single_rss_mb": round(ru.ru_maxrss / 1024, 1),
    }


# ---------------------------------------------------------------------------------------------
# The farm writer: one shard written, then reopened as a resume does


def farm_child(mode: str, directory: Path, rollouts: int, seed: int) -> None:
    import resource

    t0 = time.perf_counter()
    if mode == "write":
        generate(directory, rollouts, 1, seed)
        kept = None
    else:
        from rollout.farm import RejectionConfig, round_plan
        from rollout.store import ShardWriter

        synth = Synth(seed)
        problems = [synth.problem(k) for k in range(rollouts // ROLLOUTS_PER_PROBLEM)]
        w = ShardWriter(directory)
        # What the writer keeps per rollout: before issue 14 whole records (writer.records).
        kept = w.index if hasattr(w, "index") else w.records
        todo, _ = round_plan(kept, problems, RejectionConfig(k_correct=1, max_rounds=3), 8, 1)
        kept = {"rollouts": len(kept), "round_1_problems": len(todo)}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": time.perf_counter() - t0, "maxrss_kb": peak, "kept": kept}))


# ---------------------------------------------------------------------------------------------


def extrapolate(rows: list[dict], stage: str) -> dict:
    """12M rollouts on one 64-core node, from the smallest and the largest measured sizes."""
    big, small = rows[-1], rows[0]
    n = big["rollouts"] - small["rollouts"]
    # The marginal cost: start-up (imports, tokenizer, eval sets) is paid once whatever the size.
    cpu_per_rollout = (big[stage]["cpu_s"] - small[stage]["cpu_s"]) / n
    mem_slope = (big[stage]["peak_rss_mb"] - small[stage]["peak_rss_mb"]) / n
    length = RECIPE_BYTES / big["store"]["mean_completion_bytes"]
    one_process_h = cpu_per_rollout * TARGET_ROLLOUTS * length / 3600
    mem_one = big[stage]["peak_rss_mb"] + mem_slope * (TARGET_ROLLOUTS * length - big["rollouts"])
    return {
        "cpu_ms_per_rollout": round(cpu_per_rollout * 1e3, 3),
        "length_factor": round(length, 2),
        "one_process_hours": round(one_process_h, 1),
        "sharded_64_hours": round(one_process_h / TARGET_CORES, 2),
        "memory_slope_kb_per_rollout": round(mem_slope * 1024, 2),
        "one_process_peak_gb": round(mem_one / 1024, 1),
        "flat_64_workers_gb": round(TARGET_CORES * big[stage]["peak_rss_mb"] / 1024, 1),
    }


def analyse(result: dict) -> None:
    """Ratios of the largest size against the smallest, and the 12M extrapolation; printed and
    stored in result."""
    rows, stages = result["sizes"], result["stages"]
    if len(rows) < 2:
        return
    big, small = rows[-1], rows[0]
    mean_bytes = big["store"]["mean_completion_bytes"]
    print(
        f"\nratios, {big['rollouts']:,} vs {small['rollouts']:,} rollouts "
        f"(x{big['rollouts'] / small['rollouts']:.1f} input):"
    )
    result["ratios"], result["extrapolation"] = {}, {}
    for stage in stages:
        a, b = small[stage], big[stage]
        r = {
            "memory": round(b["peak_rss_mb"] / a["peak_rss_mb"], 2),
            "time_per_rollout": round(
                (b["wall_s"] / big["rollouts"]) / (a["wall_s"] / small["rollouts"]), 2
            ),
            "cpu_per_rollout": round(
                (b["cpu_s"] / big["rollouts"]) / (a["cpu_s"] / small["rollouts"]), 2
            ),
        }
        result["ratios"][stage] = r
        flat = "flat" if r["memory"] <= 1.2 else "NOT flat"
        print(
            f"  {stage}: peak memory x{r['memory']} ({flat}: target <= 1.2); time per rollout "
            f"x{r['time_per_rollout']} wall, x{r['cpu_per_rollout']} cpu (1.0 = linear)"
        )
        result["extrapolation"][stage] = extrapolate(rows, stage)
    print(
        f"\nextrapolation to {TARGET_ROLLOUTS:,} rollouts on one {TARGET_CORES}-core node.\n"
        "Assumptions: (1) CPU time grows linearly at the marginal rate measured here (CPU seconds "
        f"between {small['rollouts']:,} and {big['rollouts']:,} rollouts; start-up paid once); "
        "(2) one core there = one core of this machine; (3) the recipe's rollouts (~"
        f"{RECIPE_BYTES:,} bytes, 4-6K tokens) cost x{RECIPE_BYTES / mean_bytes:.1f} of these "
        f"({mean_bytes:,} bytes) in time and in per-rollout memory; (4) a sharded run spreads "
        f"the work evenly over {TARGET_CORES} processes, one per core, cross-shard steps "
        "included at the same rate; (5) one process's memory keeps the measured slope, and "
        f"{TARGET_CORES} flat workers each hold the largest size's peak."
    )
    for stage, e in result["extrapolation"].items():
        print(
            f"  {stage}: {e['cpu_ms_per_rollout']} ms cpu/rollout -> one process "
            f"{e['one_process_hours']} h, {TARGET_CORES} shards {e['sharded_64_hours']} h; memory "
            f"one process {e['one_process_peak_gb']} GB (slope {e['memory_slope_kb_per_rollout']} "
            f"kB/rollout), {TARGET_CORES} flat workers {e['flat_64_workers_gb']} GB"
        )


def save(args, result: dict) -> None:
    """Write (or replace) this label's entry of --out; called after every size, so a run cut
    short keeps what it measured."""
    if not args.out:
        return
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {}
    results[args.label] = result
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="4000,12000,40000", help="rollouts per store, ascending")
    ap.add_argument("--shards", type=int, default=4, help="shard files per store")
    ap.add_argument(
        "--farm-rollouts", default="100000", help="farm writer shard sizes, ascending; 0: skip"
    )
    ap.add_argument("--stages", default="curate,pairs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--code", default=str(ROOT), help="the checkout whose rd-curate/rd-pairs run")
    ap.add_argument("--label", default="current", help="the entry of --out these results replace")
    ap.add_argument("--work", default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument(
        "--out", default=None, help="JSON results, e.g. bench/results/curate_scale.json"
    )
    ap.add_argument("--overrides", default="", help="more rd-curate/rd-pairs overrides, spaced")
    ap.add_argument(
        "--stream",
        choices=("off", "on", "auto"),
        default="auto",
        help="stream.enabled=false / true for rd-curate and rd-pairs; auto: their default",
    )
    ap.add_argument(
        "--memory-mb",
        type=float,
        default=256,
        help="stream.memory_mb for rd-curate and rd-pairs, unless --stream off",
    )
    ap.add_argument(
        "--analyse", metavar="LABEL", help="print --out's entry LABEL again, run nothing"
    )
    ap.add_argument("--farm-child", nargs=3, metavar=("MODE", "DIR", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.farm_child:
        mode, d, n = args.farm_child
        farm_child(mode, Path(d), int(n), args.seed)
        return

    if args.analyse:
        results = json.loads(Path(args.out).read_text())
        analyse(results[args.analyse])
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
        return
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if sizes != sorted(sizes) or any(s < ROLLOUTS_PER_PROBLEM for s in sizes):
        raise SystemExit(
            f"--sizes must be ascending and >= {ROLLOUTS_PER_PROBLEM}, got {args.sizes}"
        )
    stages = [s for s in args.stages.split(",") if s]
    code = Path(args.code).resolve()
    work = Path(args.work or tempfile.mkdtemp(prefix="rd-curate-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(code),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    py = sys.executable
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    print(f"code: {code} (HEAD {commit}); scratch: {work}; load average {os.getloadavg()[0]:.1f}")
    print(
        "memory: the peak of the summed PSS of the process tree (the stage and its descendants), "
        "sampled every 0.1 s; max single RSS: the largest one process's ru_maxrss"
    )
    stream_overrides = {"off": ["stream.enabled=false"], "on": ["stream.enabled=true"], "auto": []}[
        args.stream
    ]
    if args.stream != "off":
        stream_overrides.append(f"stream.memory_mb={args.memory_mb:g}")
    commands = {
        "curate": [py, "-m", "distill.curate", "tokenizer=smollm2_135m", "plot=false"],
        "pairs": [py, "-m", "dpo.pairs", "tokenizer=smollm2_135m", "plot=false", "max_length=4096"],
    }

    result: dict = {
        "label": args.label,
        "code": str(code),
        "commit": commit,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": " ".join([".venv/bin/python bench/bench_curate_scale.py", *sys.argv[1:]]),
        "load_average": round(os.getloadavg()[0], 2),
        "stages": stages,
        "stream": args.stream,
        "memory_mb": args.memory_mb if args.stream != "off" else None,
        "sizes": [],
    }

    rows = result["sizes"]
    for size in sizes:
        store = work / f"store-{size}" / "rollout"
        if store.exists():
            shutil.rmtree(store.parent)
        t0 = time.perf_counter()
        info = generate(store, size, args.shards, args.seed)
        row = {
            "rollouts": info["rollouts"],
            "store": info,
            "generate_s": round(time.perf_counter() - t0, 1),
        }
        for stage in stages:
            run_dir = work / f"run-{stage}-{size}"
            shutil.rmtree(run_dir, ignore_errors=True)
            cmd = [*commands[stage], f"input_dir={store}", f"run_dir={run_dir}"]
            cmd += stream_overrides + args.overrides.split()
            m = measure(cmd, code, env, work / f"{stage}-{size}.log")
            m["stream"] = args.stream
            m["memory_mb"] = args.memory_mb if args.stream != "off" else None
            m["rollouts_per_s"] = round(info["rollouts"] / m["wall_s"], 1)
            summary = json.loads((run_dir / stage / "summary.json").read_text())
            m["outputs"] = {
                k: summary[k]
                for k in ("pretrain_examples", "sft_examples", "pairs", "problems_paired")
                if k in summary and not isinstance(summary[k], (dict, list))
            }
            row[stage] = m
            print(
                f"{stage:>7} {size:>9,} rollouts: {m['wall_s']:8.1f} s wall {m['cpu_s']:8.1f} s cpu "
                f"{m['rollouts_per_s']:9.1f} rollouts/s  peak PSS {m['peak_rss_mb']:8.1f} MB "
                f"(max single RSS {m['max_single_rss_mb']:.1f} MB)",
                flush=True,
            )
            shutil.rmtree(run_dir, ignore_errors=True)
        rows.append(row)
        save(args, result)
        shutil.rmtree(store.parent, ignore_errors=True)

    analyse(result)

    farm_sizes = [int(n) for n in args.farm_rollouts.split(",") if n and int(n)]
    if farm_sizes:
        result["farm_writer"] = []
    for n in farm_sizes:
        d = work / "farm-shard"
        shutil.rmtree(d, ignore_errors=True)
        farm: dict = {"rollouts": n}
        for mode in ("write", "resume"):
            cmd = [py, str(Path(__file__).resolve()), "--seed", str(args.seed)]
            cmd += ["--farm-child", mode, str(d), str(n)]
            log = work / f"farm-{mode}-{n}.log"
            m = measure(cmd, code, env, log)
            m["kept"] = json.loads(log.read_text().strip().splitlines()[-1])["kept"]
            farm[mode] = m
        farm["shard_mb"] = round(sum(f.stat().st_size for f in d.glob("shard-*")) / 2**20, 1)
        print(
            f"farm writer, {n:,}-rollout shard ({farm['shard_mb']:,} MB): write "
            f"{farm['write']['wall_s']:.1f} s, peak PSS {farm['write']['peak_rss_mb']:.1f} MB; "
            f"reopen (resume) {farm['resume']['wall_s']:.1f} s, peak PSS "
            f"{farm['resume']['peak_rss_mb']:.1f} MB",
            flush=True,
        )
        result["farm_writer"].append(farm)
        save(args, result)
        shutil.rmtree(d, ignore_errors=True)
    if len(farm_sizes) > 1:
        a, b = result["farm_writer"][0], result["farm_writer"][-1]
        result["farm_writer_ratios"] = {
            mode: round(b[mode]["peak_rss_mb"] / a[mode]["peak_rss_mb"], 2)
            for mode in ("write", "resume")
        }
        print(
            f"farm writer peak memory, {b['rollouts']:,} vs {a['rollouts']:,} rollouts: write "
            f"x{result['farm_writer_ratios']['write']}, resume x{result['farm_writer_ratios']['resume']}"
        )

    save(args, result)
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
