"""rd-curate: turn the rollout store into the distill pretraining corpus and the curated SFT set.

    rd-curate                                          # runs/demo/rollout -> runs/demo/curate
    rd-curate run_dir=runs/demo sft.max_tokens=1024 sft.min_pass_rate=0.1 sft.direct_share=0.3
    rd-curate '++sft.mixture={synthetic: 2, numina: 1}' sft.max_examples=200000 seed=1
    python -m distill.curate run_dir=runs/demo         # the same without the installed entry point

Outputs under run_dir/curate/:
  pretrain.jsonl   {"text", "problem_id", "rollout_id"}: every verified-correct rollout, rendered as
                   the model is trained on it (distill/templates.py: its own generation prompt, the
                   completion, its end-of-turn); exact duplicates removed, at most
                   pretrain.per_problem_cap per problem. With pretrain.shards=N it is N files,
                   pretrain-00000-of-0000N.jsonl ..., the same rows in order.
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

import heapq
import importlib
import random
import sys
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from rollout.prompts import (
    MODE_FLAGS,
    PromptConfig,
    format_answer,
    generation_prompt,
    split_completion,
)
from rollout.stage import Stage, files_id
from selection.decontam import (
    DecontamConfig,
    EvalSets,
    config_errors,
    contaminated,
    drop_contaminated,
    load_eval_sets,
    words,
)
from selection.inputs import load_tokenizer, store_shards, token_counts, token_stats
from selection.report import LengthPlot, heading, steps_table, write_report
from selection.steps import (
    Steps,
    cap_per_problem,
    dedup_key,
    drop_exact_duplicates,
    only_correct,
    pass_rates,
    rollout_order,
)
from selection.stream import (
    StreamConfig,
    check_executor,
    cleanup,
    read_json,
    streams,
    write_json,
    write_rows,
)
from selection.stream import config_errors as stream_errors

OUTPUTS = ("sft.jsonl", "report.json", "report.md", "summary.json")  # and pretrain_files()
# Keys that cannot change the outputs' content (rollout/stage.py leaves them out of the fingerprint).
NON_RESULT = ("input_dir", "plot", "stream")  # the store's content is an input; plot adds
# lengths.png only; stream.* is how the same outputs are computed (tests/test_stream.py)


@dataclass
class PretrainSelection:
    per_problem_cap: int | None = 8  # null: every distinct correct rollout
    decontaminate: bool = True  # drop eval-set prompts here too, or stage 1 trains on the test
    # pretrain.jsonl as this many files (pretrain-00000-of-00004.jsonl ...), split in order: read in
    # name order they are the one file (rd-pretrain, the packer and datasets take them as one)
    shards: int = 1


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
    stream: StreamConfig = field(default_factory=StreamConfig)  # bounded memory, sharded


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
        ("pretrain.shards", cfg.pretrain.shards),
    ):
        if cap is not None and cap < 1:
            errors.append(f"{key} must be >= 1 or null (no limit), got {cap}")
    if s.near_dup_threshold is not None and not 0.0 < s.near_dup_threshold <= 1.0:
        errors.append(
            f"sft.near_dup_threshold must be in (0, 1] or null (off), got {s.near_dup_threshold}"
        )
    elif s.near_dup_threshold is not None and s.near_dup_num_perm >= 16:
        from selection.dedup import lsh_ranges

        try:
            lsh_ranges(s.near_dup_threshold, s.near_dup_num_perm)
        except ValueError as e:  # datasketch finds no LSH bands for it (e.g. 1.0 at 64)
            errors.append(
                f"sft.near_dup_threshold={s.near_dup_threshold} with sft.near_dup_num_perm="
                f"{s.near_dup_num_perm} gives no usable LSH bands ({e}); lower the threshold "
                "(0.95 works at 64) or raise num_perm"
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
    errors += config_errors(cfg.decontam)
    errors += stream_errors(cfg.stream)
    if errors:
        raise ValueError("invalid rd-curate config:\n  " + "\n  ".join(errors))


# ---------------------------------------------------------------------------------------------
# Curation's own selection steps (the shared ones are in selection/steps.py). Each takes records
# and returns (kept, {reason: dropped count}).


def near_dup_signatures(records: list[dict], ngram: int, num_perm: int) -> list:
    """MinHash signatures of each record's prompt+completion word shingles."""
    from datasketch import MinHash

    def shingles(r: dict) -> set[bytes]:
        w = words(r["prompt"] + "\n" + r["completion"])
        grams = [w[i : i + ngram] for i in range(max(1, len(w) - ngram + 1))]
        return {" ".join(g).encode("utf-8") for g in grams}

    # crc32: a stable hash in C, ~5x faster than datasketch's default sha1 on millions of shingles.
    return MinHash.bulk(
        (shingles(r) for r in records), num_perm=num_perm, seed=1, hashfunc=zlib.crc32
    )


def greedy_near(ids: list[str], sigs: list, threshold: float, num_perm: int):
    """Greedy in the given order: a signature whose estimated Jaccard with an earlier kept one is
    >= threshold is dropped. Returns (kept positions, the dropped pairs)."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    kept, pairs = [], []
    for i, sig in enumerate(sigs):
        # LSH gives candidates; the signature's Jaccard estimate decides.
        hits = [(sig.jaccard(sigs[j]), j) for j in lsh.query(sig)]
        hits = [h for h in hits if h[0] >= threshold]
        if hits:
            sim, j = max(hits)
            pairs.append(
                {"rollout_id": ids[i], "duplicate_of": ids[j], "similarity": round(sim, 3)}
            )
            continue
        lsh.insert(i, sig)
        kept.append(i)
    return kept, pairs


def drop_near_duplicates(
    records: list[dict], threshold: float, ngram: int, num_perm: int
) -> tuple[list[dict], dict[str, int], list[dict]]:
    """Keep the first of every group whose prompt+completion shingles overlap >= threshold."""
    sigs = near_dup_signatures(records, ngram, num_perm)
    pos, pairs = greedy_near([r["rollout_id"] for r in records], sigs, threshold, num_perm)
    kept = [records[i] for i in pos]
    return kept, {"near duplicate": len(records) - len(kept)}, pairs


def mixture_quota(
    have: dict[str, int], weights: dict[str, float], max_examples: int | None
) -> tuple[dict[str, int], dict[str, float], dict[str, float], str | None]:
    """How many to take from each source (have: source -> examples available), with the weights
    used, the active (weight > 0) ones and what limited the total.

    The ratio is kept exactly: the total is the largest that every weighted source can fill (and at
    most max_examples), so a small source limits the whole mixture instead of silently skewing it.
    Empty weights mean the sources' own proportions.
    """
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
    return quota, w, active, limited_by


def mixture_picks(source: str, have: int, quota: int, seed: int) -> set[int]:
    """Which of a source's examples (positions in rollout order) the mixture takes."""
    return set(random.Random(f"{seed}:{source}").sample(range(have), quota))


def mix_sources(
    records: list[dict], weights: dict[str, float], max_examples: int | None, seed: int
) -> tuple[list[dict], dict[str, int], dict[str, Any]]:
    """Sample per source in proportion to the weights (mixture_quota), without replacement."""
    by_source: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_source[r.get("source", "-")].append(r)
    have = {s: len(rs) for s, rs in by_source.items()}
    quota, w, active, limited_by = mixture_quota(have, weights, max_examples)
    kept, not_in_mix = [], 0
    for s, rs in sorted(by_source.items()):
        if s not in active:
            not_in_mix += len(rs)
            continue
        picked = mixture_picks(s, len(rs), quota.get(s, 0), seed)
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


def pretrain_files(shards: int) -> list[str]:
    """The pretraining corpus's file names: one file, or shards named as the store's are."""
    if shards == 1:
        return ["pretrain.jsonl"]
    return [f"pretrain-{k:05d}-of-{shards:05d}.jsonl" for k in range(shards)]


def write_split(out: Path, names: list[str], rows: Iterator[dict], total: int) -> None:
    """`total` rows written in order over the files named, as evenly as whole rows allow."""
    from rollout.store import write_jsonl_atomic

    n = len(names)
    for k, name in enumerate(names):
        write_jsonl_atomic(out / name, islice(rows, (k + 1) * total // n - k * total // n))


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
# The stage, phase by phase: open it, load the inputs, select the pretraining corpus, select and
# format the SFT set, write the outputs and the report.


@dataclass
class Inputs:
    """What every selection phase reads: the rollouts and what is known about them."""

    src: Path  # the rollout store
    shards: list[Path]
    records: list[dict]  # every rollout, in rollout order
    tokenizer: Any
    prompt_cfg: PromptConfig
    evals: EvalSets  # the evaluation sets checked for overlap
    correct: list[dict]  # the verified-correct rollouts
    correct_dropped: dict[str, int]  # the others, by reason
    bad: dict[str, dict]  # problem_id -> its decontamination removal (correct rollouts' problems)
    rates: dict[str, float | None]  # problem_id -> pass rate

    def facts(self) -> InputFacts:
        return InputFacts(
            src=self.src,
            shards=self.shards,
            rollouts=len(self.records),
            problems=len(self.rates),
            correct_per_problem=dict(Counter(r["problem_id"] for r in self.correct)),
            evals=self.evals,
            bad=self.bad,
        )


@dataclass
class InputFacts:
    """What the report says about the inputs (the in-memory and the streaming path alike)."""

    src: Path
    shards: list[Path]
    rollouts: int
    problems: int
    correct_per_problem: dict[str, int]  # at least for every contaminated problem
    evals: EvalSets
    bad: dict[str, dict]


@dataclass
class Selected:
    """One output's rows and the record of how they were selected."""

    rows: list[dict]
    steps: Steps
    tokens: list[int]  # per row, for the report
    near_pairs: list[dict] = field(default_factory=list)  # (SFT) near duplicates dropped
    near_count: int | None = None  # (SFT) how many; None: len(near_pairs)
    mixture: dict[str, Any] = field(default_factory=dict)  # (SFT) what the mixture took
    natural_direct: int = 0  # (SFT) completions without reasoning: direct answers as they are


def open_stage(cfg: CurateConfig) -> tuple[Stage, Path, list[Path]]:
    """The stage record (rollout/stage.py) over the config and the store's files."""
    src, shards = store_shards(cfg.input_dir, cfg.run_dir)
    stage = Stage(
        "rd-curate",
        Path(cfg.run_dir) / "curate",
        cfg,
        ignore=NON_RESULT,
        inputs={"store": files_id(shards)},
        on_change=cfg.on_change,
        outputs=[
            *pretrain_files(cfg.pretrain.shards),
            *OUTPUTS,
            "config.yaml",
            *(["lengths.png"] if cfg.plot else []),
        ],
    )
    return stage, src, shards


def load_inputs(cfg: CurateConfig, src: Path, shards: list[Path]) -> Inputs:
    """The rollouts, the tokenizer and the eval sets; which rollouts are correct and which of
    their problems overlap an eval set."""
    from rollout.store import read_store

    records = sorted(read_store(src), key=rollout_order)
    tokenizer = load_tokenizer(cfg.tokenizer)
    evals = load_eval_sets(cfg.decontam, "rd-curate")
    correct, correct_dropped = only_correct(records)
    return Inputs(
        src=src,
        shards=shards,
        records=records,
        tokenizer=tokenizer,
        prompt_cfg=PromptConfig(example=False, system=cfg.system),
        evals=evals,
        correct=correct,
        correct_dropped=correct_dropped,
        bad=contaminated(correct, evals.index),
        rates=pass_rates(records),
    )


def select_pretrain(cfg: PretrainSelection, inp: Inputs) -> Selected:
    """Every distinct verified CoT, capped per problem, rendered as the model is trained on it."""
    steps = Steps()
    kept = steps.add("correct", len(inp.records), inp.correct, inp.correct_dropped)
    if cfg.decontaminate:
        kept = steps.add("decontaminate", len(kept), *drop_contaminated(kept, inp.bad))
    kept = steps.add("exact dedup", len(kept), *drop_exact_duplicates(kept))
    kept = steps.add("per-problem cap", len(kept), *cap_per_problem(kept, cfg.per_problem_cap))
    tok, prompt_cfg = inp.tokenizer, inp.prompt_cfg
    rows = [pretrain_row(tok, r, prompt_cfg) for r in kept]
    return Selected(rows, steps, token_counts(tok, [r["text"] for r in rows]))


def select_sft(s: SFTSelection, seed: int, inp: Inputs) -> Selected:
    """The correct rollouts through every SFT selection step, in the order conf/curate.yaml lists
    them; the rows are the selected rollouts (format_sft turns them into examples)."""
    rates = inp.rates
    st = Steps()
    kept = st.add("correct", len(inp.records), inp.correct, inp.correct_dropped)
    kept = st.add("decontaminate", len(kept), *drop_contaminated(kept, inp.bad))
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
            token_counts(inp.tokenizer, [r["completion"] for r in kept]),
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
        mixed, dropped, mixture_info = mix_sources(kept, s.mixture, s.max_examples, seed)
        kept = st.add("mixture", len(kept), mixed, dropped)
    return Selected(kept, st, [], near_pairs=near_pairs, mixture=mixture_info)


def direct_picks(candidates: Iterable[tuple[str, float]], k: int, seed: int) -> set[str]:
    """The k rollout ids of the easiest problems among (rollout id, pass rate) candidates in
    rollout order, ties broken by a seeded draw per candidate (holds k of them, not all)."""
    rng = random.Random(seed)
    keyed = ((-rate, rng.random(), rid) for rid, rate in candidates)
    return {rid for _, _, rid in heapq.nsmallest(max(0, k), keyed)}


def choose_direct(
    kept: list[dict], natural: set[str], rates: dict, share: float, seed: int
) -> set[str]:
    """The rollout ids formatted as direct answers: the natural ones (no reasoning), then the rest
    of the share from the easiest problems, ties broken by seed (kept in rollout order)."""
    want = int(share * len(kept) + 0.5)
    candidates = (
        (r["rollout_id"], rates[r["problem_id"]]) for r in kept if r["rollout_id"] not in natural
    )
    return natural | direct_picks(candidates, want - len(natural), seed)


def sft_row(
    s: SFTSelection, prompt_cfg: PromptConfig, r: dict, parts: tuple, direct: bool, rates: dict
) -> dict:
    """One SFT example (num_tokens filled in by the caller)."""
    from rollout.prompts import messages

    mode = "direct" if direct else "think"
    msgs = messages(r, prompt_cfg)  # the switch is applied when rendered (training_prompt)
    return {
        "messages": msgs + [{"role": "assistant", "content": format_answer(*parts, mode)}],
        "switch": mode if s.mode_switch else None,
        "problem_id": r["problem_id"],
        "rollout_id": r["rollout_id"],
        "source": r.get("source"),
        "difficulty": rates[r["problem_id"]],
        "mode": mode,
        "num_tokens": 0,
    }


def pretrain_row(tok, r: dict, prompt_cfg: PromptConfig) -> dict:
    from distill.templates import training_text
    from rollout.prompts import messages

    text = training_text(tok, messages(r, prompt_cfg), pretrain_completion(tok, r, prompt_cfg))
    return {"text": text, "problem_id": r["problem_id"], "rollout_id": r["rollout_id"]}


def format_sft(s: SFTSelection, seed: int, inp: Inputs, sel: Selected) -> Selected:
    """The selected rollouts as SFT examples in the hybrid modes. Completions without reasoning can
    only be direct; the rest of the direct share comes from the easiest problems (ties broken by
    seed), whose reasoning the model least needs."""
    kept, rates = sel.rows, inp.rates
    parts = {r["rollout_id"]: split_completion(r["completion"]) for r in kept}
    natural = {rid for rid, (reasoning, _) in parts.items() if not reasoning}
    direct = choose_direct(kept, natural, rates, s.direct_share, seed)
    rows = [
        sft_row(s, inp.prompt_cfg, r, parts[r["rollout_id"]], r["rollout_id"] in direct, rates)
        for r in kept
    ]
    tokens = token_counts(inp.tokenizer, [row["messages"][-1]["content"] for row in rows])
    for row, n in zip(rows, tokens, strict=True):
        row["num_tokens"] = n
    return Selected(
        rows,
        sel.steps,
        tokens,
        near_pairs=sel.near_pairs,
        mixture=sel.mixture,
        natural_direct=len(natural),
    )


def make_report(cfg: CurateConfig, inp: InputFacts, pt: Selected, sft: Selected) -> dict[str, Any]:
    """report.json: what every step kept and dropped and why, tokens, modes, the mixture, and the
    decontamination removals with the sets checked and skipped."""
    rows = sft.rows
    modes = Counter(r["mode"] for r in rows)
    correct_per_problem = inp.correct_per_problem
    return {
        "input": {
            "dir": str(inp.src),
            "shards": [p.name for p in inp.shards],
            "rollouts": inp.rollouts,
            "problems": inp.problems,
        },
        "pretrain": {
            "examples": len(pt.rows),
            "steps": pt.steps.rows,
            "tokens": token_stats(pt.tokens),
        },
        "sft": {
            "examples": len(rows),
            "steps": sft.steps.rows,
            "tokens": token_stats([r["num_tokens"] for r in rows]),
            "tokens_by_mode": {
                m: token_stats([r["num_tokens"] for r in rows if r["mode"] == m])
                for m in MODE_FLAGS
            },
            "modes": {m: modes.get(m, 0) for m in MODE_FLAGS},
            "direct_without_reasoning": sft.natural_direct,
            "sources": dict(sorted(Counter(r["source"] for r in rows).items())),
            "mixture": sft.mixture,
            "near_duplicates": {
                "count": len(sft.near_pairs) if sft.near_count is None else sft.near_count,
                "examples": sft.near_pairs[:100],
            },
        },
        "decontamination": {
            "ngram": cfg.decontam.ngram,
            "sets": inp.evals.loaded,
            "skipped": inp.evals.skipped,
            "removed": [
                {**entry, "rollouts": correct_per_problem[pid]}
                for pid, entry in sorted(inp.bad.items())
            ],
        },
    }


def report_markdown(report: dict[str, Any]) -> str:
    lines = heading("rd-curate", report["input"]["dir"])
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
            *steps_table(rep["steps"]),
        ]
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


def length_plot(rows: list[dict]) -> LengthPlot:
    """lengths.png: completion token lengths of the SFT set, think vs direct."""
    series = {m: [r["num_tokens"] for r in rows if r["mode"] == m] for m in MODE_FLAGS}
    return LengthPlot(
        series={f"{m} ({len(lens)})": lens for m, lens in series.items()},
        title=f"SFT completion lengths ({len(rows)} examples)",
        xlabel="assistant tokens",
        ylabel="examples",
        colors=("#3b75af", "#ef8636"),
        alpha=0.75,
    )


def run(cfg: CurateConfig) -> dict[str, Any]:
    """The stage; returns the summary, with up_to_date=True when there was nothing to do."""
    from rollout.store import write_jsonl_atomic, write_text_atomic

    validate(cfg)
    stage, src, shards = open_stage(cfg)
    stream = streams(cfg.stream, shards)
    if stream:
        check_executor(cfg.stream)  # before anything is written
    cfg_yaml = OmegaConf.to_yaml(OmegaConf.structured(cfg))
    if stage.begin(input_paths={"store": str(src)}) == "done":
        return {**stage.previous, "up_to_date": True}  # nothing changed (rollout/stage.py)
    if stream:
        return run_stream(cfg, stage, src, shards)
    t0 = time.perf_counter()

    inp = load_inputs(cfg, src, shards)
    pretrain = select_pretrain(cfg.pretrain, inp)
    sft = format_sft(cfg.sft, cfg.seed, inp, select_sft(cfg.sft, cfg.seed, inp))

    out = stage.out
    write_split(out, pretrain_files(cfg.pretrain.shards), iter(pretrain.rows), len(pretrain.rows))
    write_jsonl_atomic(out / "sft.jsonl", sft.rows)
    report = make_report(cfg, inp.facts(), pretrain, sft)
    write_report(out, report, report_markdown(report), length_plot(sft.rows) if cfg.plot else None)
    summary = summarize(report, inp.facts(), time.perf_counter() - t0)
    write_text_atomic(out / "config.yaml", cfg_yaml)
    summary = stage.finish(summary)  # last: until it is written the outputs count as unfinished
    print(
        f"rd-curate: {len(inp.records)} rollouts -> pretrain.jsonl {len(pretrain.rows)} "
        f"({summary['pretrain_tokens']} tokens), sft.jsonl {len(sft.rows)} "
        f"(think {summary['think']}, direct {summary['direct']}; {summary['sft_tokens']} tokens); "
        f"{len(inp.bad)} contaminated problem(s) removed; report in {out / 'report.md'}"
    )
    return {**summary, "up_to_date": False}


def summarize(report: dict[str, Any], inp: InputFacts, seconds: float) -> dict[str, Any]:
    """summary.json: the counts the pipeline and its report read."""
    sft = report["sft"]
    return {
        "pretrain_examples": report["pretrain"]["examples"],
        "pretrain_tokens": report["pretrain"]["tokens"]["total"],
        "sft_examples": sft["examples"],
        "sft_tokens": sft["tokens"]["total"],
        "think": sft["modes"].get("think", 0),
        "direct": sft["modes"].get("direct", 0),
        "decontaminated_problems": len(inp.bad),
        "skipped_eval_sets": [skip["set"] for skip in inp.evals.skipped],
        "seconds": round(seconds, 2),
        "input_paths": {"store": str(inp.src)},
    }


# ---------------------------------------------------------------------------------------------
# The streaming path (stream.enabled, or by default a store too big for stream.memory_mb): the same
# selection and byte for byte the same outputs, with the store grouped by problem in bounded memory
# and sharded by problem id like the farm (selection/stream.py), duplicates found in parts by hash
# (selection/dedup.py), each step run by datatrove's executors:
#   select (tasks)  per problem: correct, decontamination, pass-rate and length windows; compact
#                   keys (order, ids, source, rate) by bucket, text hashes by hash part
#   exact  (tasks)  exact duplicates, one hash part at a time, for pretrain and SFT
#   bands  (tasks)  the SFT candidates' LSH band values, by part       } near duplicates, when
#   edges  (tasks)  the pairs over the threshold, one band part a time } sft.near_dup_threshold
#   global (1)      one pass in rollout order over the SFT keys: near-duplicate decisions, per-problem
#                   cap, mixture and max_examples, direct share; holds what it drops and picks only
#   write  (tasks)  re-reads each task's rollouts and renders the kept ones (pretrain's cap here)
#   finish (1)      merges the rows in rollout order into pretrain.jsonl / sft.jsonl, the report


class SftRows:
    """The SFT rows as the report reads them ({mode, num_tokens, source}), a few bytes a row
    instead of a dict, so that finishing a big set does not hold it."""

    def __init__(self) -> None:
        from array import array

        self.modes, self.tokens, self.sources = array("b"), array("q"), array("i")
        self.names: dict[Any, int] = {}

    def add(self, row: dict) -> None:
        self.modes.append(list(MODE_FLAGS).index(row["mode"]))
        self.tokens.append(row["num_tokens"])
        self.sources.append(self.names.setdefault(row["source"], len(self.names)))

    def __len__(self) -> int:
        return len(self.tokens)

    def __iter__(self):
        names = list(self.names)
        for m, n, s in zip(self.modes, self.tokens, self.sources, strict=True):
            yield {"mode": list(MODE_FLAGS)[m], "num_tokens": n, "source": names[s]}


class StreamStep:
    """One step of the streaming curation, as datatrove calls a pipeline step."""

    def __init__(self, name: str, cfg: CurateConfig, work: Path, src: Path, shards: list[Path]):
        # The config as YAML: the task may run in another process (datatrove's local workers
        # pickle the step) or on another node, where `python -m distill.curate`'s __main__
        # classes do not exist.
        self.name, self.cfg_yaml, self.work = name, OmegaConf.to_yaml(cfg), Path(work)
        self.src, self.shards = Path(src), [Path(p) for p in shards]

    @property
    def cfg(self) -> CurateConfig:
        node = OmegaConf.merge(OmegaConf.structured(CurateConfig), OmegaConf.create(self.cfg_yaml))
        return OmegaConf.to_object(node)  # type: ignore[return-value]

    def __call__(self, data=None, rank: int = 0, world_size: int = 1):
        from selection.stream import raise_open_files

        raise_open_files()
        getattr(self, f"_{self.name}")(rank)

    def _task_dir(self, step: str, rank: int) -> Path:
        return self.work / step / f"t{rank:05d}"

    def _plan(self) -> dict[str, Any]:
        return read_json(self.work / "plan.json")

    def _dest(self):
        from selection.stream import destination

        return destination(self.cfg.stream.tasks, self._plan()["buckets"])

    def _select(self, rank: int) -> None:
        from selection.dedup import PartFiles, part_of, signature_hex
        from selection.stream import bucket_files, problem_groups, spill, stable_hash

        cfg, s, plan = self.cfg, self.cfg.sft, self._plan()
        spill_dir = self._task_dir("spill", rank)
        spill(self.shards, rank, cfg.stream.tasks, plan["buckets"], spill_dir)
        tok = load_tokenizer(cfg.tokenizer)
        evals = load_eval_sets(cfg.decontam, "rd-curate")
        n: Counter[str] = Counter()
        bad: dict[str, dict] = {}
        correct_bad: dict[str, int] = {}
        upper = s.max_tokens if s.max_tokens is not None else float("inf")
        near = s.near_dup_threshold is not None
        out = self._task_dir("select", rank)
        hashes = PartFiles(lambda kp: out / f"{kp[0]}.p{kp[1]:05d}.jsonl")

        def key_of(kind: str, r: dict) -> list:
            h = stable_hash(dedup_key(r))
            hashes.write((kind, part_of(h, plan["parts"])), [rollout_order(r), r["rollout_id"], h])
            return list(rollout_order(r))

        for bucket in bucket_files(spill_dir):
            pending = []
            for pid, recs in problem_groups(bucket, rollout_order):
                n["rollouts"] += len(recs)
                n["problems"] += 1
                rate = pass_rates(recs)[pid]
                correct, dropped = only_correct(recs)
                n["correct"] += len(correct)
                n.update(dropped)
                if not correct:
                    continue
                entry = contaminated(correct[:1], evals.index).get(pid)
                if entry:
                    bad[pid], correct_bad[pid] = entry, len(correct)
                    n["contaminated"] += len(correct)
                if not (entry and cfg.pretrain.decontaminate):
                    for r in correct:
                        key_of("pt", r)
                if entry:
                    continue
                if not s.min_pass_rate <= rate <= s.max_pass_rate:
                    n["too hard" if rate < s.min_pass_rate else "too easy"] += len(correct)
                    continue
                pending += [(r, rate) for r in correct]
            lengths = token_counts(tok, [r["completion"] for r, _ in pending])
            window = []
            for (r, rate), length in zip(pending, lengths, strict=True):
                if length < s.min_tokens:
                    n["too short"] += 1
                elif length > upper:
                    n["too long"] += 1
                else:
                    window.append((r, rate))
            keys, sigs = [], []
            for r, rate in window:
                key = {
                    "problem_id": r["problem_id"],
                    "round": r.get("round", 0),
                    "index": r.get("index", 0),
                    "rollout_id": r["rollout_id"],
                }
                if "source" in r:
                    key["source"] = r["source"]
                natural = not split_completion(r["completion"])[0]
                keys.append([key_of("sft", r), key, rate, natural])
            if near and window:
                made = near_dup_signatures(
                    [r for r, _ in window], s.near_dup_ngram, s.near_dup_num_perm
                )
                sigs = [
                    [k[0], k[1]["rollout_id"], signature_hex(m.hashvalues)]
                    for k, m in zip(keys, made, strict=True)
                ]
            write_rows(out / f"{bucket.stem}.sft.jsonl", keys)
            write_rows(out / f"{bucket.stem}.sig.jsonl", sigs)
        hashes.close()
        write_json(
            out.with_suffix(".json"),
            {
                "counts": n,
                "bad": bad,
                "correct_bad": correct_bad,
                "loaded": evals.loaded,
                "skipped": evals.skipped,
            },
        )

    def _exact(self, rank: int) -> None:
        from selection.dedup import PartFiles, drop_exact

        work, dest = self.work, self._dest()
        for p in range(rank, self._plan()["parts"], self.cfg.stream.tasks):
            counts = {}
            for kind in ("pt", "sft"):
                name = lambda tb, kind=kind, p=p: (  # noqa: E731
                    work / "exact" / kind / f"t{tb[0]:05d}.b{tb[1]:05d}" / f"p{p:05d}.jsonl"
                )
                out = PartFiles(name)
                counts[kind] = drop_exact(
                    sorted(work.glob(f"select/t*/{kind}.p{p:05d}.jsonl")), dest, out
                )
                out.close()
            write_json(work / "exact" / f"p{p:05d}.json", counts)

    def _bands(self, rank: int) -> None:
        from selection.dedup import PartFiles, band_keys, lsh_ranges, part_of, read_drops
        from selection.stream import read_lines, stable_hash

        s, plan = self.cfg.sft, self._plan()
        if s.near_dup_threshold is None:
            return
        ranges = lsh_ranges(s.near_dup_threshold, s.near_dup_num_perm)
        out = PartFiles(lambda q: self._task_dir("bands", rank) / f"p{q:05d}.jsonl")
        for sigs in sorted(self._task_dir("select", rank).glob("b*.sig.jsonl")):
            bucket = sigs.name.split(".")[0]
            drops = read_drops(self.work.glob(f"exact/sft/t{rank:05d}.{bucket}/p*.jsonl"))
            for order, rid, sig in read_lines(sigs):
                if rid not in drops:
                    for key in band_keys(sig, ranges):
                        out.write(part_of(stable_hash(key), plan["parts"]), [key, order, rid, sig])
        out.close()

    def _edges(self, rank: int) -> None:
        from selection.dedup import edges, lsh_ranges

        s = self.cfg.sft
        if s.near_dup_threshold is None:
            return
        ranges = lsh_ranges(s.near_dup_threshold, s.near_dup_num_perm)
        for q in range(rank, self._plan()["parts"], self.cfg.stream.tasks):
            bands = sorted(self.work.glob(f"bands/t*/p{q:05d}.jsonl"))
            found = edges(bands, s.near_dup_threshold, ranges)
            write_rows(self.work / "edges" / f"p{q:05d}.jsonl", found)

    def _global(self, rank: int) -> None:
        from selection.dedup import PartFiles, greedy, read_drops
        from selection.stream import merge_sorted, read_lines

        cfg, s, work = self.cfg, self.cfg.sft, self.work
        n: Counter[str] = Counter()
        for part in sorted(work.glob("select/t*.json")):
            n.update(read_json(part)["counts"])
        exact = Counter()
        for part in sorted(work.glob("exact/p*.json")):
            exact.update(read_json(part))

        # correct, decontaminated, windows (counted by the select tasks), exact duplicates
        st, kept = counted_steps(n, decontaminate=True)
        window = {k: n[k] for k in ("too hard", "too easy")}
        kept = len(st.add("pass-rate window", kept, range(kept - sum(window.values())), window))
        window = {k: n[k] for k in ("too short", "too long")}
        kept = len(st.add("length window", kept, range(kept - sum(window.values())), window))
        kept = len(
            st.add(
                "exact dedup", kept, range(kept - exact["sft"]), {"exact duplicate": exact["sft"]}
            )
        )
        drops = read_drops(work.glob("exact/sft/*/p*.jsonl"))
        near_count, near_examples = 0, []
        if s.near_dup_threshold is not None and kept:
            for pair in greedy(sorted(work.glob("edges/p*.jsonl")), s.near_dup_threshold):
                drops.add(pair["rollout_id"])
                near_count += 1
                if len(near_examples) < 100:
                    near_examples.append(pair)
            near = {"near duplicate": near_count}
            kept = len(st.add("near dedup", kept, range(kept - near_count), near))

        # per-problem cap, in rollout order over the keys
        cap, sources, over = s.per_problem_cap, Counter(), [0]

        def capped():
            current, have = None, 0
            for order, key, rate, natural in merge_sorted(
                sorted(work.glob("select/t*/b*.sft.jsonl"))
            ):
                if key["rollout_id"] in drops:
                    continue
                if order[0] != current:
                    current, have = order[0], 0
                if cap is not None and have >= cap:
                    over[0] += 1
                    continue
                have += 1
                sources[key.get("source", "-")] += 1
                yield [order, key, rate, natural]

        final = work / "global" / "sft.capped.jsonl"
        write_rows(final, capped())
        drops.clear()
        dropped = {"over per-problem cap": over[0]} if cap is not None else {}
        kept = len(st.add("per-problem cap", kept, range(kept - over[0]), dropped))

        mixture_info: dict[str, Any] = {}
        if kept and (s.mixture or s.max_examples is not None):
            quota, w, active, limited_by = mixture_quota(dict(sources), s.mixture, s.max_examples)
            picks = {
                src: mixture_picks(src, have, quota.get(src, 0), cfg.seed)
                for src, have in sources.items()
                if src in active
            }
            index, taken = Counter(), Counter()

            def mixed():
                for row in read_lines(work / "global" / "sft.capped.jsonl"):
                    src = row[1].get("source", "-")
                    i, index[src] = index[src], index[src] + 1
                    if src in picks and i in picks[src]:
                        taken[src] += 1
                        yield row

            final = work / "global" / "sft.mixed.jsonl"
            write_rows(final, mixed())
            not_in_mix = sum(have for src, have in sources.items() if src not in active)
            mix = sum(taken.values())
            dropped = {
                "source not in mixture": not_in_mix,
                "over mixture quota": kept - mix - not_in_mix,
            }
            kept = len(st.add("mixture", kept, range(mix), dropped))
            mixture_info = {
                "weights": w if s.mixture else {},
                "available": dict(sources),
                "taken": dict(taken),
                "limited_by": limited_by,
            }

        # the direct share: the natural ones, then the easiest problems' (choose_direct)
        natural = sum(row[3] for row in read_lines(final))
        want = int(s.direct_share * kept + 0.5)
        candidates = ((row[1]["rollout_id"], row[2]) for row in read_lines(final) if not row[3])
        picked = direct_picks(candidates, want - natural, cfg.seed)
        dest = self._dest()
        keep = PartFiles(lambda tb: work / "global" / "sft" / f"t{tb[0]:05d}.b{tb[1]:05d}.jsonl")
        for _order, key, _rate, is_natural in read_lines(final):
            keep.write(
                dest(key["problem_id"]),
                [key["rollout_id"], is_natural or key["rollout_id"] in picked],
            )
        keep.close()
        write_json(
            work / "global" / "selection.json",
            {
                "pretrain_exact": exact["pt"],
                "sft_steps": st.rows,
                "near_count": near_count,
                "near_examples": near_examples,
                "mixture": mixture_info,
                "natural_direct": natural,
            },
        )

    def _write(self, rank: int) -> None:
        from selection.dedup import read_drops
        from selection.stream import bucket_files, problem_groups, read_lines

        cfg, work = self.cfg, self.work
        bad = read_json(self._task_dir("select", rank).with_suffix(".json"))["bad"]
        cap = cfg.pretrain.per_problem_cap
        tok = load_tokenizer(cfg.tokenizer)
        prompt_cfg = PromptConfig(example=False, system=cfg.system)
        out = self._task_dir("write", rank)
        capped = written = 0
        for bucket in bucket_files(self._task_dir("spill", rank)):
            drops = read_drops(work.glob(f"exact/pt/t{rank:05d}.{bucket.stem}/p*.jsonl"))
            picks = work / "global" / "sft" / f"t{rank:05d}.{bucket.stem}.jsonl"
            keep_sft = dict(read_lines(picks)) if picks.exists() else {}
            pt_rows, sft_rows = [], []
            for pid, recs in problem_groups(bucket, rollout_order):
                pretrain = not (pid in bad and cfg.pretrain.decontaminate)
                rates, have = None, 0
                for r in recs:
                    rid = r["rollout_id"]
                    if pretrain and r.get("correct") is True and rid not in drops:
                        if cap is not None and have >= cap:
                            capped += 1
                        else:
                            have += 1
                            pt_rows.append([rollout_order(r), pretrain_row(tok, r, prompt_cfg)])
                    if rid in keep_sft:
                        rates = rates or pass_rates(recs)
                        parts = split_completion(r["completion"])
                        row = sft_row(cfg.sft, prompt_cfg, r, parts, keep_sft[rid], rates)
                        sft_rows.append([rollout_order(r), row])
            for rows, text in (
                (pt_rows, lambda row: row["text"]),
                (sft_rows, lambda row: row["messages"][-1]["content"]),
            ):
                for pair, count in zip(
                    rows, token_counts(tok, [text(row) for _, row in rows]), strict=True
                ):
                    pair.insert(1, count)
            for row in sft_rows:
                row[2]["num_tokens"] = row[1]
            write_rows(out / f"{bucket.stem}.pt.jsonl", pt_rows)
            write_rows(out / f"{bucket.stem}.sft.jsonl", sft_rows)
            written += len(pt_rows)
        write_json(out.with_suffix(".json"), {"pretrain_capped": capped, "pretrain_rows": written})

    def _finish(self, rank: int) -> None:
        from array import array

        from rollout.store import write_jsonl_atomic, write_text_atomic
        from selection.stream import merge_sorted, same_eval_sets

        cfg, work = self.cfg, self.work
        parts = [read_json(p) for p in sorted(work.glob("select/t*.json"))]
        same_eval_sets(parts, work)
        n: Counter[str] = Counter()
        bad: dict[str, dict] = {}
        correct_bad: dict[str, int] = {}
        for part in parts:
            n.update(part["counts"])
            bad.update(part["bad"])
            correct_bad.update(part["correct_bad"])
        sel = read_json(work / "global" / "selection.json")
        pt_steps, kept = counted_steps(n, cfg.pretrain.decontaminate)
        exact = sel["pretrain_exact"]
        kept = len(
            pt_steps.add("exact dedup", kept, range(kept - exact), {"exact duplicate": exact})
        )
        written = [read_json(p) for p in sorted(work.glob("write/t*.json"))]
        capped = sum(w["pretrain_capped"] for w in written)
        dropped = (
            {"over per-problem cap": capped} if cfg.pretrain.per_problem_cap is not None else {}
        )
        pt_steps.add("per-problem cap", kept, range(kept - capped), dropped)
        pt_tokens, light = array("q"), SftRows()

        def rows(kind: str, seen):
            for _order, count, row in merge_sorted(sorted(work.glob(f"write/t*/b*.{kind}.jsonl"))):
                seen(count, row)
                yield row

        out = Path(cfg.run_dir) / "curate"
        write_split(
            out,
            pretrain_files(cfg.pretrain.shards),
            rows("pt", lambda c, _r: pt_tokens.append(c)),
            sum(w["pretrain_rows"] for w in written),
        )
        write_jsonl_atomic(out / "sft.jsonl", rows("sft", lambda _c, r: light.add(r)))
        facts = InputFacts(
            src=self.src,
            shards=self.shards,
            rollouts=n["rollouts"],
            problems=n["problems"],
            correct_per_problem=correct_bad,
            evals=EvalSets(None, parts[0]["loaded"], parts[0]["skipped"]),  # type: ignore[arg-type]
            bad=dict(sorted(bad.items())),
        )
        sft_steps = Steps()
        sft_steps.rows = sel["sft_steps"]
        pretrain = Selected(range(len(pt_tokens)), pt_steps, pt_tokens)  # type: ignore[arg-type]
        sft = Selected(
            light,  # type: ignore[arg-type]
            sft_steps,
            [],
            near_pairs=sel["near_examples"],
            near_count=sel["near_count"],
            mixture=sel["mixture"],
            natural_direct=sel["natural_direct"],
        )
        report = make_report(cfg, facts, pretrain, sft)
        write_report(out, report, report_markdown(report), length_plot(light) if cfg.plot else None)
        started = read_json(work / "plan.json")["started"]
        summary = summarize(report, facts, time.time() - started)
        write_text_atomic(out / "config.yaml", OmegaConf.to_yaml(OmegaConf.structured(cfg)))
        summary = open_stage(cfg)[0].finish(summary)
        cleanup(work)
        print(
            f"rd-curate: {facts.rollouts} rollouts -> pretrain.jsonl {len(pt_tokens)} "
            f"({summary['pretrain_tokens']} tokens), sft.jsonl {len(light)} "
            f"(think {summary['think']}, direct {summary['direct']}; {summary['sft_tokens']} "
            f"tokens); {len(bad)} contaminated problem(s) removed; report in {out / 'report.md'}"
        )


def counted_steps(n: Counter[str], decontaminate: bool) -> tuple[Steps, int]:
    """The first steps of a selection from the select tasks' counts: correct only, then (if on)
    decontamination; the Steps record and how many rollouts are left."""
    steps = Steps()
    kept = n["correct"]
    steps.add("correct", n["rollouts"], range(kept), {k: n[k] for k in ("wrong", "unjudged")})
    if decontaminate:
        kept = len(
            steps.add(
                "decontaminate",
                kept,
                range(kept - n["contaminated"]),
                {"contaminated": n["contaminated"]},
            )
        )
    return steps, kept


def run_stream(cfg: CurateConfig, stage: Stage, src: Path, shards: list[Path]) -> dict[str, Any]:
    """The streaming path's steps under datatrove (selection/stream.py); a rerun after a kill
    skips the tasks datatrove marked complete."""
    from selection.stream import plan_work, run_steps

    work = plan_work(stage.out, shards, cfg.stream)
    # The class as imported (not __main__'s under `python -m distill.curate`), so tasks unpickle it.
    step_class = importlib.import_module("distill.curate").StreamStep
    step = lambda name, tasks: (name, step_class(name, cfg, work, src, shards), tasks)  # noqa: E731
    t = cfg.stream.tasks
    names = ("select", "exact", "bands", "edges", "global", "write", "finish")
    run_steps(
        [step(x, 1 if x in ("global", "finish") else t) for x in names],
        work,
        cfg.stream,
        "rd-curate",
    )
    if cfg.stream.executor != "local":
        print(f"rd-curate: submitted; logs under {work / 'logs'}; summary in {stage.summary_path}")
        return {"submitted": True, "work": str(work)}
    return {**read_json(stage.summary_path), "up_to_date": False}


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
