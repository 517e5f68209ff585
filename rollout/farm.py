"""The sampling farm: rounds of generation, verification overlapped with it, rejection sampling.

Round 0 samples `n` completions for every problem. A problem is done when it has `k_correct` correct
rollouts (and `m_incorrect` wrong ones when asked), or out of budget (`max_rounds`, `max_samples`).
Problems not done are sampled again next round, with that round's overrides. Every rollout is kept.

Determinism and resume: a round's problems are cut into fixed chunks in a fixed order, each prompt's
seed is derived from (seed, problem_id, round), and a chunk is generated whole or not at all. So a
resumed run regenerates a half-written chunk exactly as the uninterrupted run did and only writes the
rollout ids that are missing. Whether a problem takes part in round r depends only on its rollouts of
earlier rounds, never on what round r already stored.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from rollout.prompts import PromptConfig, render
from rollout.store import Kept, ShardWriter


@dataclass
class SamplingConfig:
    """How each prompt is sampled: `n` completions with these SamplingParams fields."""

    n: int = 4
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 256
    extra: dict[str, Any] = field(
        default_factory=dict
    )  # any other SamplingParams field (top_k, min_p, stop)

    def params(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            **self.extra,
        }


@dataclass
class RejectionConfig:
    k_correct: int = 1  # a problem is done with this many correct rollouts...
    m_incorrect: int = 0  # ...and (for preference pairs) this many wrong ones
    max_rounds: int = 3
    max_samples: int = 32  # per problem, over all rounds
    # Changes for round 1, 2, ...: sampling fields, and `teacher` (a model recipe, hub name or
    # folder) to resample the still-unsolved problems with another model.
    round_overrides: list[dict[str, Any]] = field(default_factory=list)


def derive_seed(seed: int, problem_id: str, rnd: int) -> int:
    h = hashlib.sha256(f"{seed}:{problem_id}:{rnd}".encode()).digest()
    return int.from_bytes(h[:4], "little") & 0x7FFFFFFF


@dataclass
class ProblemState:
    correct: int = 0
    wrong: int = 0
    unjudged: int = 0
    samples: int = 0
    rounds: set[int] = field(default_factory=set)


def states_before(index: Mapping[str, Kept], rnd: int) -> dict[str, ProblemState]:
    """Per-problem counts over rollouts of rounds < rnd (what decides who takes part in round rnd).
    `index` is a ShardWriter's: rollout_id -> Kept (problem, round, index, verdict)."""
    out: dict[str, ProblemState] = defaultdict(ProblemState)
    for r in index.values():
        if r.round >= rnd:
            continue
        s = out[r.problem_id]
        s.samples += 1
        s.rounds.add(r.round)
        if r.correct is True:
            s.correct += 1
        elif r.correct is False:
            s.wrong += 1
        else:
            s.unjudged += 1
    return out


def is_done(s: ProblemState, rc: RejectionConfig) -> bool:
    return s.correct >= rc.k_correct and s.wrong >= rc.m_incorrect


def in_budget(s: ProblemState, rc: RejectionConfig, n: int) -> bool:
    return len(s.rounds) < rc.max_rounds and s.samples + n <= rc.max_samples


def round_plan(
    index: Mapping[str, Kept], problems: list[dict], rc: RejectionConfig, n: int, rnd: int
) -> tuple[list[dict], dict[str, int]]:
    """Round rnd's problems (not done, in budget after rounds < rnd) and what round rnd stored already."""
    before = states_before(index, rnd)
    todo = [
        p
        for p in problems
        if not is_done(before[p["problem_id"]], rc) and in_budget(before[p["problem_id"]], rc, n)
    ]
    have: dict[str, int] = defaultdict(int)
    for r in index.values():
        if r.round == rnd:
            have[r.problem_id] += 1
    return todo, have


class Farm:
    """Runs the loop for one shard of problems with one engine, into one ShardWriter."""

    def __init__(
        self,
        engine,
        writer: ShardWriter,
        model_name: str,
        prompt: PromptConfig,
        sampling: dict[str, Any],
        n: int,
        rejection: RejectionConfig,
        seed: int = 0,
        chunk_size: int = 16,
        verify_options: dict[str, Any] | None = None,
        verify_fn=None,
        teacher_engine=None,
    ):
        from verifiers import verify_batch

        self.engine, self.writer = engine, writer
        self.model_name, self.prompt, self.sampling, self.n = model_name, prompt, dict(sampling), n
        self.rc, self.seed, self.chunk_size = rejection, seed, chunk_size
        self.verify_options = dict(verify_options or {})
        # verify_fn(items) -> verdicts: verify_batch by default, or a Cascade with a judge.
        self.verify_fn = verify_fn or (lambda items: verify_batch(items, **self.verify_options))
        self.tokens = 0
        self.gen_seconds = 0.0
        self.settings_log: list[dict[str, Any]] = []
        # teacher_engine(spec) -> engine, for rounds whose override names another teacher.
        self.teacher_engine = teacher_engine
        self._texts: dict[str, dict[str, str]] = {}

    def round_sampling(self, rnd: int) -> tuple[dict[str, Any], str | None]:
        """This round's sampling settings and teacher (None: the run's own model)."""
        s = dict(self.sampling)
        teacher = None
        if rnd > 0 and self.rc.round_overrides:
            o = dict(self.rc.round_overrides[min(rnd, len(self.rc.round_overrides)) - 1])
            teacher = o.pop("teacher", None)
            s.update(o)
        return s, teacher

    def _engine(self, teacher: str | None, problems):
        """The engine and rendered prompts for a round: each teacher gets its own chat template."""
        if teacher is None:
            engine, name = self.engine, self.model_name
        else:
            if self.teacher_engine is None:
                raise ValueError(
                    "rejection.round_overrides names a teacher, but no teacher_engine was given"
                )
            engine, name = self.teacher_engine(teacher), str(teacher).rstrip("/").split("/")[-1]
        key = name
        if key not in self._texts:
            self._texts[key] = {
                p["problem_id"]: render(engine.tokenizer, p, self.prompt) for p in problems
            }
        return engine, name, self._texts[key]

    def _records(self, chunk, outputs, rnd, sampling, seeds, model_name) -> list[dict[str, Any]]:
        recs = []
        for p, samples, seed in zip(chunk, outputs, seeds, strict=True):
            for i, smp in enumerate(samples):
                recs.append(
                    {
                        **p,
                        "rollout_id": f"{p['problem_id']}:r{rnd}:i{i}",
                        "model": model_name,
                        "completion": smp.text,  # with the think text the prompt wrote
                        "finish_reason": smp.finish_reason,
                        "num_tokens": smp.num_tokens,
                        "round": rnd,
                        "index": i,
                        "seed": seed,
                        "sampling": {"n": self.n, **sampling},
                    }
                )
        return recs

    def _verify_and_store(self, recs: list[dict[str, Any]]) -> int:
        missing = [r for r in recs if r["rollout_id"] not in self.writer.index]
        if not missing:
            return 0
        verdicts = self.verify_fn(missing)
        for r, v in zip(missing, verdicts, strict=True):
            r["correct"] = v.correct
            r["verdict"] = v.to_dict()
        return len(self.writer.append(missing))

    def run(self, problems: list[dict[str, Any]], on_progress=None) -> dict[str, Any]:
        """Sample until every problem is done or out of budget. Returns per-round counts."""
        rounds_log = []
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rd-verify")
        try:
            for rnd in range(self.rc.max_rounds):
                todo, have = round_plan(self.writer.index, problems, self.rc, self.n, rnd)
                if not todo:
                    break
                sampling, teacher = self.round_sampling(rnd)
                logged = False
                pending: Future | None = None
                written = 0
                for start in range(0, len(todo), self.chunk_size):
                    chunk = todo[start : start + self.chunk_size]
                    if all(have[p["problem_id"]] >= self.n for p in chunk):
                        continue  # stored by an earlier (interrupted) run
                    if not logged:  # which settings produced this round (in this run)
                        engine, model_name, texts = self._engine(teacher, problems)
                        self.settings_log.append(
                            {
                                "round": rnd,
                                "model": model_name,
                                "sampling": {"n": self.n, **sampling},
                                "problems": len(todo),
                            }
                        )
                        logged = True
                    seeds = [derive_seed(self.seed, p["problem_id"], rnd) for p in chunk]
                    t0 = time.perf_counter()
                    outputs = engine.generate(
                        [texts[p["problem_id"]] for p in chunk], self.n, seeds, sampling
                    )
                    self.gen_seconds += time.perf_counter() - t0
                    recs = self._records(chunk, outputs, rnd, sampling, seeds, model_name)
                    self.tokens += sum(r["num_tokens"] for r in recs)
                    # Verify and store this chunk in the background while the engine does the next.
                    if pending is not None:
                        written += pending.result()
                        if on_progress:
                            on_progress(self)
                    pending = pool.submit(self._verify_and_store, recs)
                if pending is not None:
                    written += pending.result()
                    if on_progress:
                        on_progress(self)
                rounds_log.append({"round": rnd, "problems": len(todo), "written": written})
        finally:
            pool.shutdown(wait=True)
        return {"rounds": rounds_log}
