"""Decontamination: which training problems overlap an evaluation set, and by which n-gram.

rd-curate and rd-pairs both drop every problem whose prompt shares an n-gram with a prompt of an
evaluation set. The sets checked are `decontam.sets` (problem configs: the hand-written set),
`decontam.benchmarks` (the public benchmarks by their conf/problems/ name, read from the copy shipped
in rollout/data/benchmarks/ when there is one) and `decontam.heldout` (the held-out set rd-eval
scores, chosen by name: `problems@decontam.heldout=heldout_arith`). A benchmark that decontamination
misses is missing from `decontam.benchmarks` in conf/curate.yaml / conf/pairs.yaml, or failed to
load (reported as skipped).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from rollout.problems import SOURCES, ProblemsConfig, problems_preset


def benchmark_set(name: str) -> ProblemsConfig:
    """A public benchmark by its conf/problems/ name, for decontamination: the hub set as rd-eval
    reads it, but from the copy shipped in rollout/data/benchmarks/<name>.jsonl when there is one
    (same rows, offline too)."""
    pc = problems_preset(name)
    shipped = resources.files("rollout").joinpath("data", "benchmarks", f"{name}.jsonl")
    if pc.source == "hub" and pc.path is None and shipped.is_file():
        pc.path = str(shipped)
    return pc


@dataclass
class DecontamConfig:
    ngram: int = 13  # words, lowercased, punctuation stripped (math symbols kept)
    # The held-out evaluation set (conf/problems/heldout.yaml; the YAML configs pick it by name);
    # null: none (decontam.heldout=null decontam.sets=[] decontam.benchmarks=[] turns decontamination off).
    heldout: ProblemsConfig | None = field(default_factory=lambda: problems_preset("heldout"))
    # Other sets nothing we train on may overlap, as problem configs: the hand-written set.
    sets: list[ProblemsConfig] = field(default_factory=lambda: [ProblemsConfig(source="builtin")])
    # The public benchmarks, by conf/problems/ name (benchmark_set).
    benchmarks: list[str] = field(default_factory=lambda: ["math500", "aime24", "gpqa_diamond"])


def checked_sets(cfg: DecontamConfig) -> list[ProblemsConfig]:
    """Every set decontamination checks, in report order: decontam.sets, the benchmarks, then the
    held-out set."""
    named = [benchmark_set(n) for n in cfg.benchmarks]
    return [*cfg.sets, *named, *([cfg.heldout] if cfg.heldout is not None else [])]


def config_errors(cfg: DecontamConfig) -> list[str]:
    """The decontam.* settings that cannot work, each naming the key and the choices."""
    errors = []
    if cfg.ngram < 1:
        errors.append(f"decontam.ngram must be >= 1, got {cfg.ngram}")
    named = [(f"decontam.sets[{i}]", pc) for i, pc in enumerate(cfg.sets)]
    for i, name in enumerate(cfg.benchmarks):
        try:
            problems_preset(name)
        except ValueError as e:
            errors.append(f"decontam.benchmarks[{i}]: {e}")
    if cfg.heldout is not None:
        named.append(("decontam.heldout", cfg.heldout))
    for key, pc in named:
        if pc.source not in SOURCES:
            errors.append(
                f"{key}.source={pc.source!r} is not a source; choose one of {sorted(SOURCES)}"
            )
    return errors


# Math symbols stay as words: with them stripped "What is 15 + 10?" and "What is 15 - 10?" would
# match, and "What is 14 - (3 - 15)?" would contain "What is 14 - 3?".
_WORD = re.compile(r"[^\W_]+|[+\-*/=<>^%()\[\]]")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


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


@dataclass
class EvalSets:
    """The loaded evaluation sets: the n-gram index, what was checked, what could not be loaded."""

    index: EvalIndex
    loaded: list[dict[str, Any]]  # {"set", "problems"}
    skipped: list[dict[str, Any]]  # {"set", "reason"}


def load_eval_sets(cfg: DecontamConfig, command: str) -> EvalSets:
    """The index over every checked set that loads; a set that does not (offline hub, missing file,
    gated set) is skipped with its reason on stderr and in the report, not fatal."""
    from rollout.problems import load_problems

    out = EvalSets(EvalIndex(cfg.ngram), [], [])
    for pc in checked_sets(cfg):
        name = set_name(pc)
        try:
            problems = load_problems(pc)
        except Exception as e:  # offline hub, missing file, gated set: report and go on
            out.skipped.append({"set": name, "reason": f"{type(e).__name__}: {e}"[:500]})
            continue
        for p in problems:
            out.index.add(p["prompt"], (name, p["problem_id"]))
        out.loaded.append({"set": name, "problems": len(problems)})
    for skip in out.skipped:
        print(f"{command}: skipped eval set {skip['set']}: {skip['reason']}", file=sys.stderr)
    return out


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
