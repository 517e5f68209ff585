"""rd-rollout: sample chain-of-thought from a teacher, verify it, resample what is unsolved, store all.

    rd-rollout                                                   # the default: runs on a CPU in minutes
    rd-rollout run_dir=runs/demo problems.limit=16 sampling.n=4 sampling.max_tokens=128 seed=0
    rd-rollout engine=openai engine.kwargs.urls='[http://h1:8000/v1,http://h2:8000/v1]'
    rd-rollout -m shard='range(8)' num_shards=8 hydra/launcher=submitit_slurm   # a SLURM array

Outputs under run_dir/rollout/: shard-*.jsonl (one Rollout per line), manifest-*.json (config,
problem states, which settings produced which rounds), config-*.yaml, summary.json, pass_rates.png.
Re-running continues where it stopped; a finished run does nothing.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from rollout.engines import EngineConfig, ModelConfig, engine_kwargs
from rollout.farm import (
    Farm,
    RejectionConfig,
    SamplingConfig,
    in_budget,
    is_done,
    round_plan,
    states_before,
)
from rollout.problems import ProblemsConfig, load_problems, shard_of
from rollout.prompts import THINKING_MODES, PromptConfig
from rollout.store import Kept


@dataclass
class VerifyOptions:
    workers: int = 1  # the engine keeps one core busy; the checkers get the rest
    timeout: float | None = None
    judge: bool = False  # a model judges what the rules abstain on (correct=None)
    judge_model: str | None = None  # None: the teacher itself; else a model loaded like the teacher
    judge_format: str = "strict"  # verifiers.judge.FORMATS: strict | general_verifier
    judge_max_tokens: int = 16
    judge_engine: dict[str, Any] = field(default_factory=dict)  # engine kwargs for judge_model


def chat_generate(engine, seed: int, max_tokens: int):
    """A judge's generate function over a farm engine: each prompt as one user turn, greedy."""

    def generate(prompts: list[str]) -> list[str]:
        texts = [
            engine.tokenizer.apply_chat_template(
                [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
            )
            for p in prompts
        ]
        outs = engine.generate(
            texts, 1, [seed] * len(texts), {"temperature": 0.0, "max_tokens": max_tokens}
        )
        return [o[0].text for o in outs]

    return generate


@dataclass
class RolloutConfig:
    run_dir: str = "runs/demo"
    seed: int = 0
    shard: int = 0
    num_shards: int = 1
    chunk_size: int = 64  # prompts per engine call, and the unit a resume regenerates
    compress: bool = False  # gzip the shard file
    plot: bool = True
    model: ModelConfig = field(default_factory=ModelConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    problems: ProblemsConfig = field(default_factory=ProblemsConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    rejection: RejectionConfig = field(default_factory=RejectionConfig)
    verify: VerifyOptions = field(default_factory=VerifyOptions)
    on_change: str = "extend"  # settings changed since the store was made: extend | rerun | error


ConfigStore.instance().store(name="rollout_schema", node=RolloutConfig)
ON_CHANGE = ("extend", "rerun", "error")
# Keys that cannot change what is sampled (rollout/stage.py leaves them out of the fingerprint).
NON_RESULT = ("plot", "verify.workers")


def validate(cfg: RolloutConfig) -> None:
    """Every config error at once, each naming the key and the fix."""
    errors = []
    if cfg.sampling.n < 1:
        errors.append(f"sampling.n must be >= 1, got {cfg.sampling.n}")
    if cfg.sampling.max_tokens < 1:
        errors.append(f"sampling.max_tokens must be >= 1, got {cfg.sampling.max_tokens}")
    if not 0 <= cfg.shard < cfg.num_shards:
        errors.append(f"shard must be in [0, num_shards={cfg.num_shards}), got {cfg.shard}")
    if cfg.chunk_size < 1:
        errors.append(f"chunk_size must be >= 1, got {cfg.chunk_size}")
    if cfg.rejection.max_rounds < 1:
        errors.append(f"rejection.max_rounds must be >= 1, got {cfg.rejection.max_rounds}")
    if cfg.rejection.max_samples < cfg.sampling.n:
        errors.append(
            f"rejection.max_samples ({cfg.rejection.max_samples}) must be >= sampling.n ({cfg.sampling.n})"
        )
    if cfg.prompt.thinking not in THINKING_MODES:
        errors.append(
            f"prompt.thinking must be one of {THINKING_MODES}, got {cfg.prompt.thinking!r}"
        )
    if errors:
        raise ValueError("invalid rd-rollout config:\n  " + "\n  ".join(errors))


def pending_work(
    index: Mapping[str, Kept], problems: list[dict], rc: RejectionConfig, n: int
) -> bool:
    """Is there anything left to sample? Decided from the store's index alone (ShardWriter.index),
    before an engine starts."""
    for rnd in range(rc.max_rounds):
        todo, have = round_plan(index, problems, rc, n, rnd)
        if not todo:
            return False
        if any(have[p["problem_id"]] < n for p in todo):
            return True
    return False


def problem_states(
    index: Mapping[str, Kept], problems: list[dict], rc: RejectionConfig, n: int
) -> dict[str, dict]:
    final = states_before(index, 10**9)
    out = {}
    for p in problems:
        s = final[p["problem_id"]]
        state = (
            "done" if is_done(s, rc) else ("pending" if in_budget(s, rc, n) else "out_of_budget")
        )
        out[p["problem_id"]] = {
            "state": state,
            "correct": s.correct,
            "wrong": s.wrong,
            "unjudged": s.unjudged,
            "samples": s.samples,
        }
    return out


def shard_identity(cfg: RolloutConfig, out: Path, tag: str):
    """The stage contract for one shard, as far as an append-only, sharded store allows
    (rollout/stage.py): the fingerprint of the settings sits in the shard's manifest. When they
    changed since the shard was made, on_change=extend (the default) says which and continues: new
    settings apply to problems not yet done, and the manifest's history records which settings made
    which rounds; rerun moves this shard's files aside to rollout.<old fingerprint>/ and starts
    over; error stops, naming them."""
    from rollout.stage import Stage, changes, read_summary

    if cfg.on_change not in ON_CHANGE:
        raise ValueError(f"on_change must be one of {ON_CHANGE}, got {cfg.on_change!r}")
    name = f"shard-{tag}.jsonl" + (".gz" if cfg.compress else "")
    ident = Stage(
        "rd-rollout",
        out,
        cfg,
        ignore=NON_RESULT,
        on_change="error" if cfg.on_change == "error" else "rerun",
        summary=f"manifest-{tag}.json",
        own=[name, f"config-{tag}.yaml"],
    )
    old = read_summary(out / ident.summary_name)
    if cfg.on_change != "extend" and old.get("fingerprint") != ident.fingerprint:
        ident.decide()
    elif old.get("fingerprint") not in (None, ident.fingerprint):
        what = "; ".join(changes(old, ident.identity()))
        print(
            f"rd-rollout: changed since {out / name} was made: {what}; extending it (the new "
            "settings apply to problems not yet done; on_change=rerun starts over)"
        )
    return ident


def run(cfg: RolloutConfig, engine=None) -> dict[str, Any]:
    """The stage. `engine` may be passed in (tests, benchmarks) to reuse one that is already up."""
    from tqdm import tqdm

    from rollout.engines import make_engine
    from rollout.models import prepare
    from rollout.report import plot_pass_rates, print_table, summarize
    from rollout.stage import files_id, read_summary
    from rollout.store import ShardWriter, iter_store, shard_files, write_json_atomic

    # Check the config, load the problems of this shard.
    validate(cfg)
    out = Path(cfg.run_dir) / "rollout"
    out.mkdir(parents=True, exist_ok=True)
    tag = f"{cfg.shard:05d}-of-{cfg.num_shards:05d}"
    ident = shard_identity(cfg, out, tag)
    if read_summary(out / f"manifest-{tag}.json").get("fingerprint") != ident.fingerprint:
        (out / f"config-{tag}.yaml").write_text(OmegaConf.to_yaml(OmegaConf.structured(cfg)))
    problems = [
        p
        for p in load_problems(cfg.problems)
        if cfg.num_shards == 1 or shard_of(p["problem_id"], cfg.num_shards) == cfg.shard
    ]
    writer = ShardWriter(out, cfg.shard, cfg.num_shards, cfg.compress)
    if writer.torn_bytes:
        print(
            f"rd-rollout: discarded a torn last line ({writer.torn_bytes} bytes) of {writer.path.name}",
            file=sys.stderr,
        )
    manifest_path = out / f"manifest-{tag}.json"
    previous = read_summary(manifest_path)
    history = previous.get("history", [])

    # Run the farm unless the store already holds everything.
    t0 = time.perf_counter()
    farm = None
    if pending_work(writer.index, problems, cfg.rejection, cfg.sampling.n):
        own_engine = engine is None
        kwargs = engine_kwargs(cfg.model, cfg.engine)
        if own_engine:
            engine = make_engine(cfg.engine.name, prepare(cfg.model.path), kwargs)
        verify_fn = None
        teachers: dict[str, Any] = {}
        if cfg.verify.judge:
            from verifiers import Cascade, Judge

            judge_engine = engine
            if cfg.verify.judge_model:
                judge_engine = teachers[cfg.verify.judge_model] = make_engine(
                    cfg.engine.name,
                    prepare(cfg.verify.judge_model),
                    {**kwargs, **cfg.verify.judge_engine},
                )
            verify_fn = Cascade(
                judge=Judge(
                    chat_generate(judge_engine, cfg.seed, cfg.verify.judge_max_tokens),
                    format=cfg.verify.judge_format,
                ),
                workers=cfg.verify.workers,
                timeout=cfg.verify.timeout,
            )

        def teacher_engine(spec: str):
            """Another teacher for later rounds: same engine kind, loaded once, closed at the end."""
            if spec not in teachers:
                teachers[spec] = make_engine(cfg.engine.name, prepare(spec), kwargs)
            return teachers[spec]

        farm = Farm(
            engine,
            writer,
            cfg.model.name,
            cfg.prompt,
            cfg.sampling.params(),
            cfg.sampling.n,
            cfg.rejection,
            seed=cfg.seed,
            chunk_size=cfg.chunk_size,
            verify_options={"workers": cfg.verify.workers, "timeout": cfg.verify.timeout},
            verify_fn=verify_fn,
            teacher_engine=teacher_engine,
        )
        bar = tqdm(
            total=len(problems), desc="problems done", unit="problem", file=sys.stderr, disable=None
        )

        def progress(f: Farm) -> None:
            states = problem_states(f.writer.index, problems, cfg.rejection, cfg.sampling.n)
            finished = sum(s["state"] != "pending" for s in states.values())
            correct = sum(r.correct is True for r in f.writer.index.values())
            total = len(f.writer.index)
            bar.n = finished
            bar.set_postfix(
                rollouts=total,
                accept=f"{correct / max(1, total):.1%}",
                tok_s=f"{f.tokens / max(1e-9, f.gen_seconds):.0f}",
            )
            bar.refresh()

        try:
            farm.run(problems, on_progress=progress)
        finally:
            bar.close()
            for t in teachers.values():
                t.close()
            if own_engine:
                engine.close()
    seconds = time.perf_counter() - t0

    # Manifest, summary, table, plot; nothing rewritten when there was nothing to do.
    # (One shard of several rewrites the summary: it covers the other shards' files too.)
    if farm is None and cfg.num_shards == 1 and previous.get("fingerprint") == ident.fingerprint:
        summary_path = out / "summary.json"
        if summary_path.exists():
            print(
                f"rd-rollout: {out} is up to date (fingerprint {ident.fingerprint}); nothing to do"
            )
            return json.loads(summary_path.read_text())
    states = problem_states(writer.index, problems, cfg.rejection, cfg.sampling.n)
    if farm is not None:
        history.append(
            {
                "run": len(history),
                "settings": farm.settings_log,
                "tokens": farm.tokens,
                "seconds": round(seconds, 2),
            }
        )
    counts = {
        k: sum(1 for s in states.values() if s["state"] == k)
        for k in ("done", "out_of_budget", "pending")
    }
    write_json_atomic(
        manifest_path,
        {
            "shard": cfg.shard,
            "num_shards": cfg.num_shards,
            "file": writer.path.name,
            "rollouts": len(writer.index),
            "problem_counts": counts,
            "problems": states,
            "history": history,
            "resolved": OmegaConf.to_container(OmegaConf.structured(cfg)),
            "status": "done",
            "fingerprint": ident.fingerprint,
            "config": ident.config,  # the settings the fingerprint covers
        },
    )
    summary = summarize(iter_store(out))  # every shard, streamed
    tok_s = farm.tokens / farm.gen_seconds if farm and farm.gen_seconds else None
    summary_out = {k: v for k, v in summary.items() if k != "per_problem_pass_rates"}
    summary_out.update(
        {
            "shards": cfg.num_shards,
            "this_run": {
                "seconds": round(seconds, 2),
                "tokens": farm.tokens if farm else 0,
                "tokens_per_s": tok_s,
            },
            "problem_counts": counts,
            # What the next stages key on: the content of every shard (the store is append-only).
            "status": "done",
            "fingerprint": files_id(shard_files(out))[len("sha256:") :],
        }
    )
    write_json_atomic(out / "summary.json", summary_out)
    print_table(summary, seconds=seconds, tokens_per_s=tok_s)
    if cfg.plot:
        plot_pass_rates(summary["per_problem_pass_rates"], out / "pass_rates.png")
    return summary_out


@hydra.main(config_path="pkg://conf", config_name="rollout", version_base="1.3")
def _hydra_main(cfg) -> None:
    typed: RolloutConfig = OmegaConf.to_object(cfg)  # type: ignore[assignment]
    try:
        run(typed)
    except ValueError as e:
        print(f"rd-rollout: error: {e}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    _hydra_main()


if __name__ == "__main__":
    main()
