"""Code verifications per second and start-up cost: the bwrap sandbox against the layers-only path.

    .venv/bin/python bench/bench_sandbox.py                 # ~3-4 min on 2 cores
    .venv/bin/python bench/bench_sandbox.py --n 200 --out bench/results/sandbox.json

The baseline is the previous design measured in the same run: the same harness and limits without
OS isolation (`run_once(layers_only=True)`: a `python -I` child in a host temp directory, rlimits,
its own network namespace, privileges dropped where possible, the audit hook). Start-up cost is the
wall time of one trivial solution (`pass`), end to end as `check` pays it; throughput runs a mix of
code items (asserts and stdin/stdout, ~30% wrong) two at a time, like `verify_batch(workers=2)`,
which is also timed as callers use it. The machine is shared: start-up runs are interleaved one at
a time (so both paths see the same load) and reported as median and best; throughput rounds
alternate the two paths; the load average before and after is recorded.
(bench/bench_verify.py is the math benchmark; the code numbers live here.)
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from verifiers import sandbox, verify_batch  # noqa: E402

# Small programs of the kind code datasets hold (MBPP/HumanEval style asserts, stdin/stdout tasks).
ASSERT_TASKS = [
    (
        "def gcd(a, b):\n    while b:\n        a, b = b, a % b\n    return a",
        "def gcd(a, b):\n    return a % b",
        ["assert gcd(12, 18) == 6", "assert gcd(7, 13) == 1", "assert gcd(0, 5) == 5"],
    ),
    (
        "def is_palindrome(s):\n    s = ''.join(c.lower() for c in s if c.isalnum())\n"
        "    return s == s[::-1]",
        "def is_palindrome(s):\n    return s == s[::-1]",
        [
            "assert is_palindrome('A man, a plan, a canal: Panama')",
            "assert not is_palindrome('ab')",
        ],
    ),
    (
        "from collections import Counter\ndef top_k(xs, k):\n"
        "    return [x for x, _ in Counter(xs).most_common(k)]",
        "def top_k(xs, k):\n    return sorted(set(xs))[:k]",
        ["assert top_k([3, 1, 3, 2, 3, 2], 2) == [3, 2]", "assert top_k([5], 1) == [5]"],
    ),
    (
        "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a",
        "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 3)",
        ["assert fib(10) == 55", "assert fib(30) == 832040"],
    ),
]
IO_TASKS = [
    (
        "n = int(input())\nprint(sum(int(x) for x in input().split()[:n]))",
        "n = int(input())\nprint(sum(int(x) for x in input().split()[:n - 1]))",
        {"inputs": ["3\n1 2 3\n", "2\n10 -4\n"], "outputs": ["6", "6"]},
    ),
    (
        "import sys\nwords = sys.stdin.read().split()\nprint(len(set(words)))",
        "import sys\nprint(len(sys.stdin.read().split()))",
        {"inputs": ["a b a\n", "x y z x y\n"], "outputs": ["2", "3"]},
    ),
]


def block(code: str) -> str:
    return "Here is the solution.\n```python\n" + code + "\n```"


def make_items(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    items = []
    for _ in range(n):
        if rng.random() < 0.7:
            good, bad, tests = rng.choice(ASSERT_TASKS)
            answer = {"tests": tests}
        else:
            good, bad, answer = rng.choice(IO_TASKS)
        code = bad if rng.random() < 0.3 else good
        items.append({"completion": block(code), "answer": answer, "kind": "code"})
    return items


def check_all(items: list[dict], layers_only: bool) -> float:
    """Verifications/s of `sandbox.check` over `items`, two at a time (threads: it is all subprocesses)."""
    run = sandbox.run_once
    if layers_only:  # the previous design: the same check with the OS layer switched off
        sandbox.run_once = functools.partial(run, layers_only=True)
    try:
        start = time.perf_counter()
        with ThreadPoolExecutor(2) as ex:
            verdicts = list(ex.map(lambda it: sandbox.check(it["completion"], it["answer"]), items))
        seconds = time.perf_counter() - start
    finally:
        sandbox.run_once = run
    assert all(v.correct is not None for v in verdicts)
    return len(items) / seconds


def startup_ms(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=120, help="code items per throughput round")
    ap.add_argument("--startup", type=int, default=30, help="trivial runs per start-up round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=None, help="write the results JSON here")
    args = ap.parse_args()

    t = time.perf_counter()
    iso = sandbox.isolation()
    plan_s = time.perf_counter() - t
    if iso.mode != "bwrap":
        sys.exit(f"bench_sandbox: no bwrap sandbox here ({iso.reason}); fix: {sandbox.FIX}")
    print(
        f"isolation: bwrap ({iso.argv[0]}), decided and probed in {plan_s:.3f} s once per process"
    )
    for note in iso.notes:
        print(f"  note: {note}")

    # The baseline prints its own warning on every run as root (no OS isolation): keep it quiet here.
    logging.getLogger("verifiers.sandbox").setLevel(logging.ERROR)
    bare = lambda: subprocess.run([iso.exe, "-I", "-S", "-c", "pass"], env=iso.env, check=True)  # noqa: E731
    boxed = lambda: sandbox._start(iso, ["-c", "pass"], b"", 10)  # noqa: E731
    load_before = os.getloadavg()
    # Start-up: the four measurements interleaved one run at a time, so they share the machine's
    # load (it is shared and noisy); median and best (least disturbed) of all runs.
    fns = {
        "interpreter_alone": bare,
        "interpreter_in_bwrap": boxed,
        "solution_end_to_end_layers_only": lambda: sandbox.run_once("pass", "io", layers_only=True),
        "solution_end_to_end_bwrap": lambda: sandbox.run_once("pass", "io"),
    }
    samples = {k: [] for k in fns}
    for _ in range(args.startup * args.rounds):
        for k, fn in fns.items():
            samples[k] += startup_ms(fn, 1)
    for k, v in samples.items():
        print(f"start-up {k}: median {statistics.median(v):.1f} ms, best {min(v):.1f} ms")
    rate = {"bwrap": [], "layers-only": []}
    items = make_items(args.n)
    for r in range(args.rounds):
        for name, lo in (("layers-only", True), ("bwrap", False)):
            rate[name].append(check_all(items, layers_only=lo))
        print(
            f"round {r + 1}: verifications/s bwrap {rate['bwrap'][-1]:.1f}, "
            f"layers-only {rate['layers-only'][-1]:.1f}"
        )
    t = time.perf_counter()
    vs = verify_batch(items, workers=2)
    batch_rate = len(items) / (time.perf_counter() - t)
    assert all(v.details.get("isolation") == "bwrap" for v in vs if v.correct is not None)

    med = {k: round(statistics.median(v), 1) for k, v in samples.items()}
    best = {k: round(min(v), 1) for k, v in samples.items()}
    thr = {k: statistics.median(v) for k, v in rate.items()}
    ratios = [b / a for a, b in zip(rate["layers-only"], rate["bwrap"], strict=True)]
    result = {
        "machine": f"{platform.node()} {platform.machine()}, {platform.python_version()}",
        "bwrap": iso.argv[0],
        "notes": iso.notes,
        "seccomp": iso.seccomp is not None,
        "plan_seconds_once": round(plan_s, 3),
        "startup_ms_median": med,
        "startup_ms_best": best,
        "isolation_cost_ms": {
            "median": round(med["interpreter_in_bwrap"] - med["interpreter_alone"], 1),
            "best": round(best["interpreter_in_bwrap"] - best["interpreter_alone"], 1),
        },
        "target_ms": 50,
        "target_met_median": med["solution_end_to_end_bwrap"] < 50,
        "target_met_best": best["solution_end_to_end_bwrap"] < 50,
        "verifications_per_s": {
            "layers_only": round(thr["layers-only"], 2),
            "bwrap": round(thr["bwrap"], 2),
            "ratio_bwrap_over_layers_only": round(statistics.median(ratios), 3),
            "rounds_ratio": [round(x, 3) for x in ratios],
            "verify_batch_2_workers_bwrap": round(batch_rate, 2),
        },
        "load_average_1m_5m_15m": {
            "before": [round(x, 2) for x in load_before],
            "after": [round(x, 2) for x in os.getloadavg()],
        },
        "items": args.n,
        "rounds": args.rounds,
        "command": "python bench/bench_sandbox.py " + " ".join(sys.argv[1:]),
    }
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
