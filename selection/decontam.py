"""Selection steps shared by curation (distill/curate.py) and pair building (dpo/pairs.py).

Both stages read the rollout store and must drop the same things for the same reasons: eval-set
overlap (n-gram decontamination), exact duplicates, problems outside a pass-rate window. Keeping the
steps here keeps the two stages' reports comparable and lets neither import the other.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollout.problems import ProblemsConfig


def default_eval_sets() -> list[ProblemsConfig]:
    """The sets nothing we train on may overlap: the hand-written set and a held-out synthetic one."""
    return [
        ProblemsConfig(source="builtin"),
        ProblemsConfig(
            source="synthetic", seed=1000, count=200, generators=None, difficulty=[1, 2, 3]
        ),
    ]


@dataclass
class DecontamConfig:
    ngram: int = 13  # words, lowercased, punctuation stripped (math symbols kept)
    sets: list[ProblemsConfig] = field(default_factory=default_eval_sets)


_WORD = re.compile(r"[^\W_]+|[+\-*/=<>^%()\[\]]")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def rollout_order(r: dict[str, Any]) -> tuple:
    """rollout_id order read numerically (":r0:i10" after ":r0:i2"): deterministic across runs."""
    return (r["problem_id"], r.get("round", 0), r.get("index", 0), r["rollout_id"])


def dedup_key(r: dict[str, Any]) -> str:
    return " ".join(r["prompt"].split()) + "\x00" + " ".join(r["completion"].split())


class Steps:
    """The record of one output's selection: every step's input, kept and dropped-by-reason counts."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, step: str, before: int, kept: list, dropped: dict[str, int]) -> list:
        self.rows.append(
            {
                "step": step,
                "in": before,
                "kept": len(kept),
                "dropped": {k: v for k, v in dropped.items() if v},
            }
        )
        return kept


def only_correct(records: list[dict]) -> tuple[list[dict], dict[str, int]]:
    kept = [r for r in records if r.get("correct") is True]
    return kept, {
        "wrong": sum(r.get("correct") is False for r in records),
        "unjudged": sum(r.get("correct") is None for r in records),
    }


def drop_exact_duplicates(records: list[dict]) -> tuple[list[dict], dict[str, int]]:
    seen: set[str] = set()
    kept = []
    for r in records:
        key = dedup_key(r)
        if key not in seen:
            seen.add(key)
            kept.append(r)
    return kept, {"exact duplicate": len(records) - len(kept)}


def cap_per_problem(records: list[dict], cap: int | None) -> tuple[list[dict], dict[str, int]]:
    if cap is None:
        return records, {}
    have: Counter[str] = Counter()
    kept = []
    for r in records:  # records arrive in rollout order, so the first ones stay
        if have[r["problem_id"]] < cap:
            have[r["problem_id"]] += 1
            kept.append(r)
    return kept, {"over per-problem cap": len(records) - len(kept)}


def pass_rates(records: list[dict]) -> dict[str, float | None]:
    """correct / judged per problem; unjudged rollouts are not counted as failures."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in records:
        c = counts[r["problem_id"]]
        if r.get("correct") is not None:
            c[1] += 1
            c[0] += r["correct"] is True
    return {pid: (c / j if j else None) for pid, (c, j) in counts.items()}


def set_name(pc: ProblemsConfig) -> str:
    if pc.source == "synthetic":
        gens = ",".join(pc.generators) if pc.generators else "all"
        return f"synthetic(seed={pc.seed}, count={pc.count}, difficulty={list(pc.difficulty)}, generators={gens})"
    if pc.source == "file":
        return f"file:{pc.path}"
    if pc.source == "hub":
        return f"hub:{pc.name}" + (f"/{pc.config_name}" if pc.config_name else "") + f":{pc.split}"
    return pc.source


class EvalIndex:
    """N-grams of every eval prompt. A prompt shorter than n words is one gram, its whole text, and
    matches wherever it appears inside the other prompt (both ways), so a short eval question
    copied into a longer training prompt, or the reverse, is still caught."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.grams: dict[tuple[str, ...], tuple[str, str]] = {}
        self.lengths: set[int] = set()
        self.prompts: list[tuple[list[str], str, str]] = []
        self._short_cache: dict[int, dict[tuple[str, ...], tuple[str, str]]] = {}

    def add(self, prompt: str, where: tuple[str, str]) -> None:
        w = words(prompt)
        if not w:
            return
        self.prompts.append((w, *where))
        k = min(self.n, len(w))
        self.lengths.add(k)
        for i in range(len(w) - k + 1):
            self.grams.setdefault(tuple(w[i : i + k]), where)

    def _all_grams(self, k: int) -> dict[tuple[str, ...], tuple[str, str]]:
        if k not in self._short_cache:
            grams: dict[tuple[str, ...], tuple[str, str]] = {}
            for w, name, pid in self.prompts:
                for i in range(len(w) - k + 1):
                    grams.setdefault(tuple(w[i : i + k]), (name, pid))
            self._short_cache[k] = grams
        return self._short_cache[k]

    def match(self, prompt: str) -> tuple[str, str, str] | None:
        """(eval set, eval problem_id, matched n-gram) of the first overlap, or None."""
        w = words(prompt)
        if not w:
            return None
        for k in sorted(self.lengths, reverse=True):
            for i in range(len(w) - k + 1):
                g = tuple(w[i : i + k])
                if g in self.grams:
                    return (*self.grams[g], " ".join(g))
        if len(w) < self.n:
            g = tuple(w)
            hit = self._all_grams(len(w)).get(g)
            if hit:
                return (*hit, " ".join(g))
        return None


def load_eval_sets(sets: list[ProblemsConfig], n: int) -> tuple[EvalIndex, list[dict], list[dict]]:
    """The index over every set that loads; a set that does not (offline hub) is skipped, not fatal."""
    from rollout.problems import load_problems

    index, loaded, skipped = EvalIndex(n), [], []
    for pc in sets:
        name = set_name(pc)
        try:
            problems = load_problems(pc)
        except Exception as e:  # offline hub, missing file, gated set: report and go on
            skipped.append({"set": name, "reason": f"{type(e).__name__}: {e}"[:500]})
            continue
        for p in problems:
            index.add(p["prompt"], (name, p["problem_id"]))
        loaded.append({"set": name, "problems": len(problems)})
    return index, loaded, skipped


def contaminated(records: list[dict], index: EvalIndex) -> dict[str, dict]:
    """problem_id -> the removal entry, for every training problem whose prompt overlaps an eval set."""
    out: dict[str, dict] = {}
    seen: set[str] = set()
    for r in records:
        pid = r["problem_id"]
        if pid in seen:
            continue
        seen.add(pid)
        hit = index.match(r["prompt"])
        if hit:
            out[pid] = {
                "problem_id": pid,
                "source": r.get("source"),
                "eval_set": hit[0],
                "eval_problem_id": hit[1],
                "ngram": hit[2],
            }
    return out


def drop_contaminated(
    records: list[dict], bad: dict[str, dict]
) -> tuple[list[dict], dict[str, int]]:
    kept = [r for r in records if r["problem_id"] not in bad]
    return kept, {"contaminated": len(records) - len(kept)}


def token_counts(tokenizer, texts: list[str], batch: int = 1024) -> list[int]:
    out: list[int] = []
    for i in range(0, len(texts), batch):
        out += [
            len(ids)
            for ids in tokenizer(texts[i : i + batch], add_special_tokens=False)["input_ids"]
        ]
    return out


def token_stats(counts: list[int]) -> dict[str, float]:
    return {"total": sum(counts), "mean": round(sum(counts) / len(counts), 1) if counts else 0.0}


def load_tokenizer(name: str):
    from transformers import AutoTokenizer

    from rollout.models import prepare

    try:
        return AutoTokenizer.from_pretrained(prepare(name))
    except OSError as e:
        raise ValueError(
            f"tokenizer={name!r} could not be loaded ({e}); set tokenizer= to a recipe name "
            "(smollm2_135m) or a local model folder"
        ) from e


def store_fingerprint(shards: list[Path]) -> list[list]:
    """Shard names and sizes: the store is append-only, so any new rollout changes a size."""
    return [[p.name, p.stat().st_size] for p in shards]


def store_shards(input_dir: str | None, run_dir: str) -> tuple[Path, list[Path]]:
    """The rollout store a stage reads (input_dir, else run_dir/rollout) and its shard files."""
    from rollout.store import shard_files

    src = Path(input_dir) if input_dir else Path(run_dir) / "rollout"
    shards = shard_files(src)
    if not shards:
        raise ValueError(
            f"no rollout store at {src} (no shard-*.jsonl files): run rd-rollout run_dir={run_dir} "
            "first, or set input_dir=<a folder with shard files>"
        )
    return src, shards
