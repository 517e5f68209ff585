"""Verifications per second: verify_batch (2 workers) against plain math-verify, same run, same items.

    .venv/bin/python bench/bench_verify.py                # ~2-3 min on 2 cores
    .venv/bin/python bench/bench_verify.py --n 2000 --out bench/results/verify.json

Two mixes. "synthetic" imitates a rollout store: each problem sampled 4 times, chain-of-thought of a
few hundred words before the answer, answers from plain integers (most of GSM8K/AIME) to fractions,
radicals, intervals and sets, some wrong, some truncated. "math500" is the harder one: every
MATH-500 gold (rollout/data/benchmarks/; a quarter of them symbolic: expressions, tuples,
intervals, matrices, text) inside chain-of-thought in three answer styles, half of the samples
perturbed to a wrong value (the perturbations of tests/test_real_golds.py). Plain math-verify is
called the naive way (`parse(gold)`, `parse(completion)`, `verify`) in one process with its default
timeouts. Then each hostile input is timed through verify_batch against its time limit.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import random
import re
import sys
import time
from pathlib import Path

MATH500 = Path(__file__).resolve().parents[1] / "rollout" / "data" / "benchmarks" / "math500.jsonl"


def make_problem(rng: random.Random) -> tuple[str, str, str]:
    """(gold, a correct rendering, a wrong rendering) of one random problem; kinds weighted as a
    typical math training mix: mostly integers, then fractions, radicals, intervals, sets, angles."""
    kind = rng.choices(
        ["int", "frac", "dec", "radical", "interval", "set", "angle"], [60, 12, 6, 8, 5, 5, 4]
    )[0]
    if kind == "int":
        n = rng.randint(0, 5000)
        return (
            str(n),
            rng.choice([str(n), f"{n:,}", f"{n}.0" if n < 100 else str(n)]),
            str(n + rng.choice([-2, -1, 1, 10])),
        )
    if kind == "frac":
        a, b = rng.randint(1, 30), rng.randint(2, 31)
        return (
            f"\\frac{{{a}}}{{{b}}}",
            f"\\dfrac{{{2 * a}}}{{{2 * b}}}",
            f"\\frac{{{a + 1}}}{{{b}}}",
        )
    if kind == "dec":
        a = rng.randint(1, 99)
        return f"{a / 4}", f"\\frac{{{a}}}{{4}}", f"{a / 4 + 0.5}"
    if kind == "radical":
        k, m = rng.randint(2, 9), rng.choice([2, 3, 5, 6, 7])
        return f"{k}\\sqrt{{{m}}}", f"\\sqrt{{{k * k * m}}}", f"\\sqrt{{{k * k * m + 1}}}"
    if kind == "interval":
        a = rng.randint(-20, 20)
        return f"(-\\infty, {a}]", f"x \\le {a}", f"(-\\infty, {a})"
    if kind == "set":
        xs = rng.sample(range(-10, 20), 3)
        return (
            ", ".join(map(str, sorted(xs))),
            "\\{" + ", ".join(map(str, xs)) + "\\}",
            ", ".join(map(str, xs[:2])),
        )
    k, m = rng.randint(1, 5), rng.choice([2, 3, 4, 6])
    return (
        f"\\frac{{{k}\\pi}}{{{m}}}",
        f"{180 * k // m}^\\circ" if (180 * k) % m == 0 else f"\\frac{{{k}\\pi}}{{{m}}}",
        f"{round(3.14159 * k / m, 3)}",
    )


FILLER = (
    "Let us set up the problem carefully. We denote the unknown quantity by x and write down what "
    "the statement gives us. Substituting the known values, we simplify step by step, checking each "
    "intermediate result: 3 + 4 = 7, 7 * 6 = 42, and 42 / 2 = 21. "
)

HOSTILE = {
    "power_tower": "\\boxed{9^{9^{9^{9}}}}",
    "megabyte_output": "x" * 1_000_000 + " so \\boxed{7}",
    "deep_braces": "\\boxed{" + "{" * 5000 + "7" + "}" * 5000 + "}",
    "unbalanced_latex": "The answer is \\boxed{\\frac{7}{ \\left( \\sqrt{",
    "control_chars": "The answer is \\boxed{7\x00\x07\x1b[31m}\x08",
    "huge_factorial": "\\boxed{(10^{10})!}",
}


# Perturbations that change a gold's value (shared with tests/test_real_golds.py): each returns a
# wrong answer, or None where it does not apply to that gold.
def off_by_one(g: str) -> str | None:
    """The last integer written in the gold, plus one (not inside a command, sub- or superscript)."""
    nums = list(re.finditer(r"(?<![\w.\\^_])\d+(?![\d.])", g))
    if not nums:
        return None
    m = nums[-1]
    return g[: m.start()] + str(int(m.group(0)) + 1) + g[m.end() :]


def sign_flip(g: str) -> str | None:
    scalar = not re.search(r"[,=<>\[\]]|\\text|\\mbox|pmatrix|\\pm|\\cup|\\infty|_\d|\\\$", g)
    if not scalar or re.fullmatch(r"0+", g.strip()):
        return None
    s = g.strip()
    return s[1:] if s.startswith("-") else f"-({s})"


def swap_tuple(g: str) -> str | None:
    m = re.fullmatch(r"\s*(\\left)?\(\s*([^(),]+?)\s*,\s*([^(),]+?)\s*(\\right)?\)\s*", g)
    if not m or m.group(2).replace(" ", "") == m.group(3).replace(" ", ""):
        return None
    return f"({m.group(3)}, {m.group(2)})"


def flip_interval(g: str) -> str | None:
    m = re.fullmatch(r"\s*(\\left)?\s*([(\[])(.+?),([^,]+?)(\\right)?\s*([)\]])\s*", g)
    if not m or "infty" in m.group(3) or "\\cup" in g or "," in m.group(3):
        return None
    flipped = {"(": "[", "[": "("}[m.group(2)]
    return f"{flipped}{m.group(3)},{m.group(4)}{m.group(6)}"


def drop_element(g: str) -> str | None:
    if re.search(r"[()\[\]]|pmatrix|\\\$|,\\!|\{,\}|^\d{1,3}(?:,\d{3})+$", g) or "," not in g:
        return None
    parts = g.strip("\\{} ").split(",")
    if len(parts) < 2 or any(not p.strip() for p in parts):
        return None
    return ", ".join(p.strip() for p in parts[:-1])


PERTURB = {
    "off_by_one": off_by_one,
    "sign_flip": sign_flip,
    "swap_tuple": swap_tuple,
    "flip_interval": flip_interval,
    "drop_element": drop_element,
}


def math500_golds() -> list[str]:
    return [json.loads(line)["answer"] for line in MATH500.read_text().splitlines()]


def make_math500_items(n: int, seed: int = 0) -> list[dict]:
    """MATH-500 golds in chain-of-thought, 4 samples each, half of them perturbed to wrong values."""
    rng = random.Random(seed)
    golds = math500_golds()
    rng.shuffle(golds)
    items = []
    for gold in golds * (n // (4 * len(golds)) + 1):
        wrongs = [w for f in PERTURB.values() if (w := f(gold)) is not None]
        for k in range(4):
            shown = rng.choice(wrongs) if wrongs and k % 2 else gold
            reasoning = FILLER * rng.randint(2, 6)
            text = rng.choice(
                [
                    f"<think>{reasoning}</think>\nThe answer is $\\boxed{{{shown}}}$.",
                    f"{reasoning}\n**Answer:** ${shown}$",
                    f"{reasoning}\nFinal Answer: The final answer is ${shown}$. I hope it is correct.",
                ]
            )
            items.append(
                {"completion": text, "answer": gold, "kind": "math", "label": shown == gold}
            )
    return items[:n]


def make_items(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    items = []
    while len(items) < n:
        gold, right, wrong = make_problem(rng)
        for _ in range(4):  # samples per problem share the gold answer, as in a rollout store
            reasoning = FILLER * rng.randint(2, 6)
            r = rng.random()
            if r < 0.55:
                text, finish = (
                    f"<think>{reasoning}</think>\nThe answer is $\\boxed{{{right}}}$.",
                    "stop",
                )
            elif r < 0.85:
                text, finish = f"{reasoning}\nSo the final answer is \\boxed{{{wrong}}}.", "stop"
            elif r < 0.95:
                text, finish = f"{reasoning}\n**Answer:** ${right}$", "stop"
            else:
                text, finish = reasoning, "length"
            items.append(
                {"completion": text, "answer": gold, "kind": "math", "finish_reason": finish}
            )
    return items[:n]


def bench_plain_math_verify(items: list[dict]) -> tuple[float, list[bool]]:
    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    start = time.perf_counter()
    out = []
    for it in items:
        out.append(bool(verify(parse(it["answer"]), parse(it["completion"]))))
    return time.perf_counter() - start, out


def measure(make, args) -> list[dict]:
    """Rounds alternate baseline and ours on fresh problems (other seeds: no cache carries over),
    so a burst of load from a neighbour hits both; the caller reports the median ratio."""
    from verifiers import mathrules, verify_batch
    from verifiers.pool import _close_pools

    rounds = []
    for r in range(args.rounds):
        items = make(args.n, seed=1000 + r)
        # Cold caches every round: fresh workers, no remembered verdicts, no cached golds.
        _close_pools()
        mathrules.remembered.cache_clear()
        mathrules._gold.cache_clear()
        mathrules.to_sympy.cache_clear()
        verify_batch([{"completion": "\\boxed{\\log_2 8}", "answer": "3"}], workers=args.workers)
        mathrules.remembered.cache_clear()
        base_s, base_out = bench_plain_math_verify(items)
        t0 = time.perf_counter()
        ours = verify_batch(items, workers=args.workers)
        ours_s = time.perf_counter() - t0
        n = len(items)
        row = {
            "plain_per_s": n / base_s,
            "ours_per_s": n / ours_s,
            "ratio": base_s / ours_s,
            "agreement": sum((v.correct is True) == b for v, b in zip(ours, base_out, strict=True))
            / n,
        }
        if "label" in items[0]:
            row["accuracy"] = (
                sum((v.correct is True) == it["label"] for v, it in zip(ours, items, strict=True))
                / n
            )
            row["plain_accuracy"] = (
                sum(b == it["label"] for b, it in zip(base_out, items, strict=True)) / n
            )
        rounds.append(row)
        print(
            f"{make.__name__} round {r}: plain {row['plain_per_s']:.0f}/s, verify_batch {row['ours_per_s']:.0f}/s, ratio {row['ratio']:.2f}x",
            flush=True,
        )
    return rounds


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=2000, help="items in the mix")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--timeout", type=float, default=3.0, help="per-item limit for the hostile inputs"
    )
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args()

    from verifiers import verify_batch
    from verifiers.pool import get_pool

    # Start the pool first: a farm starts it once and keeps it, so start-up is reported apart.
    t0 = time.perf_counter()
    verify_batch([{"completion": "\\boxed{\\log_2 8}", "answer": "3"}], workers=args.workers)
    startup = time.perf_counter() - t0

    mixes = {}
    for mix, make in (("synthetic", make_items), ("math500", make_math500_items)):
        rounds = measure(make, args)
        med = sorted(rounds, key=lambda x: x["ratio"])[len(rounds) // 2]
        mixes[mix] = {
            "rounds": [{k: round(v, 3) for k, v in r.items()} for r in rounds],
            "plain_math_verify_per_s": round(med["plain_per_s"], 1),
            "verify_batch_per_s": round(med["ours_per_s"], 1),
            "speedup": round(med["ratio"], 2),
            "agreement_with_plain_math_verify": round(med["agreement"], 3),
            **({"verify_batch_accuracy": round(med["accuracy"], 3)} if "accuracy" in med else {}),
            **(
                {"plain_math_verify_accuracy": round(med["plain_accuracy"], 3)}
                if "plain_accuracy" in med
                else {}
            ),
        }

    hostile = {}
    pool = get_pool(args.workers)
    for name, text in HOSTILE.items():
        t0 = time.perf_counter()
        (v,) = pool.map([{"completion": text, "answer": "7"}], timeout=args.timeout)
        took = time.perf_counter() - t0
        hostile[name] = {
            "seconds": round(took, 3),
            "within_limit_plus_1s": took <= args.timeout + 1.0,
            "correct": v.correct,
            "reason": v.reason[:60],
        }

    res = {
        "command": "python bench/bench_verify.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()} {platform.processor() or ''} cores={__import__('os').cpu_count()}".strip(),
        "items_per_round": args.n,
        "workers": args.workers,
        "pool_startup_s": round(startup, 2),
        "mixes": mixes,
        # The synthetic mix's median, under the keys earlier results used.
        "speedup": mixes["synthetic"]["speedup"],
        "hostile_timeout_s": args.timeout,
        "hostile": hostile,
    }
    for mix, m in mixes.items():
        print(
            f"{mix}: median of {len(m['rounds'])} rounds of {args.n} completions, {args.workers} workers"
        )
        print(f"  plain math-verify  {m['plain_math_verify_per_s']:>9.1f} verifications/s")
        print(
            f"  verify_batch       {m['verify_batch_per_s']:>9.1f} verifications/s   ratio {m['speedup']:.2f}x (target >= 5x)"
        )
        if "verify_batch_accuracy" in m:
            print(
                f"  accuracy against the mix's labels: verify_batch {m['verify_batch_accuracy']:.3f}, plain math-verify {m['plain_math_verify_accuracy']:.3f}"
            )
    print(f"  pool start-up {res['pool_startup_s']} s (once per process)")
    print(f"hostile inputs (limit {args.timeout} s, each must return within limit + 1 s):")
    for name, h in hostile.items():
        print(
            f"  {name:<18}{h['seconds']:>7.2f} s  {'ok ' if h['within_limit_plus_1s'] else 'SLOW'}  -> {h['correct']} ({h['reason']})"
        )
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
