"""rd-pairs: preference pairs from the farm's own mistakes (correct vs wrong rollouts of one prompt).

    rd-pairs                                          # runs/demo/rollout -> runs/demo/pairs
    rd-pairs pairs_per_problem=8 strategy=length_matched min_pass_rate=0.1 max_pass_rate=0.9
    rd-pairs input_dir=runs/onpolicy/rollout max_length=2048 truncated_rejected=false

The store is the teacher's rollouts, or on-policy rollouts of the SFT checkpoint sampled by the same
farm (rd-rollout model.path=runs/demo/sft/final run_dir=runs/onpolicy). A verified-correct rollout
is a chosen side, a verified-wrong one of the same problem a rejected side; unjudged rollouts are
never used and truncated ones are never chosen (a truncated rollout is never correct).

Outputs under run_dir/pairs/:
  pairs.jsonl    {"problem_id", "prompt" (chat messages), "chosen", "rejected", "switch",
                 "chosen_id", "rejected_id", "meta"}: rd-dpo renders each side with the model's own
                 chat template as generation shows it (rollout/prompts.py training_parts: the
                 generation prompt under the hybrid switch `switch`, then the completion and the
                 template's end-of-turn) and tokenizes it itself.
  report.json, report.md   every step's kept/dropped counts, pairs per source and difficulty, chosen
                 and rejected lengths, the truncation check, decontamination removals.
  lengths.png    token lengths of chosen vs rejected.
  summary.json, config.yaml
The truncation check: the DPO trainer cuts prompt+completion at its max_length, keeping the start.
A chosen completion that does not fit whole would lose its final answer, so such rollouts are not
used as chosen here (counted in the report), and the built pairs are re-measured: any pair whose
prompt+chosen exceeds max_length is an error, never a silent cut. rd-dpo repeats the check on
the trainer's own tokenization at trainer.max_length.
"""

from __future__ import annotations

import importlib
import random
import sys
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from rollout.prompts import PromptConfig, format_answer, messages, split_completion, training_parts
from rollout.stage import Stage, files_id
from selection.decontam import (
    DecontamConfig,
    EvalSets,
    contaminated,
    drop_contaminated,
    load_eval_sets,
)
from selection.inputs import load_tokenizer, store_fingerprint, store_shards, token_stats
from selection.report import LengthPlot, heading, steps_table, write_report
from selection.steps import Steps, dedup_key, drop_exact_duplicates, pass_rates, rollout_order
from selection.stream import (
    StreamConfig,
    check_executor,
    read_json,
    streams,
    write_json,
    write_rows,
)
from selection.stream import config_errors as stream_errors

STRATEGIES = ("random", "length_matched", "hardest_first")
FORMATS = ("think", "raw")
OUTPUTS = ("pairs.jsonl", "report.json", "report.md", "summary.json")
# Keys that cannot change the pairs (rollout/stage.py leaves them out of the fingerprint).
NON_RESULT = ("input_dir", "plot", "stream")  # the store's content is an input; plot adds
# lengths.png only; stream.* is how the same pairs are computed (tests/test_stream.py)


@dataclass
class PairsConfig:
    run_dir: str = "runs/demo"
    input_dir: str | None = None  # the rollout store; null: run_dir/rollout
    tokenizer: str = "smollm2_135m"  # renders and measures: a recipe name or a model folder
    system: str | None = None  # system turn; null: the chat template's default (as rd-curate)
    format: str = "think"  # "think": <think>reasoning</think> answer, as rd-curate's SFT set; "raw"
    mode_switch: bool = True  # train under the think switch, as rd-curate does for think examples
    pairs_per_problem: int = 4
    strategy: str = "random"  # random | length_matched | hardest_first
    max_pairs: int | None = None  # cap over all problems; null: no cap
    min_pass_rate: float = 0.0  # window on correct/judged; 0 and 1 can never pair anyway
    max_pass_rate: float = 1.0
    truncated_rejected: bool = True  # may a truncated (finish_reason=length) rollout be rejected?
    max_length: int = 1024  # the DPO trainer's max_length (rd-dpo trainer.max_length)
    seed: int = 0
    plot: bool = True
    decontam: DecontamConfig = field(default_factory=DecontamConfig)
    on_change: str = "rerun"  # settings or store changed: rerun (old outputs moved aside) | error
    stream: StreamConfig = field(default_factory=StreamConfig)  # bounded memory, sharded


ConfigStore.instance().store(name="pairs_schema", node=PairsConfig)


def validate(cfg: PairsConfig) -> None:
    """Every config error at once, each naming the key and the fix."""
    errors = []
    if cfg.strategy not in STRATEGIES:
        errors.append(f"strategy must be one of {STRATEGIES}, got {cfg.strategy!r}")
    if cfg.format not in FORMATS:
        errors.append(f"format must be one of {FORMATS}, got {cfg.format!r}")
    if cfg.pairs_per_problem < 1:
        errors.append(f"pairs_per_problem must be >= 1, got {cfg.pairs_per_problem}")
    if cfg.max_pairs is not None and cfg.max_pairs < 1:
        errors.append(f"max_pairs must be >= 1 or null, got {cfg.max_pairs}")
    if not 0.0 <= cfg.min_pass_rate <= cfg.max_pass_rate <= 1.0:
        errors.append(
            "need 0 <= min_pass_rate <= max_pass_rate <= 1, got "
            f"{cfg.min_pass_rate} and {cfg.max_pass_rate}"
        )
    if cfg.max_length < 16:
        errors.append(f"max_length must be the trainer's max_length (>= 16), got {cfg.max_length}")
    errors += stream_errors(cfg.stream)
    if errors:
        raise ValueError("bad rd-pairs config:\n  " + "\n  ".join(errors))


# ---------------------------------------------------------------------------------------------
# Rendering and measuring: exactly as TRL's DPOTrainer tokenizes a conversational pair.


def prompt_messages(r: dict[str, Any], cfg: PairsConfig) -> list[dict[str, str]]:
    return messages(r, PromptConfig(example=False, system=cfg.system))


def switch_of(cfg: PairsConfig) -> str | None:
    """The hybrid switch the pairs are trained under (applied when rendered, as rd-curate's)."""
    return "think" if cfg.format == "think" and cfg.mode_switch else None


def completion_text(r: dict[str, Any], cfg: PairsConfig) -> str:
    if cfg.format == "raw":
        return r["completion"]
    return format_answer(*split_completion(r["completion"]), "think")


def rendered_lengths(
    tokenizer, prompt: list[dict], completion: str, switch=None
) -> tuple[int, int]:
    """(prompt tokens, completion tokens) as rd-dpo tokenizes them: the generation prompt alone,
    then the completion with the template's end-of-turn (training_parts)."""
    text, target = training_parts(tokenizer, prompt, completion, switch)
    count = lambda t: len(tokenizer(t, add_special_tokens=False)["input_ids"])  # noqa: E731
    return count(str(text)), count(target)


def truncation_check(
    lengths: Iterable[tuple[str, int]], max_length: int, where: str
) -> dict[str, Any]:
    """(pair id, prompt+chosen tokens) for every pair, read once; an error if any chosen would be
    cut."""
    count, longest, over = 0, 0, []
    for pair_id, n in lengths:
        count, longest = count + 1, max(longest, n)
        if n > max_length:
            over.append((pair_id, n))
    if over:
        worst = max(over, key=lambda x: x[1])
        raise ValueError(
            f"{len(over)} of {count} chosen completions would lose their end (and final "
            f"answer) at {where}={max_length}: the longest prompt+chosen is {worst[1]} tokens "
            f"(pair {worst[0]}). Raise {where} to at least {worst[1]}, or rebuild the pairs with "
            f"rd-pairs max_length={max_length} so that such rollouts are not used as chosen."
        )
    return {
        "max_length": max_length,
        "pairs": count,
        "chosen_cut": 0,
        "longest_prompt_plus_chosen": longest,
    }


# ---------------------------------------------------------------------------------------------
# Pairing.


def _rng(seed: int, problem_id: str) -> random.Random:
    return random.Random(zlib.crc32(f"{seed}:{problem_id}".encode()))


def pair_problem(
    chosen: list[dict], rejected: list[dict], k: int, strategy: str, rng: random.Random
) -> list[tuple[dict, dict]]:
    """Up to k distinct (chosen, rejected) pairs of one problem.

    random / hardest_first: spread over as many different rollouts as possible (each pick takes the
    combination whose two sides were used least, ties broken at random), so k pairs are not k
    copies of one chosen. length_matched: the combinations closest in length first, which keeps
    DPO from learning "shorter wins" when wrong answers are mostly long (truncated) ones.
    """
    combos = [(i, j, rng.random()) for i in range(len(chosen)) for j in range(len(rejected))]
    if strategy == "length_matched":

        def gap(c: tuple) -> float:
            a, b = chosen[c[0]]["_tokens"], rejected[c[1]]["_tokens"]
            return abs(a - b) / max(a, b, 1)

        combos.sort(key=lambda c: (gap(c), c[2]))
        picked = combos[:k]
    else:
        used_c, used_r = Counter(), Counter()
        picked = []
        remaining = combos
        while remaining and len(picked) < k:
            best = min(remaining, key=lambda c: (used_c[c[0]] + used_r[c[1]], c[2]))
            picked.append(best)
            used_c[best[0]] += 1
            used_r[best[1]] += 1
            remaining = [c for c in remaining if c is not best]
    return [(chosen[i], rejected[j]) for i, j, _ in picked]


def problem_order(pids: list[str], rates: dict, strategy: str, seed: int) -> list[str]:
    """Which problems fill a max_pairs budget first: the hardest (lowest pass rate) for
    hardest_first, a seeded shuffle otherwise."""
    return sorted(pids, key=lambda p: order_key(p, rates[p], strategy, seed))


def order_key(pid: str, rate: float, strategy: str, seed: int) -> tuple:
    """A problem's place in problem_order, from the problem alone."""
    tiebreak = _rng(seed, pid).random()
    return (rate, tiebreak) if strategy == "hardest_first" else (tiebreak,)


def difficulty_of(r: dict[str, Any]) -> str:
    d = (r.get("meta") or {}).get("difficulty")
    return str(d) if d is not None else "-"


def build(records: list[dict], cfg: PairsConfig, tokenizer, bad: dict[str, dict]):
    """(pairs, steps, per-pair lengths): the selection steps over rollouts, then pairing."""
    records = sorted(records, key=rollout_order)
    rates = pass_rates(records)
    st = Steps()
    kept = select_rollouts(records, cfg, bad, rates, st)
    rendered = render_fitting(kept, cfg, tokenizer, st)
    pairs, lengths = pair_up(rendered, cfg, rates, st)
    return pairs, st, lengths


def select_rollouts(
    records: list[dict], cfg: PairsConfig, bad: dict[str, dict], rates: dict, st: Steps
) -> list[dict]:
    """The judged rollouts of problems that are not contaminated, inside the pass-rate window and
    solved sometimes but not always, without exact duplicates (and truncated ones if asked)."""
    kept = st.add(
        "judged",
        len(records),
        [r for r in records if r.get("correct") is not None],
        {"unjudged": sum(r.get("correct") is None for r in records)},
    )
    kept = st.add("decontaminate", len(kept), *drop_contaminated(kept, bad))
    in_window, dropped = [], Counter()
    for r in kept:
        rate = rates[r["problem_id"]]
        if rate == 0.0:
            dropped["never solved"] += 1
        elif rate == 1.0:
            dropped["always solved"] += 1
        elif rate < cfg.min_pass_rate:
            dropped["too hard"] += 1
        elif rate > cfg.max_pass_rate:
            dropped["too easy"] += 1
        else:
            in_window.append(r)
    kept = st.add("pass-rate window", len(kept), in_window, dropped)
    if not cfg.truncated_rejected:
        kept = st.add(
            "truncated",
            len(kept),
            [r for r in kept if r.get("finish_reason") != "length"],
            {"truncated": sum(r.get("finish_reason") == "length" for r in kept)},
        )
    return st.add("exact dedup", len(kept), *drop_exact_duplicates(kept))


def render_fitting(kept: list[dict], cfg: PairsConfig, tokenizer, st: Steps) -> list[dict]:
    """Each rollout rendered and measured as rd-dpo will; a chosen side that would not fit the
    trainer's max_length is not used."""
    rendered = []
    for r in kept:
        prompt = prompt_messages(r, cfg)
        text = completion_text(r, cfg)
        try:
            n_prompt, n_text = rendered_lengths(tokenizer, prompt, text, switch_of(cfg))
        except ValueError as e:
            raise ValueError(f"rollout {r['rollout_id']}: {e}") from e
        rendered.append(
            {**r, "_prompt": prompt, "_text": text, "_seq": n_prompt + n_text, "_tokens": n_text}
        )
    too_long = [r for r in rendered if r["correct"] and r["_seq"] > cfg.max_length]
    return st.add(
        "chosen fits max_length",
        len(rendered),
        [r for r in rendered if not (r["correct"] and r["_seq"] > cfg.max_length)],
        {f"chosen longer than max_length={cfg.max_length}": len(too_long)},
    )


def pair_row(pid: str, c: dict, r: dict, cfg: PairsConfig, rate: float) -> dict[str, Any]:
    """One line of pairs.jsonl from a rendered chosen and rejected rollout."""
    return {
        "problem_id": pid,
        "prompt": c["_prompt"],
        "chosen": c["_text"],
        "rejected": r["_text"],
        "switch": switch_of(cfg),
        "chosen_id": c["rollout_id"],
        "rejected_id": r["rollout_id"],
        "meta": {
            "source": c.get("source"),
            "kind": c.get("kind", "math"),
            "difficulty": difficulty_of(c),
            "pass_rate": rate,
            "chosen_tokens": c["_tokens"],
            "rejected_tokens": r["_tokens"],
            "rejected_truncated": r.get("finish_reason") == "length",
            "rejected_cut": r["_seq"] > cfg.max_length,
            "chosen_model": c.get("model"),
            "rejected_model": r.get("model"),
        },
    }


def pair_up(
    rendered: list[dict], cfg: PairsConfig, rates: dict, st: Steps
) -> tuple[list[dict], list[tuple[str, int]]]:
    """Pairs within each problem, then the max_pairs budget filled in problem order; with each
    pair's prompt+chosen length for the truncation check."""
    by_problem: dict[str, dict[bool, list[dict]]] = defaultdict(lambda: {True: [], False: []})
    for r in rendered:
        by_problem[r["problem_id"]][bool(r["correct"])].append(r)
    per_problem = {}
    unpairable = 0
    for pid, sides in by_problem.items():
        if not sides[True] or not sides[False]:
            unpairable += len(sides[True]) + len(sides[False])
            continue
        per_problem[pid] = pair_problem(
            sides[True], sides[False], cfg.pairs_per_problem, cfg.strategy, _rng(cfg.seed, pid)
        )
    pairs, lengths = [], []
    for pid in problem_order(list(per_problem), rates, cfg.strategy, cfg.seed):
        for c, r in per_problem[pid]:
            if cfg.max_pairs is not None and len(pairs) >= cfg.max_pairs:
                break
            pair_id = f"{c['rollout_id']}|{r['rollout_id']}"
            pairs.append(pair_row(pid, c, r, cfg, rates[pid]))
            lengths.append((pair_id, c["_seq"]))
    st.rows.append(
        {
            "step": "pairing",
            "in": len(rendered),
            "kept": len(pairs),
            "dropped": {"problem has only one outcome left": unpairable} if unpairable else {},
        }
    )
    return pairs, lengths


# ---------------------------------------------------------------------------------------------
# Report.


def mean(xs: list[int]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def length_plot(pairs: list[dict]) -> LengthPlot:
    """lengths.png: completion token lengths, chosen vs rejected."""
    chosen = [p["meta"]["chosen_tokens"] for p in pairs]
    rejected = [p["meta"]["rejected_tokens"] for p in pairs]
    return LengthPlot(
        series={
            f"chosen (mean {mean(chosen):.0f})": chosen,
            f"rejected (mean {mean(rejected):.0f})": rejected,
        },
        title=f"Chosen vs rejected lengths ({len(pairs)} pairs)",
        xlabel="completion tokens",
        ylabel="pairs",
    )


def make_report(
    cfg: PairsConfig,
    counts: tuple[int, int],
    fingerprint: list[list],
    src: Path,
    built: tuple[list[dict], Steps, dict[str, Any]],
    evals: EvalSets,
    bad: dict[str, dict],
) -> dict[str, Any]:
    """report.json: every step's counts, pairs per source and difficulty, chosen and rejected
    lengths, the truncation check and the decontamination removals."""
    pairs, steps, check = built
    return {
        "input": {
            "dir": str(src),
            "shards": fingerprint,
            "rollouts": counts[0],
            "problems": counts[1],
        },
        "pairs": len(pairs),
        "problems_paired": len({p["problem_id"] for p in pairs}),
        "strategy": cfg.strategy,
        "pairs_per_problem": cfg.pairs_per_problem,
        "steps": steps.rows,
        "by_source": dict(sorted(Counter(str(p["meta"]["source"]) for p in pairs).items())),
        "by_difficulty": dict(sorted(Counter(p["meta"]["difficulty"] for p in pairs).items())),
        "lengths": {
            "chosen": token_stats([p["meta"]["chosen_tokens"] for p in pairs]),
            "rejected": token_stats([p["meta"]["rejected_tokens"] for p in pairs]),
            "rejected_truncated": sum(p["meta"]["rejected_truncated"] for p in pairs),
            "rejected_cut": sum(p["meta"]["rejected_cut"] for p in pairs),
        },
        "truncation_check": check,
        "decontamination": {
            "ngram": cfg.decontam.ngram,
            "eval_sets": evals.loaded,
            "skipped": evals.skipped,
            "removed": sorted(bad.values(), key=lambda d: d["problem_id"]),
        },
        "plot": cfg.plot,
    }


def report_markdown(report: dict[str, Any]) -> str:
    lines = heading("rd-pairs", report["input"]["dir"])
    lines.append(
        f"{report['input']['rollouts']} rollouts of {report['input']['problems']} problems → "
        f"**{report['pairs']} pairs** from {report['problems_paired']} problems "
        f"(strategy {report['strategy']}, up to {report['pairs_per_problem']} per problem)."
    )
    lines += ["", *steps_table(report["steps"])]
    for title, key in (("source", "by_source"), ("difficulty", "by_difficulty")):
        lines += ["", f"Pairs per {title}:", "", f"| {title} | pairs |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in report[key].items()]
    ln = report["lengths"]
    lines += [
        "",
        "| tokens | chosen | rejected |",
        "|---|---:|---:|",
        f"| mean | {ln['chosen']['mean']} | {ln['rejected']['mean']} |",
        f"| total | {ln['chosen']['total']} | {ln['rejected']['total']} |",
        "",
        f"Rejected sides that were truncated rollouts: {ln['rejected_truncated']}; rejected sides "
        f"the trainer will cut at max_length: {ln['rejected_cut']} (a cut rejected side is fine: "
        "it stays wrong).",
    ]
    tc = report["truncation_check"]
    lines += [
        "",
        f"**Truncation check** at max_length={tc['max_length']}: {tc['chosen_cut']} of "
        f"{tc['pairs']} chosen completions cut; the longest prompt+chosen is "
        f"{tc['longest_prompt_plus_chosen']} tokens.",
    ]
    dec = report["decontamination"]
    lines += ["", f"Decontamination: {len(dec['removed'])} problems removed."]
    lines += [
        f"- {d['problem_id']} ~ {d['eval_set']}:{d['eval_problem_id']} ({d['ngram']!r})"
        for d in dec["removed"][:50]
    ]
    lines += [f"- skipped eval set {s['set']}: {s['reason']}" for s in dec["skipped"]]
    if report.get("plot"):
        lines += ["", "![lengths](lengths.png)"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# The stage: open it, load the inputs, build the pairs, write the pairs and the report.


def open_stage(cfg: PairsConfig) -> tuple[Stage, Path, list[Path]]:
    """The stage record (rollout/stage.py) over the config and the store's files."""
    src, shards = store_shards(cfg.input_dir, cfg.run_dir)
    stage = Stage(
        "rd-pairs",
        Path(cfg.run_dir) / "pairs",
        cfg,
        ignore=NON_RESULT,
        inputs={"store": files_id(shards)},
        on_change=cfg.on_change,
        outputs=[*OUTPUTS, "config.yaml", *(["lengths.png"] if cfg.plot else [])],
    )
    return stage, src, shards


def warn_no_pairs() -> None:
    print(
        "rd-pairs: warning: no pairs: no problem has both a correct and a wrong rollout left "
        "(see report.md for where they went)",
        file=sys.stderr,
    )


def run(cfg: PairsConfig) -> dict[str, Any]:
    """The stage; returns the summary (up_to_date=True when there was nothing to do)."""
    from rollout.store import read_store, write_jsonl_atomic, write_text_atomic

    validate(cfg)
    stage, src, shards = open_stage(cfg)
    stream = streams(cfg.stream, shards)
    if stream:
        check_executor(cfg.stream)  # before anything is written
    cfg_yaml = OmegaConf.to_yaml(OmegaConf.structured(cfg))
    fingerprint = store_fingerprint(shards)  # the shard sizes as they were when the stage began
    if stage.begin(input_paths={"store": str(src)}) == "done":
        return {**stage.previous, "up_to_date": True}  # nothing changed (rollout/stage.py)
    if stream:
        return run_stream(cfg, stage, src, shards, fingerprint)
    t0 = time.perf_counter()

    records = read_store(src)
    tokenizer = load_tokenizer(cfg.tokenizer)
    evals = load_eval_sets(cfg.decontam, "rd-pairs")
    bad = contaminated([r for r in records if r.get("correct") is not None], evals.index)
    pairs, steps, lengths = build(records, cfg, tokenizer, bad)
    check = truncation_check(lengths, cfg.max_length, "max_length")
    if not pairs:
        warn_no_pairs()

    out = stage.out
    write_jsonl_atomic(out / "pairs.jsonl", pairs)
    counts = (len(records), len({r["problem_id"] for r in records}))
    report = make_report(cfg, counts, fingerprint, src, (pairs, steps, check), evals, bad)
    markdown = report_markdown(report)
    write_report(out, report, markdown, length_plot(pairs) if cfg.plot else None)
    summary = {
        "pairs": len(pairs),
        "problems_paired": report["problems_paired"],
        "seconds": round(time.perf_counter() - t0, 2),
        "truncation_check": check,
        "input_paths": {"store": str(src)},
    }
    write_text_atomic(out / "config.yaml", cfg_yaml)
    summary = stage.finish(summary)  # last: until it is written the outputs count as unfinished
    print(markdown)
    return summary


# ---------------------------------------------------------------------------------------------
# The streaming path (stream.enabled=true): the same pairs.jsonl and report byte for byte, with the
# store grouped by problem in bounded memory and sharded by problem id (selection/stream.py):
#   select (stream.tasks tasks)  per problem: judged, decontamination, pass-rate window, truncation;
#                                compact keys (order, id, text hash) of what is left, by hash part
#   exact  (stream.tasks tasks)  exact duplicates across problems, one hash part at a time
#                                (selection/dedup.py)
#   pair   (stream.tasks tasks)  per problem: render and measure, pair; each problem's pairs keyed
#                                by its place in problem_order (from the problem alone)
#   finish (1 task)              merges the pairs in problem order up to max_pairs, the report


def _window_reason(rate: float | None, cfg: PairsConfig) -> str | None:
    """select_rollouts' pass-rate window for one problem's judged rollouts (None: inside)."""
    if rate == 0.0:
        return "never solved"
    if rate == 1.0:
        return "always solved"
    if rate < cfg.min_pass_rate:
        return "too hard"
    if rate > cfg.max_pass_rate:
        return "too easy"
    return None


class PairRows:
    """The pairs as the report reads them ({problem_id, meta}), a few bytes a pair instead of its
    text, so that finishing a big set does not hold it. Pairs arrive grouped by problem, so a
    problem is told apart by its place (its number, not its id: the report only counts them)."""

    def __init__(self) -> None:
        from array import array

        self.problem, self.chosen, self.rejected = array("q"), array("q"), array("q")
        self.labels, self.flags = array("i"), array("b")
        self.names: dict[Any, int] = {}
        self._last: str | None = None

    def add(self, pair: dict) -> None:
        if pair["problem_id"] != self._last:
            self._last = pair["problem_id"]
            self.problem.append(len(self.problem) and self.problem[-1] + 1)
        else:
            self.problem.append(self.problem[-1])
        m = pair["meta"]
        self.chosen.append(m["chosen_tokens"])
        self.rejected.append(m["rejected_tokens"])
        label = (m["source"], m["difficulty"])
        self.labels.append(self.names.setdefault(label, len(self.names)))
        self.flags.append(m["rejected_truncated"] + 2 * m["rejected_cut"])

    def __len__(self) -> int:
        return len(self.chosen)

    def __iter__(self):
        names = list(self.names)
        for k, c, r, label, flag in zip(
            self.problem, self.chosen, self.rejected, self.labels, self.flags, strict=True
        ):
            source, difficulty = names[label]
            meta = {
                "source": source,
                "difficulty": difficulty,
                "chosen_tokens": c,
                "rejected_tokens": r,
                "rejected_truncated": bool(flag & 1),
                "rejected_cut": bool(flag & 2),
            }
            yield {"problem_id": k, "meta": meta}


class StreamStep:
    """One step of the streaming pair building, as datatrove calls a pipeline step."""

    def __init__(self, name: str, cfg: PairsConfig, work: Path, shards: list[Path]):
        # The config as YAML: tasks may run in datatrove's worker processes or on other nodes,
        # where `python -m dpo.pairs`'s __main__ classes do not exist.
        self.name, self.cfg_yaml, self.work = name, OmegaConf.to_yaml(cfg), Path(work)
        self.shards = [Path(p) for p in shards]

    @property
    def cfg(self) -> PairsConfig:
        node = OmegaConf.merge(OmegaConf.structured(PairsConfig), OmegaConf.create(self.cfg_yaml))
        return OmegaConf.to_object(node)  # type: ignore[return-value]

    def __call__(self, data=None, rank: int = 0, world_size: int = 1):
        from selection.stream import raise_open_files

        raise_open_files()
        getattr(self, f"_{self.name}")(rank)

    def _dir(self, step: str, rank: int) -> Path:
        return self.work / step / f"t{rank:05d}"

    def _eligible(self, recs: list[dict], rate, cfg: PairsConfig, n: Counter, first: dict):
        """The problem's rollouts left after the window and the truncation rule, counting drops
        (first: reason -> the first rollout order it dropped, for the report's key order)."""
        judged = [r for r in recs if r.get("correct") is not None]
        reason = _window_reason(rate, cfg) if judged else None
        if reason:
            n[reason] += len(judged)
            here = list(rollout_order(judged[0]))  # buckets are not in problem order: the least
            first[reason] = min(first.get(reason, here), here)
            return []
        if not cfg.truncated_rejected:
            cut = [r for r in judged if r.get("finish_reason") == "length"]
            n["truncated"] += len(cut)
            judged = [r for r in judged if r.get("finish_reason") != "length"]
        return judged

    def _select(self, rank: int) -> None:
        from selection.dedup import PartFiles, part_of
        from selection.stream import bucket_files, problem_groups, spill, stable_hash

        cfg = self.cfg
        plan = read_json(self.work / "plan.json")
        spill_dir = self._dir("spill", rank)
        spill(self.shards, rank, cfg.stream.tasks, plan["buckets"], spill_dir)
        evals = load_eval_sets(cfg.decontam, "rd-pairs")
        n: Counter[str] = Counter()
        first: dict[str, list] = {}
        bad: dict[str, dict] = {}
        out = self._dir("select", rank)
        keys = PartFiles(lambda p: out / f"p{p:05d}.jsonl")
        for bucket in bucket_files(spill_dir):
            for pid, stored in problem_groups(bucket, None):
                recs = sorted(stored, key=rollout_order)
                n["rollouts"] += len(recs)
                n["problems"] += 1
                judged = [r for r in recs if r.get("correct") is not None]
                n["judged"] += len(judged)
                n["unjudged"] += len(recs) - len(judged)
                in_store = [r for r in stored if r.get("correct") is not None][:1]
                entry = contaminated(in_store, evals.index).get(pid)
                if entry:
                    bad[pid] = entry
                    n["contaminated"] += len(judged)
                    continue
                for r in self._eligible(recs, pass_rates(recs)[pid], cfg, n, first):
                    h = stable_hash(dedup_key(r))
                    keys.write(part_of(h, plan["parts"]), [rollout_order(r), r["rollout_id"], h])
        keys.close()
        write_json(
            out.with_suffix(".json"),
            {
                "counts": n,
                "first": first,
                "bad": bad,
                "loaded": evals.loaded,
                "skipped": evals.skipped,
            },
        )

    def _exact(self, rank: int) -> None:
        from selection.dedup import PartFiles, drop_exact
        from selection.stream import destination

        tasks, work = self.cfg.stream.tasks, self.work
        plan = read_json(work / "plan.json")
        dest = destination(tasks, plan["buckets"])
        for p in range(rank, plan["parts"], tasks):
            out = PartFiles(
                lambda tb, p=p: work / "exact" / f"t{tb[0]:05d}.b{tb[1]:05d}" / f"p{p:05d}.jsonl"
            )
            drop_exact(sorted(work.glob(f"select/t*/p{p:05d}.jsonl")), dest, out)
            out.close()

    def _pair(self, rank: int) -> None:
        from selection.dedup import read_drops
        from selection.stream import bucket_files, problem_groups

        cfg = self.cfg
        bad = read_json(self.work / "select" / f"t{rank:05d}.json")["bad"]
        tokenizer = load_tokenizer(cfg.tokenizer)
        n: Counter[str] = Counter()
        out = self._dir("pair", rank)
        for bucket in bucket_files(self._dir("spill", rank)):
            rows = []
            drop = read_drops(self.work.glob(f"exact/t{rank:05d}.{bucket.stem}/p*.jsonl"))
            for pid, recs in problem_groups(bucket, rollout_order):
                if pid in bad:
                    continue
                rate = pass_rates(recs)[pid]
                kept = self._eligible(recs, rate, cfg, Counter(), {})
                kept = [r for r in kept if r["rollout_id"] not in drop]
                rendered = render_fitting(kept, cfg, tokenizer, Steps())
                n["exact dedup kept"] += len(kept)
                n["rendered"] += len(rendered)
                sides: dict[bool, list[dict]] = {True: [], False: []}
                for r in rendered:
                    sides[bool(r["correct"])].append(r)
                if not sides[True] or not sides[False]:
                    n["unpairable"] += len(rendered)
                    continue
                picked = pair_problem(
                    sides[True], sides[False], cfg.pairs_per_problem, cfg.strategy,
                    _rng(cfg.seed, pid),
                )  # fmt: skip
                key = [*order_key(pid, rate, cfg.strategy, cfg.seed), pid]
                for j, (c, r) in enumerate(picked):
                    pair_id = f"{c['rollout_id']}|{r['rollout_id']}"
                    rows.append([[*key, j], pair_id, c["_seq"], pair_row(pid, c, r, cfg, rate)])
            rows.sort(key=lambda row: row[0])
            write_rows(out / f"{bucket.stem}.jsonl", rows)
        write_json(out.with_suffix(".json"), {"counts": n})

    def _finish(self, rank: int) -> None:
        from array import array

        from rollout.store import write_jsonl_atomic, write_text_atomic
        from selection.stream import cleanup, merge_sorted, same_eval_sets

        cfg, tasks, work = self.cfg, self.cfg.stream.tasks, self.work
        plan = read_json(work / "plan.json")
        n: Counter[str] = Counter()
        first: dict[str, list] = {}
        bad: dict[str, dict] = {}
        parts = [read_json(work / "select" / f"t{t:05d}.json") for t in range(tasks)]
        same_eval_sets(parts, work)
        for part in parts:
            n.update(part["counts"])
            bad.update(part["bad"])
            for reason, order in part["first"].items():
                first[reason] = min(first.get(reason, order), order)
        for t in range(tasks):
            n.update(read_json(work / "pair" / f"t{t:05d}.json")["counts"])
        st = Steps()
        kept = len(st.add("judged", n["rollouts"], range(n["judged"]), {"unjudged": n["unjudged"]}))
        kept = len(
            st.add("decontaminate", kept, range(kept - n["contaminated"]),
                   {"contaminated": n["contaminated"]})
        )  # fmt: skip
        window = {reason: n[reason] for reason in sorted(first, key=lambda x: first[x])}
        kept = len(st.add("pass-rate window", kept, range(kept - sum(window.values())), window))
        if not cfg.truncated_rejected:
            kept = len(
                st.add(
                    "truncated", kept, range(kept - n["truncated"]), {"truncated": n["truncated"]}
                )
            )
        deduped = n["exact dedup kept"]
        st.add("exact dedup", kept, range(deduped), {"exact duplicate": kept - deduped})
        st.add(
            "chosen fits max_length",
            deduped,
            range(n["rendered"]),
            {f"chosen longer than max_length={cfg.max_length}": deduped - n["rendered"]},
        )
        pairs_meta = PairRows()
        seqs, over = array("q"), []  # prompt+chosen lengths; the pairs over max_length by id

        def pairs():
            for _key, pair_id, seq, pair in merge_sorted(sorted(work.glob("pair/t*/b*.jsonl"))):
                if cfg.max_pairs is not None and len(seqs) >= cfg.max_pairs:
                    return
                seqs.append(seq)
                if seq > cfg.max_length:
                    over.append((pair_id, seq))
                pairs_meta.add(pair)
                yield pair

        out = Path(cfg.run_dir) / "pairs"
        write_jsonl_atomic(out / "pairs.jsonl", pairs())
        unpairable = n["unpairable"]
        st.rows.append(
            {
                "step": "pairing",
                "in": n["rendered"],
                "kept": len(pairs_meta),
                "dropped": {"problem has only one outcome left": unpairable} if unpairable else {},
            }
        )
        lengths = chain(over, (("", n) for n in seqs if n <= cfg.max_length))
        check = truncation_check(lengths, cfg.max_length, "max_length")
        if not pairs_meta:
            warn_no_pairs()
        evals = EvalSets(None, parts[0]["loaded"], parts[0]["skipped"])  # type: ignore[arg-type]
        report = make_report(
            cfg,
            (n["rollouts"], n["problems"]),
            plan["fingerprint"],
            Path(plan["src"]),
            (pairs_meta, st, check),  # type: ignore[arg-type]
            evals,
            bad,
        )
        markdown = report_markdown(report)
        write_report(out, report, markdown, length_plot(pairs_meta) if cfg.plot else None)
        summary = {
            "pairs": len(pairs_meta),
            "problems_paired": report["problems_paired"],
            "seconds": round(time.time() - plan["started"], 2),
            "truncation_check": check,
            "input_paths": {"store": plan["src"]},
        }
        write_text_atomic(out / "config.yaml", OmegaConf.to_yaml(OmegaConf.structured(cfg)))
        open_stage(cfg)[0].finish(summary)
        cleanup(work)
        print(markdown)


def run_stream(cfg: PairsConfig, stage: Stage, src: Path, shards: list[Path], fingerprint):
    """The streaming path's steps under datatrove (selection/stream.py); a rerun after a kill
    skips the tasks datatrove marked complete."""
    from selection.stream import plan_work, run_steps

    s = cfg.stream
    work = plan_work(stage.out, shards, s, src=str(src), fingerprint=fingerprint)
    # The class as imported (not __main__'s under `python -m dpo.pairs`), so tasks unpickle it.
    step_class = importlib.import_module("dpo.pairs").StreamStep
    step = lambda name, tasks: (name, step_class(name, cfg, work, shards), tasks)  # noqa: E731
    run_steps(
        [step("select", s.tasks), step("exact", s.tasks), step("pair", s.tasks), step("finish", 1)],
        work,
        s,
        "rd-pairs",
    )
    if s.executor != "local":
        print(f"rd-pairs: submitted; logs under {work / 'logs'}; summary in {stage.summary_path}")
        return {"submitted": True, "work": str(work)}
    return read_json(stage.summary_path)


@hydra.main(config_path="pkg://conf", config_name="pairs", version_base="1.3")
def _hydra_main(cfg) -> None:
    typed: PairsConfig = OmegaConf.to_object(cfg)  # type: ignore[assignment]
    try:
        run(typed)
    except ValueError as e:
        print(f"rd-pairs: error: {e}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    _hydra_main()


if __name__ == "__main__":
    main()
