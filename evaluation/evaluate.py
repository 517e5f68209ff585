"""rd-eval: evaluate checkpoints on benchmarks (pass@1 with intervals) and compare them stage by stage.

    rd-eval                                                    # the base model on the held-out set
    rd-eval run_dir=runs/demo benchmarks.heldout.limit=100 sampling.max_tokens=128
    rd-eval '++checkpoints={sft: runs/demo/sft/final, dpo: runs/demo/dpo/final}'   # base, sft, dpo
    rd-eval +problems@benchmarks.math500=math500 benchmarks.math500.limit=100      # add MATH-500
    rd-eval greedy=true ks=[1]                                 # one greedy sample per problem

Every checkpoint answers every benchmark with the same prompts and the same per-problem seeds, so
their per-problem scores pair up and a stage's gain over the previous one gets a paired test.
Outputs under run_dir/eval/:
  <checkpoint>/<benchmark>/samples.jsonl   one line per sample: problem_id, index, seed, completion,
                                           finish_reason, num_tokens, correct, extracted, verdict
  <checkpoint>/<benchmark>/problems.jsonl  one line per problem: n, correct, unjudged, pass@1,
                                           majority_correct, truncated, mean_tokens
  <checkpoint>/<benchmark>/metrics.json    pass@1 and its 95% CI, pass@k, maj@n, truncation, tokens,
                                           speed, and the protocol fingerprint; written last
  table.md, table.json   rows = checkpoints in order, columns = benchmarks: pass@1 % [95% CI], delta
                         vs the row above with a paired-bootstrap p-value; maj@n, truncation, tokens
  comparison.json        every paired comparison (compare()): each checkpoint vs the row above it
                         ("stages") and the last vs the first ("overall"), per benchmark: delta,
                         its 95% CI, p-value; what rd-pipeline's report quotes
  accuracy.png, summary.json, config.yaml
Every checkpoint x benchmark follows the stage contract (rollout/stage.py) on its own: its
fingerprint covers the model's identity (a stage's checkpoint by that stage's fingerprint, another
folder by the content hash of its files), the engine, benchmark, prompt, sampling and seed. A cell
with the same fingerprint is not generated again (re-running after a crash redoes only the
unfinished ones; a retrained checkpoint is evaluated again, the others are not); a cell whose
fingerprint changed is moved aside to <benchmark>.<old fingerprint>/. Changing `ks` or `n_boot`
only recomputes the statistics.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from evaluation.metrics import (
    bootstrap_ci,
    breakdown,
    majority_vote,
    paired_bootstrap,
    pass_at_k,
)
from rollout.engines import EngineConfig, ModelConfig, engine_kwargs
from rollout.farm import SamplingConfig
from rollout.problems import ProblemsConfig, load_problems, problems_preset
from rollout.prompts import THINKING_MODES, PromptConfig
from rollout.stage import Stage, model_id
from rollout.store import (
    save_figure_atomic,
    write_json_atomic,
    write_jsonl_atomic,
    write_text_atomic,
)
from verifiers.jsonl import load_jsonl


@dataclass
class EvalConfig:
    run_dir: str = "runs/demo"
    # name -> model folder, recipe name (rollout/models.py) or hub name; rows of the table, in order
    checkpoints: dict[str, str] = field(default_factory=lambda: {"base": "smollm2_135m"})
    # name -> problems; conf/eval.yaml adds the held-out set by name (conf/problems/heldout.yaml)
    benchmarks: dict[str, ProblemsConfig] = field(
        default_factory=lambda: {"heldout": problems_preset("heldout")}
    )
    seed: int = 0  # per-problem sampling seeds (the same for every checkpoint) and the bootstrap
    greedy: bool = (
        False  # one sample per problem at temperature 0 (overrides sampling.n/temperature)
    )
    ks: list[int] = field(
        default_factory=lambda: [1, 4]
    )  # pass@k; k > samples is skipped with a note
    n_boot: int = 10000  # bootstrap resamples for intervals and paired p-values
    chunk_size: int = 64  # prompts per engine call (the progress bar's step)
    plot: bool = True
    model: ModelConfig = field(default_factory=ModelConfig)  # engine options (vllm:, hf:) only
    engine: EngineConfig = field(default_factory=EngineConfig)
    # No worked example: checkpoints are trained on conversations rendered without one (rd-curate).
    prompt: PromptConfig = field(default_factory=lambda: PromptConfig(example=False))
    sampling: SamplingConfig = field(default_factory=lambda: SamplingConfig(top_p=0.95))
    on_change: str = "rerun"  # a cell's settings or checkpoint changed: rerun | error


ConfigStore.instance().store(name="eval_schema", node=EvalConfig)
# Keys that cannot change a number in the table (rollout/stage.py leaves them out of the fingerprint).
NON_RESULT = ("chunk_size", "plot")
CELL = ("metrics.json", "problems.jsonl", "samples.jsonl")  # a finished checkpoint x benchmark

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")  # becomes a folder name
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def checkpoint_error(name: str, spec: str) -> str | None:
    """Why checkpoints.<name> cannot be loaded, or None. Hub names pass (the engine reports those)."""
    from rollout.models import RECIPES

    if spec in RECIPES:
        return None
    path = Path(spec).expanduser()
    if path.is_dir():
        if (path / "config.json").exists():
            return None
        return (
            f"checkpoints.{name}={spec} has no config.json, so it is not a saved model; "
            "point it at the stage's final model folder (run_dir/<stage>/final)"
        )
    if _HUB_ID.fullmatch(spec) and not Path(spec.split("/")[0]).exists():
        return None
    return (
        f"checkpoints.{name}={spec}: no such model folder. Run that stage first (it saves "
        f"run_dir/<stage>/final), or set checkpoints.{name} to a model folder, a recipe "
        f"({', '.join(sorted(RECIPES))}) or a hub name (org/model), or drop it with ~checkpoints.{name}"
    )


def validate(cfg: EvalConfig) -> None:
    """Every config error at once, each naming the key and the fix."""
    from rollout.engines import ENGINES

    errors = []
    if not cfg.checkpoints:
        errors.append(
            "checkpoints is empty; give at least one, e.g. '++checkpoints={base: smollm2_135m}'"
        )
    if not cfg.benchmarks:
        errors.append("benchmarks is empty; e.g. +problems@benchmarks.math500=math500")
    for group, names in (("checkpoints", cfg.checkpoints), ("benchmarks", cfg.benchmarks)):
        for name in names:
            if not _NAME.fullmatch(name):
                errors.append(
                    f"{group}.{name}: names become folder names; use letters, digits and _ . + -"
                )
    for name, spec in cfg.checkpoints.items():
        why = checkpoint_error(name, str(spec))
        if why:
            errors.append(why)
    if cfg.sampling.n < 1:
        errors.append(f"sampling.n must be >= 1, got {cfg.sampling.n}")
    if cfg.sampling.max_tokens < 1:
        errors.append(f"sampling.max_tokens must be >= 1, got {cfg.sampling.max_tokens}")
    if cfg.sampling.temperature < 0:
        errors.append(f"sampling.temperature must be >= 0, got {cfg.sampling.temperature}")
    if not cfg.ks or any(k < 1 for k in cfg.ks):
        errors.append(f"ks must be a non-empty list of integers >= 1, got {list(cfg.ks)}")
    if cfg.n_boot < 100:
        errors.append(f"n_boot must be >= 100 for a usable 95% interval, got {cfg.n_boot}")
    if cfg.chunk_size < 1:
        errors.append(f"chunk_size must be >= 1, got {cfg.chunk_size}")
    if cfg.prompt.thinking not in THINKING_MODES:
        errors.append(
            f"prompt.thinking must be one of {THINKING_MODES}, got {cfg.prompt.thinking!r}"
        )
    if cfg.engine.name not in ENGINES:
        errors.append(
            f"engine.name={cfg.engine.name!r} is not an engine; choose one of {sorted(ENGINES)}"
        )
    if errors:
        raise ValueError("invalid rd-eval config:\n  " + "\n  ".join(errors))


def sampling_of(cfg: EvalConfig) -> tuple[int, dict[str, Any]]:
    """Samples per problem and the engine's sampling options, greedy applied."""
    if cfg.greedy:
        return 1, {**cfg.sampling.params(), "temperature": 0.0, "top_p": 1.0}
    return cfg.sampling.n, cfg.sampling.params()


def protocol(
    cfg: EvalConfig, spec: str, bench: ProblemsConfig, problems: list[dict]
) -> dict[str, Any]:
    """Everything that decides what was generated; metrics.json is reused only when it matches.
    The model counts by its identity (rollout/stage.py model_id): a stage's checkpoint by that
    stage's fingerprint, another folder by the content hash of its files, not by its path."""
    n, sampling = sampling_of(cfg)
    ids = json.dumps([[p["problem_id"], p.get("answer")] for p in problems], ensure_ascii=False)
    return {
        "model": model_id(spec),
        "engine": cfg.engine.name,
        "benchmark": asdict(bench),
        "problems_sha": hashlib.sha256(ids.encode("utf-8")).hexdigest()[:16],
        "prompt": asdict(cfg.prompt),
        "sampling": {"n": n, **sampling},
        "seed": cfg.seed,
    }


def generate_and_verify(
    engine, problems: list[dict], cfg: EvalConfig, desc: str
) -> tuple[list[dict], dict[str, float]]:
    """Every problem's samples, verified. Returns (sample records, {seconds, tokens})."""
    from tqdm import tqdm

    from rollout.farm import derive_seed
    from rollout.prompts import render
    from verifiers import verify_batch

    n, sampling = sampling_of(cfg)
    texts = [render(engine.tokenizer, p, cfg.prompt) for p in problems]
    seeds = [derive_seed(cfg.seed, p["problem_id"], 0) for p in problems]
    records, seconds, tokens = [], 0.0, 0
    bar = tqdm(
        total=len(problems) * n,
        desc=f"{desc} generate",
        unit="sample",
        file=sys.stderr,
        disable=None,
    )
    for start in range(0, len(problems), cfg.chunk_size):
        end = start + cfg.chunk_size
        t0 = time.perf_counter()
        outputs = engine.generate(texts[start:end], n, seeds[start:end], sampling)
        seconds += time.perf_counter() - t0
        for p, seed, samples in zip(problems[start:end], seeds[start:end], outputs, strict=True):
            for i, s in enumerate(samples):
                tokens += s.num_tokens
                records.append(
                    {
                        "problem_id": p["problem_id"],
                        "index": i,
                        "seed": seed,
                        "completion": s.text,
                        "finish_reason": s.finish_reason,
                        "num_tokens": s.num_tokens,
                    }
                )
        bar.update(sum(len(o) for o in outputs))
        bar.set_postfix(tok_s=f"{tokens / max(1e-9, seconds):.0f}")
    bar.close()

    # Verify with the problem's own fields (answer, kind, meta such as choices), as the farm does.
    by_id = {p["problem_id"]: p for p in problems}
    items = [{**by_id[r["problem_id"]], **r} for r in records]
    bar = tqdm(
        total=len(items), desc=f"{desc} verify", unit="sample", file=sys.stderr, disable=None
    )
    try:
        verdicts = verify_batch(items, progress=bar.update)
    finally:
        bar.close()
    for r, v in zip(records, verdicts, strict=True):
        r["correct"] = v.correct
        r["extracted"] = v.extracted
        r["verdict"] = v.to_dict()
    return records, {"seconds": seconds, "tokens": tokens}


# Problem fields (meta) that rd-eval reports pass@1 by, when a benchmark has them (MATH-500).
BREAKDOWN = ("subject", "level")


def per_problem(problems: list[dict], records: list[dict]) -> list[dict]:
    """One row per problem, in benchmark order: the unit every statistic resamples."""
    meta = {p["problem_id"]: p.get("meta") or {} for p in problems}
    grouped: dict[str, list[dict]] = {p["problem_id"]: [] for p in problems}
    for r in records:
        grouped[r["problem_id"]].append(r)
    rows = []
    for pid, rs in grouped.items():
        n = len(rs)
        correct = sum(r["correct"] is True for r in rs)
        rows.append(
            {
                "problem_id": pid,
                "n": n,
                "correct": correct,
                "unjudged": sum(r["correct"] is None for r in rs),
                "pass@1": correct / n if n else 0.0,
                "majority_correct": majority_vote(
                    [r["extracted"] for r in rs], [r["correct"] for r in rs]
                ),
                "truncated": sum(r["finish_reason"] == "length" for r in rs),
                "mean_tokens": sum(r["num_tokens"] for r in rs) / n if n else 0.0,
                **{k: meta[pid][k] for k in BREAKDOWN if k in meta[pid]},
            }
        )
    return rows


def metrics_of(rows: list[dict], cfg: EvalConfig) -> tuple[dict[str, Any], list[str]]:
    """Benchmark-level numbers from per-problem rows. Returns (metrics, notes on skipped ks)."""
    n = min(r["n"] for r in rows)
    samples = sum(r["n"] for r in rows)
    pass1 = [r["pass@1"] for r in rows]
    lo, hi = bootstrap_ci(pass1, n_boot=cfg.n_boot, seed=cfg.seed)
    pass_k, notes = {}, []
    for k in sorted(set(cfg.ks)):
        if k > n:
            notes.append(
                f"pass@{k} skipped: k={k} > {n} sample(s) per problem "
                f"(raise sampling.n to >= {k}{', and set greedy=false' if cfg.greedy else ''})"
            )
            continue
        pass_k[f"pass@{k}"] = sum(pass_at_k(r["n"], r["correct"], k) for r in rows) / len(rows)
    return {
        "pass@1": sum(pass1) / len(rows),
        "pass@1_ci": [lo, hi],
        "pass@k": pass_k,
        "maj@n": sum(r["majority_correct"] for r in rows) / len(rows),
        "n": n,
        "truncation_rate": sum(r["truncated"] for r in rows) / samples,
        "unjudged_rate": sum(r["unjudged"] for r in rows) / samples,
        "mean_tokens": sum(r["mean_tokens"] * r["n"] for r in rows) / samples,
        "problems": len(rows),
        "samples": samples,
        "breakdown": breakdown(rows, pass1, BREAKDOWN),  # {subject: {...}, level: {...}} or {}
    }, notes


def _paired(cfg: EvalConfig, scores, ck: str, vs: str, b: str) -> dict[str, Any]:
    """Checkpoint `ck` against `vs` on benchmark `b`: paired bootstrap over the problems both have."""
    a, c = scores[vs, b], scores[ck, b]
    common = [pid for pid in a if pid in c]  # the same problems; guard all the same
    cmp = paired_bootstrap(
        [a[p] for p in common], [c[p] for p in common], n_boot=cfg.n_boot, seed=cfg.seed
    )
    return {
        "checkpoint": ck,
        "vs": vs,
        "benchmark": b,
        "problems": len(common),
        "delta": cmp["delta"],
        "delta_ci": list(cmp["ci"]),
        "p_value": cmp["p_value"],
    }


def compare(cfg: EvalConfig, scores: dict[tuple[str, str], dict[str, float]]) -> dict[str, Any]:
    """Every paired comparison rd-eval reports (comparison.json), from per-problem pass@1 scores
    {(checkpoint, benchmark): {problem_id: pass@1}}:
      stages:  each checkpoint against the row above it, per benchmark (table.json's vs/delta cells)
      overall: the last checkpoint against the first, per benchmark (what the whole pipeline
               changed; [] with a single checkpoint)
    Each entry: checkpoint, vs, benchmark, problems (paired), delta (pass@1 points / 100),
    delta_ci (95%), p_value (two-sided); all with this config's n_boot and seed."""
    names = list(cfg.checkpoints)
    stages = [
        _paired(cfg, scores, ck, names[i - 1], b)
        for i, ck in enumerate(names)
        if i > 0
        for b in cfg.benchmarks
    ]
    overall = (
        [_paired(cfg, scores, names[-1], names[0], b) for b in cfg.benchmarks]
        if len(names) > 1
        else []
    )
    return {"n_boot": cfg.n_boot, "seed": cfg.seed, "stages": stages, "overall": overall}


def make_table(
    cfg: EvalConfig, cells: dict[tuple[str, str], dict], compared: dict[str, Any]
) -> dict[str, Any]:
    """Rows = checkpoints in order; each row after the first is compared with the one above it
    (`compared`: what compare() returns)."""
    names = list(cfg.checkpoints)
    vs_above = {(c["checkpoint"], c["benchmark"]): c for c in compared["stages"]}
    rows = []
    for ck in names:
        row: dict[str, Any] = {"checkpoint": ck, "model": cfg.checkpoints[ck], "cells": {}}
        for b in cfg.benchmarks:
            m = cells[ck, b]
            cell = {
                "pass@1": m["pass@1"],
                "ci": m["pass@1_ci"],
                **m["pass@k"],
                "maj@n": m["maj@n"],
                "n": m["n"],
                "truncation_rate": m["truncation_rate"],
                "mean_tokens": m["mean_tokens"],
                "problems": m["problems"],
                "breakdown": m.get("breakdown") or {},
                "vs": None,
                "delta": None,
                "delta_ci": None,
                "p_value": None,
            }
            cmp = vs_above.get((ck, b))
            if cmp is not None:
                cell.update({k: cmp[k] for k in ("vs", "delta", "delta_ci", "p_value")})
            row["cells"][b] = cell
        rows.append(row)
    return {"checkpoints": names, "benchmarks": list(cfg.benchmarks), "rows": rows}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def table_markdown(table: dict[str, Any]) -> str:
    benches = table["benchmarks"]
    first = table["rows"][0]["cells"]
    lines = [
        "## pass@1 (%) [95% bootstrap CI]; vs the row above: delta in points, paired bootstrap p "
        "(* p < 0.05)",
        "",
        "| checkpoint | " + " | ".join(f"{b} ({first[b]['problems']})" for b in benches) + " |",
        "|---" * (len(benches) + 1) + "|",
    ]
    for row in table["rows"]:
        cells = []
        for b in benches:
            c = row["cells"][b]
            text = f"{_pct(c['pass@1'])} [{_pct(c['ci'][0])}, {_pct(c['ci'][1])}]"
            if c["p_value"] is not None:
                p = c["p_value"]
                star = "*" if p < 0.05 else ""
                ptext = "p<0.001" if p < 0.001 else f"p={p:.3f}"
                text += f" {100 * c['delta']:+.1f} {ptext}{star}"
            cells.append(text)
        lines.append(f"| {row['checkpoint']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## maj@n (%), truncated samples (%), mean generated tokens",
        "",
        "| checkpoint | "
        + " | ".join(f"{b} maj@{first[b]['n']} | {b} trunc | {b} tokens" for b in benches)
        + " |",
        "|---" * (3 * len(benches) + 1) + "|",
    ]
    for row in table["rows"]:
        cells = []
        for b in benches:
            c = row["cells"][b]
            cells += [_pct(c["maj@n"]), _pct(c["truncation_rate"]), f"{c['mean_tokens']:.0f}"]
        lines.append(f"| {row['checkpoint']} | " + " | ".join(cells) + " |")
    for b in benches:  # per subject and per level, where the benchmark has them (MATH-500)
        for key, groups in first[b].get("breakdown", {}).items():
            lines += [
                "",
                f"## {b}: pass@1 (%) by {key} (problems)",
                "",
                "| checkpoint | "
                + " | ".join(f"{v} ({g['problems']})" for v, g in groups.items())
                + " |",
                "|---" * (len(groups) + 1) + "|",
            ]
            for row in table["rows"]:
                got = row["cells"][b].get("breakdown", {}).get(key, {})
                cells = [_pct(got[v]["pass@1"]) if v in got else "-" for v in groups]
                lines.append(f"| {row['checkpoint']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_accuracy(table: dict[str, Any], path: Path) -> Path:
    """pass@1 per checkpoint (x = stage in order) with its interval, one series per benchmark."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, benches = table["checkpoints"], table["benchmarks"]
    fig, ax = plt.subplots(figsize=(max(4.5, 1.3 * len(names) + 2), 3.8), dpi=110)
    width = 0.08 * (len(benches) - 1)
    for j, b in enumerate(benches):
        cells = [row["cells"][b] for row in table["rows"]]
        y = [100 * c["pass@1"] for c in cells]
        err = [
            [100 * (c["pass@1"] - c["ci"][0]) for c in cells],
            [100 * (c["ci"][1] - c["pass@1"]) for c in cells],
        ]
        shift = (j / max(1, len(benches) - 1) - 0.5) * width if len(benches) > 1 else 0.0
        x = [i + shift for i in range(len(names))]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=4, label=b)
    ax.set_xticks(range(len(names)), names)
    ax.set_xlim(-0.5, len(names) - 0.5)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("pass@1 (%)")
    ax.set_title("pass@1 by checkpoint, 95% bootstrap CI")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure_atomic(fig, path)
    return path


def run(cfg: EvalConfig, engine=None) -> dict[str, Any]:
    """The stage. An `engine` passed in (tests, benchmarks) serves every checkpoint and stays open."""
    from rollout.engines import make_engine
    from rollout.models import prepare

    # Check the config; nothing to do when the table was made from these settings and checkpoints.
    validate(cfg)
    out = Path(cfg.run_dir) / "eval"
    stage = Stage(
        "rd-eval",
        out,
        cfg,
        ignore=NON_RESULT,
        inputs={
            "checkpoint order": ",".join(cfg.checkpoints),
            **{f"checkpoints.{ck}": model_id(spec) for ck, spec in cfg.checkpoints.items()},
        },
        on_change=cfg.on_change,
        outputs=[
            "table.json",
            "table.md",
            "comparison.json",
            *(f"{ck}/{b}/{f}" for ck in cfg.checkpoints for b in cfg.benchmarks for f in CELL),
        ],
        own=["table.json", "table.md", "comparison.json", "accuracy.png", "config.yaml"],
    )
    if stage.begin() == "done":
        return json.loads((out / "table.json").read_text())
    write_text_atomic(out / "config.yaml", OmegaConf.to_yaml(OmegaConf.structured(cfg)))

    # Load every benchmark before any engine starts.
    problems: dict[str, list[dict]] = {}
    for b, bcfg in cfg.benchmarks.items():
        try:
            problems[b] = load_problems(bcfg)
        except ValueError as e:
            raise ValueError(f"benchmarks.{b}: {e}") from e
        if not problems[b]:
            raise ValueError(f"benchmarks.{b} has no problems; check its source and limit")

    # What is already done: every cell (checkpoint x benchmark) follows the stage contract
    # (rollout/stage.py) on its own, so a retrained checkpoint is evaluated again and no other.
    t_start = time.perf_counter()
    cells: dict[tuple[str, str], dict] = {}
    scores: dict[tuple[str, str], dict[str, float]] = {}
    notes: list[str] = []
    evaluated, reused = [], []
    for ck, spec in cfg.checkpoints.items():
        todo = []
        for b in cfg.benchmarks:
            d = out / ck / b
            proto = protocol(cfg, spec, cfg.benchmarks[b], problems[b])
            cell = Stage(
                f"rd-eval [{ck}/{b}]",
                d,
                {k: v for k, v in proto.items() if k != "model"},
                inputs={"model": proto["model"]},
                on_change=cfg.on_change,
                outputs=CELL,
                summary="metrics.json",
            )
            if cell.decide() == "done":
                reused.append([ck, b])
                continue
            todo.append((b, d, proto, cell))

        # One engine per checkpoint, only when something is left, closed before the next.
        own = engine is None and bool(todo)
        eng = (
            make_engine(cfg.engine.name, prepare(spec), engine_kwargs(cfg.model, cfg.engine))
            if own
            else engine
        )
        try:
            for b, d, proto, cell in todo:
                cell.start(checkpoint=ck, benchmark=b)  # status running: no half-old, half-new cell
                records, speed = generate_and_verify(eng, problems[b], cfg, f"{ck}/{b}")
                rows = per_problem(problems[b], records)
                stats, _ = metrics_of(rows, cfg)
                write_jsonl_atomic(d / "samples.jsonl", records)
                write_jsonl_atomic(d / "problems.jsonl", rows)
                cell.finish(
                    {
                        "checkpoint": ck,
                        "benchmark": b,
                        "protocol": proto,
                        "seconds": round(speed["seconds"], 2),
                        "generated_tokens": speed["tokens"],
                        "tokens_per_s": speed["tokens"] / speed["seconds"]
                        if speed["seconds"]
                        else None,
                        **stats,
                    },
                )
                evaluated.append([ck, b])
        finally:
            if own:
                eng.close()

    # Statistics from the per-problem rows (cheap: a change of ks or n_boot needs no generation).
    for ck in cfg.checkpoints:
        for b in cfg.benchmarks:
            d = out / ck / b
            rows = load_jsonl(d / "problems.jsonl", f"delete {d} to evaluate {ck} on {b} again")
            stats, cell_notes = metrics_of(rows, cfg)
            notes += [n for n in cell_notes if n not in notes]
            saved = json.loads((d / "metrics.json").read_text())
            merged = {**saved, **stats}
            if merged != saved:
                write_json_atomic(d / "metrics.json", merged)
            cells[ck, b] = merged
            scores[ck, b] = {r["problem_id"]: r["pass@1"] for r in rows}
    for note in notes:
        print(f"rd-eval: note: {note}", file=sys.stderr)

    # The comparison: comparison.json, table.md, table.json, accuracy.png, summary.json.
    compared = compare(cfg, scores)
    table = make_table(cfg, cells, compared)
    table["notes"] = notes
    write_json_atomic(out / "comparison.json", compared)
    write_json_atomic(out / "table.json", table)
    markdown = table_markdown(table)
    write_text_atomic(out / "table.md", markdown)
    if cfg.plot:
        plot_accuracy(table, out / "accuracy.png")
    seconds = time.perf_counter() - t_start
    stage.finish(
        {
            "checkpoints": dict(cfg.checkpoints),
            "benchmarks": {b: len(problems[b]) for b in cfg.benchmarks},
            "evaluated": evaluated,
            "reused": reused,
            "seconds": round(seconds, 2),
            "pass@1": {
                ck: {b: cells[ck, b]["pass@1"] for b in cfg.benchmarks} for ck in cfg.checkpoints
            },
            "notes": notes,
        },
    )
    print(markdown)
    print(
        f"rd-eval: {len(evaluated)} evaluated, {len(reused)} reused; {seconds:.0f} s; tables in {out}"
    )
    return table


@hydra.main(config_path="pkg://conf", config_name="eval", version_base="1.3")
def _hydra_main(cfg) -> None:
    typed: EvalConfig = OmegaConf.to_object(cfg)  # type: ignore[assignment]
    try:
        run(typed)
    except ValueError as e:
        print(f"rd-eval: error: {e}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    _hydra_main()


if __name__ == "__main__":
    main()
