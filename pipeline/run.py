"""rd-pipeline: every stage in order in one run_dir, from problems to a per-stage results table.

    rd-pipeline                                        # the built-in default: SmolLM2 on CPU, ~15-20 min
    rd-pipeline run_dir=runs/p2 'overrides.sft=["++trainer.num_train_epochs=5"]'   # added to the default's
    rd-pipeline experiment=phi4_mini_reasoning dry_run=true run_dir=/shared/runs/phi4   # the plan only

Stages: rollout (rejection sampling) -> curate -> pretrain -> sft -> pairs -> dpo -> eval (the base
model and every stage's checkpoint) -> report. Each stage is its own command (`rd-<stage>`, run as a
child process: a crash or the memory of one stage never takes the others down), started with
`run_dir` and the stage's overrides from `overrides.<stage>` (those given on the command line are
added after the recipe's, a later key winning); `launch.<stage>` can put it under
accelerate/torchrun/srun. Every stage is started every time and decides itself, through the stage
contract (rollout/stage.py), whether it has nothing to do (same fingerprint: settings and inputs),
resumes (same fingerprint, unfinished) or runs again (another fingerprint: its old outputs are moved
aside, and the stages after it see new inputs). Re-running after a crash continues where it stopped.

Outputs: the stages' folders, plus run_dir/report.md|json (the per-stage table, what improved, by
how much, and whether it is significant at this size), run_dir/pipeline/state.json (commands,
times), and a model card (README.md) in every checkpoint folder.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

STAGES = ("rollout", "curate", "pretrain", "sft", "pairs", "dpo", "eval", "report")
# stage -> (module with main(), its primary config, its summary: status and fingerprint)
COMMANDS = {
    "rollout": ("rollout.generate", "rollout", "rollout/summary.json"),
    "curate": ("distill.curate", "curate", "curate/summary.json"),
    "pretrain": ("distill.pretrain", "pretrain", "pretrain/summary.json"),
    "sft": ("distill.sft", "sft", "sft/summary.json"),
    "pairs": ("dpo.pairs", "pairs", "pairs/summary.json"),
    "dpo": ("dpo.train", "dpo", "dpo/summary.json"),
    "eval": ("evaluation.evaluate", "eval", "eval/summary.json"),
}
CHECKPOINT_STAGES = ("pretrain", "sft", "dpo")


@dataclass
class StagePlan:
    """One stage's line in the plan: its data budget and the expected cost from a throughput."""

    # What it processes, in words, naming the stage's own settings in braces: "{problems.limit}
    # problems x {sampling.n} samples", "{trainer[num_train_epochs]} epochs": the plan prints the
    # values the run will use, overrides included.
    budget: str = ""
    tokens: float = 0.0  # tokens it processes (generated or trained on)
    tokens_per_second: float = 0.0  # per device, measured (or cited: say so in `source`)
    devices: int = 1
    source: str = ""  # where the throughput comes from


@dataclass
class CardConfig:
    push_to_hub: bool = False  # push every checkpoint folder (model card included) to the hub
    hub_repo: str | None = None  # "<user>/<name>": pushed as <name>-<stage>
    license: str = "apache-2.0"


@dataclass
class PipelineConfig:
    run_dir: str = "runs/pipeline"
    dry_run: bool = False  # print the plan (stages, budgets, commands, costs); run nothing
    stages: list[str] = field(default_factory=lambda: list(STAGES))
    title: str = "reasoning-distill default: SmolLM2-135M self-distillation on CPU"
    description: str = ""  # what this recipe is, for the report and the model cards
    student: str = "smollm2_135m"  # the base model evaluated first (recipe name or folder)
    teacher: str = "smollm2_135m"
    overrides: dict[str, list[str]] = field(default_factory=dict)  # stage -> Hydra overrides
    launch: dict[str, str] = field(default_factory=dict)  # stage -> prefix; "{python} -m {module}"
    plan: dict[str, StagePlan] = field(default_factory=dict)
    card: CardConfig = field(default_factory=CardConfig)


ConfigStore.instance().store(name="pipeline_schema", node=PipelineConfig)


def validate(cfg: PipelineConfig) -> None:
    errors = []
    unknown = [s for s in cfg.stages if s not in STAGES]
    if unknown:
        errors.append(f"stages: unknown {unknown}; the stages are {list(STAGES)}")
    for key in ("overrides", "launch", "plan"):
        bad = [s for s in getattr(cfg, key) if s not in COMMANDS]
        if bad:
            errors.append(f"{key}: unknown stage(s) {bad}; use one of {list(COMMANDS)}")
    for stage, prefix in cfg.launch.items():
        if "{module}" not in prefix:
            errors.append(f"launch.{stage} must contain {{module}}, got {prefix!r}")
    if cfg.card.push_to_hub and not cfg.card.hub_repo:
        errors.append("card.push_to_hub=true needs card.hub_repo=<user>/<name>")
    if errors:
        raise ValueError("bad rd-pipeline config:\n  " + "\n  ".join(errors))


def override_key(override: str) -> str:
    """The key an override sets: '++trainer.x=1' -> 'trainer.x', '~a.b' -> 'a.b'."""
    return override.lstrip("~+").split("=", 1)[0].strip()


def merge_overrides(base: list[str], extra: list[str]) -> list[str]:
    """`extra` added after `base`; an override of a key already set replaces the earlier one (a
    later key wins). If the earlier one had to add the key (+/++), the later one forces it (++),
    since the key is not in the stage's YAML."""
    out = list(base)
    for o in extra:
        key = override_key(o)
        earlier = [b for b in out if override_key(b) == key]
        out = [b for b in out if override_key(b) != key]
        if earlier and any(e.startswith("+") for e in earlier) and not o.startswith(("+", "~")):
            o = "++" + o
        out.append(o)
    return out


def command(cfg: PipelineConfig, stage: str) -> list[str]:
    module = COMMANDS[stage][0]
    prefix = cfg.launch.get(stage, "{python} -m {module}")
    head = shlex.split(prefix.format(python=sys.executable, module=module))
    return [*head, f"run_dir={cfg.run_dir}", *cfg.overrides.get(stage, [])]


def compose_stage(cfg: PipelineConfig, stage: str):
    """The stage's own typed config, composed as its command would: unknown keys fail here."""
    import importlib

    from hydra import compose

    importlib.import_module(COMMANDS[stage][0])  # registers its schema
    overrides = [f"run_dir={cfg.run_dir}", *cfg.overrides.get(stage, [])]
    try:
        return OmegaConf.to_object(compose(config_name=COMMANDS[stage][1], overrides=overrides))
    except Exception as e:
        raise ValueError(
            f"overrides.{stage} do not compose with conf/{COMMANDS[stage][1]}.yaml: {e}"
        ) from e


# ---------------------------------------------------------------------------------------------
# The plan (dry run).


def fmt_hours(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def fill_budget(stage: str, template: str, stage_cfg) -> str:
    """The budget text with its `{key.sub}` / `{trainer[key]}` fields read from the stage's config."""
    try:
        return template.format_map(vars(stage_cfg))
    except (KeyError, AttributeError, IndexError, TypeError, ValueError) as e:
        raise ValueError(
            f"plan.{stage}.budget {template!r} names a setting that conf/{COMMANDS[stage][1]}.yaml "
            f"does not have ({type(e).__name__}: {e}); write {{key.sub}} for config fields, "
            f"{{trainer[key]}} for keys of a dict, and {{{{ }}}} for literal braces"
        ) from e


def plan(cfg: PipelineConfig) -> dict[str, Any]:
    """Every stage: its command, data budget and expected cost; each config composed and checked."""
    rows = []
    total = 0.0
    for stage in cfg.stages:
        if stage == "report":
            rows.append({"stage": stage, "command": "(in-process) report + model cards"})
            continue
        stage_cfg = compose_stage(cfg, stage)
        p = cfg.plan.get(stage, StagePlan())
        seconds = p.tokens / (p.tokens_per_second * p.devices) if p.tokens_per_second else None
        total += seconds or 0.0
        rows.append(
            {
                "stage": stage,
                "command": shlex.join(command(cfg, stage)),
                "budget": fill_budget(stage, p.budget, stage_cfg),
                "tokens": p.tokens,
                "devices": p.devices,
                "tokens_per_second_per_device": p.tokens_per_second,
                "expected_seconds": seconds,
                "expected_device_hours": (seconds * p.devices / 3600) if seconds else None,
                "throughput_source": p.source,
            }
        )
    return {"title": cfg.title, "run_dir": cfg.run_dir, "stages": rows, "expected_seconds": total}


def print_plan(p: dict[str, Any]) -> None:
    print(f"# rd-pipeline plan: {p['title']}\nrun_dir: {p['run_dir']}\n")
    for i, r in enumerate(p["stages"], 1):
        print(f"{i}. {r['stage']}")
        print(f"   command:  {r['command']}")
        if r.get("budget"):
            print(f"   budget:   {r['budget']} ({r['tokens']:.3g} tokens)")
        if r.get("expected_seconds"):
            print(
                f"   cost:     {fmt_hours(r['expected_seconds'])} wall on {r['devices']} device(s) "
                f"= {r['expected_device_hours']:.1f} device-hours at "
                f"{r['tokens_per_second_per_device']:,.0f} tokens/s/device ({r['throughput_source']})"
            )
    print(
        f"\nexpected total: {fmt_hours(p['expected_seconds'])} wall (stages run one after another)"
    )


# ---------------------------------------------------------------------------------------------
# Running.


def load_state(path: Path) -> dict[str, Any]:
    if path.exists():
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            return {}
    return {}


def run_stage(cfg: PipelineConfig, stage: str, state: dict[str, Any], state_path: Path) -> str:
    """Runs the stage's command; the stage itself decides nothing to do / resume / run again (the
    stage contract, rollout/stage.py). Returns 'ran' or 'nothing to do' (its summary unchanged)."""
    from rollout.stage import read_summary
    from rollout.store import write_json_atomic

    cmd = command(cfg, stage)
    summary_path = Path(cfg.run_dir) / COMMANDS[stage][2]
    before = summary_path.read_bytes() if summary_path.exists() else None
    prev = state.get(stage, {})
    print(f"rd-pipeline: [{stage}] {shlex.join(cmd)}", flush=True)
    state[stage] = {**prev, "status": "running", "command": cmd[1:], "started": time.time()}
    write_json_atomic(state_path, state)
    t0 = time.perf_counter()
    # The stage inherits the environment as is: the cluster recipe needs the hub (datasets, models),
    # scripts/demo.sh and scripts/test.sh set HF_HUB_OFFLINE=1 for the offline default.
    rc = subprocess.run(cmd).returncode  # its own output and progress bars, as they come
    seconds = round(time.perf_counter() - t0, 1)
    if rc != 0:
        state[stage] = {**state[stage], "status": "failed", "returncode": rc, "seconds": seconds}
        write_json_atomic(state_path, state)
        raise RuntimeError(
            f"stage {stage} failed (exit {rc}) after {seconds} s (its output is above). Fix the cause "
            "and re-run rd-pipeline with the same arguments: finished stages have nothing to do and "
            "this one resumes."
        )
    summary = read_summary(summary_path)
    idle = before is not None and summary_path.read_bytes() == before
    state[stage] = {
        **state[stage],
        "status": "done",
        "fingerprint": summary.get("fingerprint"),
        "last": "nothing to do" if idle else "ran",
        "last_seconds": seconds,
        # The time that made the outputs in place: kept across invocations that had nothing to do.
        "seconds": prev.get("seconds", seconds) if idle else seconds,
    }
    write_json_atomic(state_path, state)
    print(f"rd-pipeline: [{stage}] {state[stage]['last']} ({seconds} s)", flush=True)
    return state[stage]["last"]


def run(cfg: PipelineConfig) -> dict[str, Any]:
    validate(cfg)
    if cfg.dry_run:
        p = plan(cfg)
        print_plan(p)
        return p
    from pipeline.report import write_report
    from rollout.store import write_json_atomic

    for stage in cfg.stages:  # every stage's config is checked before anything runs
        if stage != "report":
            compose_stage(cfg, stage)
    state_path = Path(cfg.run_dir) / "pipeline" / "state.json"
    state_path.parent.mkdir(parents=True, exist_ok=True)
    (state_path.parent / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.structured(cfg)))
    state = load_state(state_path)
    t0 = time.perf_counter()
    for stage in cfg.stages:
        if stage != "report":
            run_stage(cfg, stage, state, state_path)
    result: dict[str, Any] = {"stages": state}
    if "report" in cfg.stages:
        result = write_report(cfg, state)
    state["_total_seconds"] = round(time.perf_counter() - t0, 1)
    write_json_atomic(state_path, state)
    return result


def added_overrides(cfg) -> None:
    """`overrides.<stage>=[...]` given on the command line adds to the recipe's list for that stage
    (Hydra alone would replace the list): the recipe is composed again without them, and each
    stage's list becomes the recipe's followed by the command line's, a later key winning."""
    from hydra import compose
    from hydra.core.hydra_config import HydraConfig

    task = list(HydraConfig.get().overrides.task)
    given = [o for o in task if override_key(o).startswith("overrides.")]
    if not given:
        return
    recipe = compose(
        config_name=HydraConfig.get().job.config_name,
        overrides=[o for o in task if o not in given],
    )
    for stage in {override_key(o).split(".")[1] for o in given}:
        base = list(recipe.overrides.get(stage) or [])
        cfg.overrides[stage] = merge_overrides(base, list(cfg.overrides[stage]))


@hydra.main(config_path="pkg://conf", config_name="pipeline", version_base="1.3")
def _hydra_main(cfg) -> None:
    added_overrides(cfg)
    typed: PipelineConfig = OmegaConf.to_object(cfg)  # type: ignore[assignment]
    try:
        run(typed)
    except (ValueError, RuntimeError) as e:
        print(f"rd-pipeline: error: {e}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    _hydra_main()


if __name__ == "__main__":
    main()
