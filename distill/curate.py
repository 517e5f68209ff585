"""rd-curate: turn the rollout store into the distill pretraining corpus and the curated SFT set.

    rd-curate                                          # runs/demo/rollout -> runs/demo/curate
    rd-curate run_dir=runs/demo sft.max_tokens=1024 sft.min_pass_rate=0.1 sft.direct_share=0.3
    rd-curate '++sft.mixture={synthetic: 2, numina: 1}' sft.max_examples=200000 seed=1
    python -m distill.curate run_dir=runs/demo         # the same without the installed entry point

Outputs under run_dir/curate/:
  pretrain.jsonl   {"text", "problem_id", "rollout_id"}: every verified-correct rollout, rendered as
                   the model is trained on it (distill/templates.py: its own generation prompt, the
                   completion, its end-of-turn); exact duplicates removed, at most
                   pretrain.per_problem_cap per problem.
  sft.jsonl        {"messages", "switch", "problem_id", "rollout_id", "source", "difficulty", "mode",
                   "num_tokens"}: correct rollouts selected by decontamination, pass rate, length,
                   exact and near (MinHash LSH) duplicates, a cap per problem and a source mixture,
                   then formatted for the hybrid mode ("think" keeps a <think> block, "direct" has an
                   empty one). "switch" (think | direct | null) is the hybrid switch the example is
                   rendered with at training time, through the model's own mechanism where its
                   template has one (Qwen3's enable_thinking), else a /think or /no_think flag on
                   the user turn (rollout/prompts.py training_prompt).
  report.json, report.md   what every step kept and dropped and why, tokens, the decontamination
                   removals (problem, eval set, matched n-gram) and the eval sets that were skipped.
  lengths.png      completion token lengths of the SFT set, think vs direct.
  summary.json, config.yaml   small summary (the stage fingerprint: config and the store's content
                   hash, rollout/stage.py) and the resolved config.
A re-run with the same config on the same store does nothing; anything else moves the old outputs
aside (run_dir/curate.<old fingerprint>/) and rebuilds everything.
"""

from __future__ import annotations

import random
import sys
import time
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from rollout.problems import SOURCES
from rollout.prompts import (  # noqa: F401  (split_completion: re-exported for tests)
    MODE_FLAGS,
    PromptConfig,
    format_answer,
    generation_prompt,
    split_completion,
)
from rollout.selection import (  # noqa: F401  (EvalIndex, words: re-exported for tests and users)
    DecontamConfig,
    EvalIndex,
    Steps,
    cap_per_problem,
    contaminated,
    dedup_key,
    drop_contaminated,
    drop_exact_duplicates,
    load_eval_sets,
    load_tokenizer,
    only_correct,
    pass_rates,
    rollout_order,
    store_shards,
    token_counts,
    token_stats,
    words,
)
from rollout.stage import Stage, files_id

OUTPUTS = ("pretrain.jsonl", "sft.jsonl", "report.json", "report.md", "summary.json")
# Keys that cannot change the outputs' content (rollout/stage.py leaves them out of the fingerprint).
NON_RESULT = ("input_dir", "plot")  # the store's content is an input; plot adds lengths.png only


@dataclass
class PretrainSelection:
    per_problem_cap: int | None = 8  # null: every distinct correct rollout
    decontaminate: bool = True  # drop eval-set prompts here too, or stage 1 trains on the test


@dataclass
class SFTSelection:
    min_pass_rate: float = 0.0  # a problem's correct / judged rollouts; unjudged ones do not count
    max_pass_rate: float = 1.0
    min_tokens: int = 0  # length window on the completion, in tokenizer tokens
    max_tokens: int | None = None  # null: no upper bound
    per_problem_cap: int | None = 4  # null: no cap
    near_dup_threshold: float | None = 0.9  # MinHash Jaccard of prompt+completion; null: off
    near_dup_ngram: int = 5  # word shingles
    near_dup_num_perm: int = 64
    mixture: dict[str, float] = field(default_factory=dict)  # source -> weight; empty: keep all
    max_examples: int | None = None  # null: as many as the mixture allows
    direct_share: float = 0.2  # share formatted as direct answers, taken from the easiest
    mode_switch: bool = True  # train with the hybrid switch (enable_thinking, or /think, /no_think)


@dataclass
class CurateConfig:
    run_dir: str = "runs/demo"
    input_dir: str | None = None  # the rollout store; null: run_dir/rollout
    tokenizer: str = "smollm2_135m"  # a recipe name (rollout/models.py) or a model folder
    system: str | None = None  # system turn of the rendered conversations; null: the template's
    seed: int = 0  # mixture sampling and tie-breaks among equally easy problems
    plot: bool = True
    pretrain: PretrainSelection = field(default_factory=PretrainSelection)
    sft: SFTSelection = field(default_factory=SFTSelection)
    decontam: DecontamConfig = field(default_factory=DecontamConfig)
    on_change: str = "rerun"  # settings or store changed: rerun (old outputs moved aside) | error


ConfigStore.instance().store(name="curate_schema", node=CurateConfig)


def validate(cfg: CurateConfig) -> None:
    """Every config error at once, each naming the key and the fix."""
    s, errors = cfg.sft, []
    if not 0.0 <= s.min_pass_rate <= s.max_pass_rate <= 1.0:
        errors.append(
            "need 0 <= sft.min_pass_rate <= sft.max_pass_rate <= 1, got "
            f"{s.min_pass_rate} and {s.max_pass_rate}"
        )
    if s.min_tokens < 0:
        errors.append(f"sft.min_tokens must be >= 0, got {s.min_tokens}")
    if s.max_tokens is not None and s.max_tokens < max(1, s.min_tokens):
        errors.append(
            f"sft.max_tokens must be >= max(1, sft.min_tokens={s.min_tokens}) or null, got {s.max_tokens}"
        )
    for key, cap in (
        ("pretrain.per_problem_cap", cfg.pretrain.per_problem_cap),
        ("sft.per_problem_cap", s.per_problem_cap),
        ("sft.max_examples", s.max_examples),
    ):
        if cap is not None and cap < 1:
            errors.append(f"{key} must be >= 1 or null (no limit), got {cap}")
    if s.near_dup_threshold is not None and not 0.0 < s.near_dup_threshold <= 1.0:
        errors.append(
            f"sft.near_dup_threshold must be in (0, 1] or null (off), got {s.near_dup_threshold}"
        )
    if s.near_dup_ngram < 1:
        errors.append(f"sft.near_dup_ngram must be >= 1, got {s.near_dup_ngram}")
    if s.near_dup_num_perm < 16:
        errors.append(f"sft.near_dup_num_perm must be >= 16, got {s.near_dup_num_perm}")
    if not 0.0 <= s.direct_share <= 1.0:
        errors.append(f"sft.direct_share must be in [0, 1], got {s.direct_share}")
    bad = {k: w for k, w in s.mixture.items() if w < 0}
    if bad:
        errors.append(f"sft.mixture weights must be >= 0, got {bad}")
    elif s.mixture and not any(s.mixture.values()):
        errors.append("sft.mixture has only zero weights; give a source a weight > 0, or use {}")
    if cfg.decontam.ngram < 1:
        errors.append(f"decontam.ngram must be >= 1, got {cfg.decontam.ngram}")
    for i, pc in enumerate(cfg.decontam.sets):
        if pc.source not in SOURCES:
            errors.append(
                f"decontam.sets[{i}].source={pc.source!r} is not a source; choose one of {sorted(SOURCES)}"
            )
    if errors:
        raise ValueError("invalid rd-curate config:\n  " + "\n  ".join(errors))


# ---------------------------------------------------------------------------------------------
# Text helpers: words for n-grams, completions split into reasoning and answer.

# Math symbols stay as words: with them stripped "What is 15 + 10?" and "What is 15 - 10?" would
# match, and "What is 14 - (3 - 15)?" would contain "What is 14 - 3?".


# ---------------------------------------------------------------------------------------------
# Selection steps. Each takes records and returns (kept, {reason: dropped count}).


def drop_near_duplicates(
    records: list[dict], threshold: float, ngram: int, num_perm: int
) -> tuple[list[dict], dict[str, int], list[dict]]:
    """Keep the first of every group whose prompt+completion shingles overlap >= threshold."""
    from datasketch import MinHash, MinHashLSH

    def shingles(r: dict) -> set[bytes]:
        w = words(r["prompt"] + "\n" + r["completion"])
        grams = [w[i : i + ngram] for i in range(max(1, len(w) - ngram + 1))]
        return {" ".join(g).encode("utf-8") for g in grams}

    # crc32: a stable hash in C, ~5x faster than datasketch's default sha1 on millions of shingles.
    sigs = MinHash.bulk(
        (shingles(r) for r in records), num_perm=num_perm, seed=1, hashfunc=zlib.crc32
    )
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    kept, pairs = [], []
    for i, (r, sig) in enumerate(zip(records, sigs, strict=True)):
        # LSH gives candidates; the signature's Jaccard estimate decides.
        hits = [(sig.jaccard(sigs[j]), j) for j in lsh.query(sig)]
        hits = [h for h in hits if h[0] >= threshold]
        if hits:
            sim, j = max(hits)
            pairs.append(
                {
                    "rollout_id": r["rollout_id"],
                    "duplicate_of": records[j]["rollout_id"],
                    "similarity": round(sim, 3),
                }
            )
            continue
        lsh.insert(i, sig)
        kept.append(r)
    return kept, {"near duplicate": len(records) - len(kept)}, pairs


def mix_sources(
    records: list[dict], weights: dict[str, float], max_examples: int | None, seed: int
) -> tuple[list[dict], dict[str, int], dict[str, Any]]:
    """Sample per source in proportion to the weights, without replacement, up to max_examples.

    The ratio is kept exactly: the total is the largest that every weighted source can fill (and at
    most max_examples), so a small source limits the whole mixture instead of silently skewing it.
    Empty weights mean the sources' own proportions.
    """
    by_source: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_source[r.get("source", "-")].append(r)
    have = {s: len(rs) for s, rs in by_source.items()}
    w = dict(weights) if weights else {s: float(n) for s, n in have.items()}
    active = {s: x for s, x in w.items() if x > 0}
    missing = sorted(s for s in active if s not in have)
    if missing:  # most likely a typo; a zero here would silently empty the whole mixture
        raise ValueError(
            f"sft.mixture weights source(s) {missing} that have no examples after the earlier steps "
            f"(sources left: {sorted(have)}); fix the name, or give it weight 0"
        )
    total_w = sum(active.values())
    # Largest total T with T * w_s / W <= have_s for every weighted source.
    fits = {s: have[s] * total_w / x for s, x in active.items()}
    target = int(min(fits.values()) + 1e-9)
    limited_by = None
    if target < sum(have[s] for s in active):
        limited_by = min(fits, key=lambda s: (fits[s], s))
    if max_examples is not None and max_examples < target:
        target, limited_by = max_examples, "max_examples"
    # Largest-remainder rounding so the quotas add up to the target.
    exact = {s: target * x / total_w for s, x in active.items()}
    quota = {s: min(int(v), have[s]) for s, v in exact.items()}
    for s in sorted(exact, key=lambda s: (-(exact[s] - int(exact[s])), s)):
        if sum(quota.values()) >= target:
            break
        if quota[s] < have[s]:
            quota[s] += 1
    kept, not_in_mix = [], 0
    for s, rs in sorted(by_source.items()):
        q = quota.get(s, 0)
        if s not in active:
            not_in_mix += len(rs)
            continue
        picked = set(random.Random(f"{seed}:{s}").sample(range(len(rs)), q))
        kept += [r for i, r in enumerate(rs) if i in picked]
    kept.sort(key=rollout_order)
    dropped = {
        "source not in mixture": not_in_mix,
        "over mixture quota": len(records) - len(kept) - not_in_mix,
    }
    info = {
        "weights": w if weights else {},
        "available": have,
        "taken": dict(Counter(r.get("source", "-") for r in kept)),
        "limited_by": limited_by,
    }
    return kept, dropped, info


# ---------------------------------------------------------------------------------------------
# Decontamination against evaluation sets.


def pretrain_completion(tokenizer, r: dict, prompt_cfg: PromptConfig) -> str:
    """A rollout's completion as the pretraining corpus holds it: as written, unless the model's
    generation prompt opens a think block (R1-Distill) and the completion has none, which then gets
    its reasoning put in one (the prompt's <think> must be closed)."""
    from rollout.prompts import messages

    completion = r["completion"]
    opened = generation_prompt(tokenizer, messages(r, prompt_cfg)).prefix
    if completion.startswith(opened):
        return completion
    return format_answer(*split_completion(completion), "think")


# ---------------------------------------------------------------------------------------------
# Outputs.


def plot_lengths(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rollout.store import save_figure_atomic

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    series = {m: [r["num_tokens"] for r in rows if r["mode"] == m] for m in MODE_FLAGS}
    if any(series.values()):
        top = max(max(v) for v in series.values() if v)
        bins = list(range(0, top + max(1, top // 30) + 1, max(1, top // 30)))
        for (mode, lens), color in zip(series.items(), ("#3b75af", "#ef8636"), strict=True):
            if lens:
                ax.hist(lens, bins=bins, alpha=0.75, label=f"{mode} ({len(lens)})", color=color)
        ax.legend()
    ax.set_xlabel("assistant tokens")
    ax.set_ylabel("examples")
    ax.set_title(f"SFT completion lengths ({len(rows)} examples)")
    fig.tight_layout()
    save_figure_atomic(fig, path)


def report_markdown(report: dict[str, Any]) -> str:
    lines = [f"# rd-curate report: {report['input']['dir']}", ""]
    lines.append(
        f"{report['input']['rollouts']} rollouts of {report['input']['problems']} problems "
        f"from {len(report['input']['shards'])} shard file(s)."
    )
    for part in ("pretrain", "sft"):
        rep = report[part]
        tok = rep["tokens"]
        lines += [
            "",
            f"## {part}.jsonl: {rep['examples']} examples, {tok['total']} tokens (mean {tok['mean']})",
            "",
            "| step | in | kept | dropped |",
            "|---|---:|---:|---|",
        ]
        for row in rep["steps"]:
            dropped = ", ".join(f"{k}: {v}" for k, v in row["dropped"].items()) or "-"
            lines.append(f"| {row['step']} | {row['in']} | {row['kept']} | {dropped} |")
    sft = report["sft"]
    lines += ["", "Modes: " + ", ".join(f"{m}: {n}" for m, n in sft["modes"].items())]
    for m, t in sft["tokens_by_mode"].items():
        lines.append(f"- {m}: {t['total']} tokens, mean {t['mean']}")
    mix = sft["mixture"]
    if mix:
        lines += ["", "| source | available | taken | weight |", "|---|---:|---:|---:|"]
        for s in sorted(mix["available"]):
            lines.append(
                f"| {s} | {mix['available'][s]} | {mix['taken'].get(s, 0)} | {mix['weights'].get(s, '-')} |"
            )
        lines.append(f"\nLimited by: {mix['limited_by']}")
    dc = report["decontamination"]
    lines += ["", f"## Decontamination ({dc['ngram']}-grams)", ""]
    for s in dc["sets"]:
        lines.append(f"- checked {s['set']}: {s['problems']} problems")
    for s in dc["skipped"]:
        lines.append(f"- SKIPPED {s['set']}: {s['reason']}")
    if dc["removed"]:
        lines += [
            "",
            "| problem_id | source | eval set | eval problem | matched n-gram |",
            "|---|---|---|---|---|",
        ]
        for r in dc["removed"]:
            lines.append(
                f"| {r['problem_id']} | {r['source']} | {r['eval_set']} | {r['eval_problem_id']} | {r['ngram']} |"
            )
    else:
        lines.append("\nNo training prompt overlaps an evaluation set.")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# The stage.


def run(cfg: CurateConfig) -> dict[str, Any]:
    """The stage; returns the summary, with up_to_date=True when there was nothing to do."""
    from distill.templates import training_text
    from rollout.prompts import messages
    from rollout.store import (
        read_store,
        write_json_atomic,
        write_jsonl_atomic,
        write_text_atomic,
    )

    # Check the config and the store; stop early when nothing changed (rollout/stage.py).
    validate(cfg)
    src, shards = store_shards(cfg.input_dir, cfg.run_dir)
    out = Path(cfg.run_dir) / "curate"
    cfg_yaml = OmegaConf.to_yaml(OmegaConf.structured(cfg))
    stage = Stage(
        "rd-curate",
        out,
        cfg,
        ignore=NON_RESULT,
        inputs={"store": files_id(shards)},
        on_change=cfg.on_change,
        outputs=[*OUTPUTS, "config.yaml", *(["lengths.png"] if cfg.plot else [])],
    )
    if stage.begin(input_paths={"store": str(src)}) == "done":
        return {**stage.previous, "up_to_date": True}
    t0 = time.perf_counter()

    # Load the rollouts, the tokenizer and the eval sets.
    records = sorted(read_store(src), key=rollout_order)
    tokenizer = load_tokenizer(cfg.tokenizer)
    prompt_cfg = PromptConfig(example=False, system=cfg.system)
    index, eval_loaded, eval_skipped = load_eval_sets(cfg.decontam.sets, cfg.decontam.ngram)
    for skip in eval_skipped:
        print(f"rd-curate: skipped eval set {skip['set']}: {skip['reason']}", file=sys.stderr)
    correct, correct_dropped = only_correct(records)
    bad = contaminated(correct, index)

    # Pretraining corpus: every distinct verified CoT, capped per problem.
    pt = Steps()
    kept = pt.add("correct", len(records), correct, correct_dropped)
    if cfg.pretrain.decontaminate:
        kept = pt.add("decontaminate", len(kept), *drop_contaminated(kept, bad))
    kept = pt.add("exact dedup", len(kept), *drop_exact_duplicates(kept))
    kept = pt.add(
        "per-problem cap", len(kept), *cap_per_problem(kept, cfg.pretrain.per_problem_cap)
    )
    pretrain_rows = [
        {
            "text": training_text(
                tokenizer, messages(r, prompt_cfg), pretrain_completion(tokenizer, r, prompt_cfg)
            ),
            "problem_id": r["problem_id"],
            "rollout_id": r["rollout_id"],
        }
        for r in kept
    ]
    pretrain_tokens = token_counts(tokenizer, [r["text"] for r in pretrain_rows])

    # SFT set: select.
    s = cfg.sft
    rates = pass_rates(records)
    st = Steps()
    kept = st.add("correct", len(records), correct, correct_dropped)
    kept = st.add("decontaminate", len(kept), *drop_contaminated(kept, bad))
    in_window = [r for r in kept if s.min_pass_rate <= rates[r["problem_id"]] <= s.max_pass_rate]
    kept = st.add(
        "pass-rate window",
        len(kept),
        in_window,
        {
            "too hard": sum(rates[r["problem_id"]] < s.min_pass_rate for r in kept),
            "too easy": sum(rates[r["problem_id"]] > s.max_pass_rate for r in kept),
        },
    )
    lengths = dict(
        zip(
            (r["rollout_id"] for r in kept),
            token_counts(tokenizer, [r["completion"] for r in kept]),
            strict=True,
        )
    )
    upper = s.max_tokens if s.max_tokens is not None else float("inf")
    kept = st.add(
        "length window",
        len(kept),
        [r for r in kept if s.min_tokens <= lengths[r["rollout_id"]] <= upper],
        {
            "too short": sum(lengths[r["rollout_id"]] < s.min_tokens for r in kept),
            "too long": sum(lengths[r["rollout_id"]] > upper for r in kept),
        },
    )
    kept = st.add("exact dedup", len(kept), *drop_exact_duplicates(kept))
    near_pairs: list[dict] = []
    if s.near_dup_threshold is not None and kept:
        deduped, dropped, near_pairs = drop_near_duplicates(
            kept, s.near_dup_threshold, s.near_dup_ngram, s.near_dup_num_perm
        )
        kept = st.add("near dedup", len(kept), deduped, dropped)
    kept = st.add("per-problem cap", len(kept), *cap_per_problem(kept, s.per_problem_cap))
    mixture_info: dict[str, Any] = {}
    if kept and (s.mixture or s.max_examples is not None):
        mixed, dropped, mixture_info = mix_sources(kept, s.mixture, s.max_examples, cfg.seed)
        kept = st.add("mixture", len(kept), mixed, dropped)

    # SFT set: hybrid mode. Completions without reasoning can only be direct; the rest of the direct
    # share comes from the easiest problems (ties broken by seed), whose reasoning the model least needs.
    parts = {r["rollout_id"]: split_completion(r["completion"]) for r in kept}
    natural = {rid for rid, (reasoning, _) in parts.items() if not reasoning}
    want = int(s.direct_share * len(kept) + 0.5)
    rng = random.Random(cfg.seed)
    candidates = [r for r in kept if r["rollout_id"] not in natural]
    tiebreak = {r["rollout_id"]: rng.random() for r in candidates}
    candidates.sort(key=lambda r: (-rates[r["problem_id"]], tiebreak[r["rollout_id"]]))
    direct = natural | {r["rollout_id"] for r in candidates[: max(0, want - len(natural))]}
    sft_rows = []
    for r in kept:
        mode = "direct" if r["rollout_id"] in direct else "think"
        msgs = messages(r, prompt_cfg)  # the switch is applied when rendered (training_prompt)
        content = format_answer(*parts[r["rollout_id"]], mode)
        sft_rows.append(
            {
                "messages": msgs + [{"role": "assistant", "content": content}],
                "switch": mode if s.mode_switch else None,
                "problem_id": r["problem_id"],
                "rollout_id": r["rollout_id"],
                "source": r.get("source"),
                "difficulty": rates[r["problem_id"]],
                "mode": mode,
                "num_tokens": 0,
            }
        )
    for row, n in zip(
        sft_rows,
        token_counts(tokenizer, [row["messages"][-1]["content"] for row in sft_rows]),
        strict=True,
    ):
        row["num_tokens"] = n

    # Write everything; config.yaml last.
    write_jsonl_atomic(out / "pretrain.jsonl", pretrain_rows)
    write_jsonl_atomic(out / "sft.jsonl", sft_rows)
    modes = Counter(r["mode"] for r in sft_rows)
    correct_per_problem = Counter(r["problem_id"] for r in correct)
    report = {
        "input": {
            "dir": str(src),
            "shards": [p.name for p in shards],
            "rollouts": len(records),
            "problems": len(rates),
        },
        "pretrain": {
            "examples": len(pretrain_rows),
            "steps": pt.rows,
            "tokens": token_stats(pretrain_tokens),
        },
        "sft": {
            "examples": len(sft_rows),
            "steps": st.rows,
            "tokens": token_stats([r["num_tokens"] for r in sft_rows]),
            "tokens_by_mode": {
                m: token_stats([r["num_tokens"] for r in sft_rows if r["mode"] == m])
                for m in MODE_FLAGS
            },
            "modes": {m: modes.get(m, 0) for m in MODE_FLAGS},
            "direct_without_reasoning": len(natural),
            "sources": dict(sorted(Counter(r["source"] for r in sft_rows).items())),
            "mixture": mixture_info,
            "near_duplicates": {"count": len(near_pairs), "examples": near_pairs[:100]},
        },
        "decontamination": {
            "ngram": cfg.decontam.ngram,
            "sets": eval_loaded,
            "skipped": eval_skipped,
            "removed": [
                {**entry, "rollouts": correct_per_problem[pid]}
                for pid, entry in sorted(bad.items())
            ],
        },
    }
    write_json_atomic(out / "report.json", report)
    write_text_atomic(out / "report.md", report_markdown(report))
    if cfg.plot:
        plot_lengths(sft_rows, out / "lengths.png")
    summary = {
        "pretrain_examples": len(pretrain_rows),
        "pretrain_tokens": report["pretrain"]["tokens"]["total"],
        "sft_examples": len(sft_rows),
        "sft_tokens": report["sft"]["tokens"]["total"],
        "think": modes.get("think", 0),
        "direct": modes.get("direct", 0),
        "decontaminated_problems": len(bad),
        "skipped_eval_sets": [skip["set"] for skip in eval_skipped],
        "seconds": round(time.perf_counter() - t0, 2),
        "input_paths": {"store": str(src)},
    }
    write_text_atomic(out / "config.yaml", cfg_yaml)
    summary = stage.finish(summary)  # last: until it is written the outputs count as unfinished
    print(
        f"rd-curate: {len(records)} rollouts -> pretrain.jsonl {len(pretrain_rows)} "
        f"({summary['pretrain_tokens']} tokens), sft.jsonl {len(sft_rows)} "
        f"(think {summary['think']}, direct {summary['direct']}; {summary['sft_tokens']} tokens); "
        f"{len(bad)} contaminated problem(s) removed; report in {out / 'report.md'}"
    )
    return {**summary, "up_to_date": False}


@hydra.main(config_path="pkg://conf", config_name="curate", version_base="1.3")
def _hydra_main(cfg) -> None:
    typed: CurateConfig = OmegaConf.to_object(cfg)  # type: ignore[assignment]
    try:
        run(typed)
    except ValueError as e:
        print(f"rd-curate: error: {e}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    _hydra_main()


if __name__ == "__main__":
    main()
