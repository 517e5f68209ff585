"""The pipeline's report and the model cards: what each stage did and whether it helped, honestly.

A change counts as an improvement only when the paired bootstrap over the same problems says so
(p < 0.05); anything else is reported as a change "not significant at this size", with its interval.
The comparisons are rd-eval's own (run_dir/eval/comparison.json); the report computes none.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

ALPHA = 0.05


def _load(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def stage_facts(run_dir: Path) -> dict[str, Any]:
    """The few numbers per stage the report and the cards quote, from each stage's summary.json."""
    ro = _load(run_dir / "rollout" / "summary.json")
    allg = (ro.get("groups") or {}).get("all", {})
    cur = _load(run_dir / "curate" / "summary.json")
    pairs = _load(run_dir / "pairs" / "summary.json")
    facts: dict[str, Any] = {
        "rollout": {
            "problems": ro.get("problems"),
            "rollouts": allg.get("rollouts"),
            "correct": allg.get("correct"),
            "pass_rate": allg.get("pass_rate"),
            "problems_with_correct": ro.get("problems_with_correct"),
        },
        "curate": {
            k: cur.get(k)
            for k in ("pretrain_examples", "pretrain_tokens", "sft_examples", "sft_tokens")
        },
        "pairs": {"pairs": pairs.get("pairs"), "problems": pairs.get("problems_paired")},
    }
    for stage in ("pretrain", "sft", "dpo"):
        s = _load(run_dir / stage / "summary.json")
        facts[stage] = {
            k: s.get(k)
            for k in ("steps", "first_loss", "last_loss", "seconds", "tokens", "examples")
        }
        if stage == "dpo":
            facts[stage]["metrics"] = {
                k: v for k, v in (s.get("metrics") or {}).items() if k.startswith("final/")
            }
    return facts


TRAINED = ("pretrain", "sft", "dpo")
DATA = ("curate", "pairs")


def provenance(cfg, run_dir: Path, state: dict[str, Any]) -> dict[str, Any]:
    """Which fingerprint and which settings made each stage's outputs and each row of the table,
    checked against each other: a row made from an upstream output that has changed since (a
    stage run by hand, or left out with `stages=`) would mix results of different runs in one
    table, so that is an error naming the stage and the fix."""
    from rollout.stage import file_id, files_id, model_id
    from rollout.store import shard_files

    stages: dict[str, Any] = {}
    stale = []
    for stage in [s for s in cfg.stages if s != "report"]:
        s = _load(run_dir / stage / "summary.json")
        settings = list(cfg.overrides.get(stage, []))
        stages[stage] = {
            "fingerprint": s.get("fingerprint"),
            "status": s.get("status"),
            "settings": settings,
            "config": s.get("config"),
            "inputs": s.get("inputs", {}),
        }
        if s.get("status") != "done":
            stale.append(f"{stage}: its summary is not done (status {s.get('status')!r})")
        paths = s.get("input_paths") or {}
        for name, recorded in (s.get("inputs") or {}).items():
            path = paths.get(name)
            if name == "corpus" and path is not None:  # a file, or a glob of curate's shards
                from distill.pack import corpus_files

                try:
                    files = corpus_files(path)
                except ValueError:
                    continue
                now = file_id(files[0]) if len(files) == 1 else files_id(files)
            elif path is None or not Path(path).exists():
                continue
            elif name == "store":
                now = files_id(shard_files(path))
            elif name in ("init", "model"):
                now = model_id(path)
            else:
                now = file_id(path)
            if now != recorded:
                stale.append(
                    f"{stage} was made from {name} {recorded}, which is now {now} ({path})"
                )
    ev = _load(run_dir / "eval" / "summary.json")
    rows = {}
    for ck, spec in (ev.get("checkpoints") or {}).items():
        recorded = (ev.get("inputs") or {}).get(f"checkpoints.{ck}")
        now = model_id(spec)
        made_by = now.split("@")[0] if "@" in now else None
        rows[ck] = {
            "model": spec,
            "identity": recorded,
            "settings": stages.get(made_by, {}).get("settings", []),
        }
        if recorded != now:
            stale.append(f"eval row {ck} was evaluated on {recorded}, but {spec} is now {now}")
    if stale:
        raise ValueError(
            "the report would mix results of different runs in one table:\n  "
            + "\n  ".join(stale)
            + "\nRun rd-pipeline again with the same arguments (and every stage in `stages`): "
            "each stage whose inputs changed runs again."
        )
    return {"stages": stages, "rows": rows}


def verdicts(compared: dict[str, Any]) -> list[str]:
    """One plain sentence per (stage, benchmark): what changed, by how much, significant or not.
    `compared` is rd-eval's comparison.json (evaluation/evaluate.py compare())."""
    out = []
    for c in compared.get("stages", []):
        d, p = 100 * c["delta"], c["p_value"]
        lo, hi = (100 * x for x in c["delta_ci"])
        where = f"{c['checkpoint']} vs {c['vs']} on {c['benchmark']} ({c['problems']} problems)"
        if p < ALPHA and d > 0:
            out.append(
                f"- {where}: **improved by {d:+.1f} points** (95% CI [{lo:+.1f}, {hi:+.1f}], p={p:.3f})."
            )
        elif p < ALPHA:
            out.append(
                f"- {where}: **worse by {d:+.1f} points** (95% CI [{lo:+.1f}, {hi:+.1f}], p={p:.3f})."
            )
        else:
            out.append(
                f"- {where}: {d:+.1f} points, not significant at this size (95% CI "
                f"[{lo:+.1f}, {hi:+.1f}], p={p:.2f})."
            )
    return out


def overall(table: dict[str, Any], compared: dict[str, Any]) -> list[str]:
    """The last checkpoint against the first (the whole pipeline), paired over the same problems:
    rd-eval's comparison.json `overall`, quoted when the table has a row between them (with two
    rows it is the one stage comparison that verdicts already states)."""
    if len(table.get("rows", [])) < 3:
        return []
    out = []
    for c in compared["overall"]:
        d, (lo, hi), pv = 100 * c["delta"], (100 * x for x in c["delta_ci"]), c["p_value"]
        sig = "significant" if pv < ALPHA else "not significant at this size"
        out.append(
            f"- **{c['checkpoint']} vs {c['vs']}** on {c['benchmark']} ({c['problems']} problems): "
            f"{d:+.1f} points (95% CI [{lo:+.1f}, {hi:+.1f}], p={pv:.3f}; {sig})."
        )
    return out


def _settings(overrides: list[str]) -> str:
    """A stage's overrides for a table cell (pipes escaped; the full config is in report.json)."""
    text = " ".join(f"`{o}`" for o in overrides) or "(defaults)"
    return text.replace("|", "\\|")


def _r(x: Any, nd: int = 3) -> Any:
    return round(x, nd) if isinstance(x, float) else x


def model_card(cfg, stage: str, facts: dict[str, Any], table_md: str) -> str:
    f = facts
    lines = [
        "---",
        f"license: {cfg.card.license}",
        f"base_model: {cfg.student}",
        "tags: [reasoning-distill, reasoning, math]",
        "---",
        "",
        f"# {cfg.title}: {stage} checkpoint",
        "",
        f"Base model: `{cfg.student}`. Teacher: `{cfg.teacher}`. Made by reasoning-distill's "
        f"`rd-pipeline` (run_dir `{cfg.run_dir}`).",
    ]
    if cfg.description:
        lines += ["", cfg.description.strip()]
    lines += [
        "",
        "## Recipe and data",
        "",
        f"1. Rollouts: {f['rollout']['rollouts']} sampled from the teacher on "
        f"{f['rollout']['problems']} problems, verified (pass rate "
        f"{(f['rollout']['pass_rate'] or 0):.1%}), resampled by rejection sampling.",
        f"2. Distill pretraining: {f['curate']['pretrain_examples']} verified-correct "
        f"chains of thought ({f['curate']['pretrain_tokens']} tokens), {f['pretrain']['steps']} steps.",
        f"3. SFT: {f['curate']['sft_examples']} curated examples ({f['curate']['sft_tokens']} "
        f"tokens), {f['sft']['steps']} steps.",
        f"4. Roll-out DPO: {f['pairs']['pairs']} correct-vs-wrong pairs from "
        f"{f['pairs']['problems']} problems, {f['dpo']['steps']} steps.",
        "",
        f"This folder is the checkpoint after stage `{stage}`.",
        "",
        "## Evaluation (all stages, same protocol)",
        "",
        table_md.strip(),
        "",
    ]
    return "\n".join(lines)


def write_report(cfg, state: dict[str, Any]) -> dict[str, Any]:
    from rollout.store import write_json_atomic, write_text_atomic

    run_dir = Path(cfg.run_dir)
    table = _load(run_dir / "eval" / "table.json")
    compared = _load(run_dir / "eval" / "comparison.json")
    for name, got in (("table.json", table), ("comparison.json", compared)):
        if not got:
            raise ValueError(
                f"no evaluation {name} at {run_dir / 'eval' / name}: run the eval stage "
                "(rd-eval writes both)"
            )
    table_md = (
        (run_dir / "eval" / "table.md").read_text()
        if (run_dir / "eval" / "table.md").exists()
        else ""
    )
    facts = stage_facts(run_dir)
    made = provenance(cfg, run_dir, state)
    said = overall(table, compared) + verdicts(compared)
    seconds = {s: v.get("seconds") for s, v in state.items() if isinstance(v, dict)}
    self_distill = cfg.teacher == cfg.student
    lines = [f"# {cfg.title}", ""]
    if self_distill:
        lines += [
            f"**Self-distillation**: the teacher and the student are the same model (`{cfg.student}`). "
            "Nothing is learned from a stronger model; what the stages can teach is the model's own "
            "best behaviour, selected by the verifiers (rejection sampling) and contrasted with its "
            "mistakes (DPO): answer format, length, fewer truncations, consistency.",
            "",
        ]
    if cfg.description:
        lines += [cfg.description.strip(), ""]
    lines += [
        "## Results per stage",
        "",
        table_md.strip(),
        "",
        "![accuracy per stage](eval/accuracy.png)",
        "",
        "Each row and the stage that made it (fingerprint: rollout/stage.py; settings: the "
        "stage's overrides):",
        "",
        "| checkpoint | made by | settings |",
        "|---|---|---|",
    ]
    for ck, row in made["rows"].items():
        lines.append(f"| {ck} | `{row['identity']}` | {_settings(row['settings'])} |")
    lines += [""]
    lines += ["## What changed", ""] + (said or ["- (a single checkpoint: nothing to compare)"])
    lines += [
        "",
        "Significance: paired bootstrap over the same problems (same seeds for every checkpoint), "
        f"two-sided, alpha {ALPHA}. At a few dozen problems only large changes can be significant; a "
        "change without a star may still be real, and one with a star at p near 0.05 may not replicate.",
        "",
        "## Stages",
        "",
        "| stage | what | fingerprint | settings | seconds |",
        "|---|---|---|---|---:|",
    ]
    f = facts
    what = {
        "rollout": f"{f['rollout']['rollouts']} rollouts, {f['rollout']['problems']} problems, pass rate {(f['rollout']['pass_rate'] or 0):.1%}",
        "curate": f"{f['curate']['pretrain_examples']} pretraining docs, {f['curate']['sft_examples']} SFT examples",
        "pretrain": f"{f['pretrain']['steps']} steps, loss {_r(f['pretrain']['first_loss'])} -> {_r(f['pretrain']['last_loss'])}",
        "sft": f"{f['sft']['steps']} steps, loss {_r(f['sft']['first_loss'])} -> {_r(f['sft']['last_loss'])}",
        "pairs": f"{f['pairs']['pairs']} pairs from {f['pairs']['problems']} problems",
        "dpo": f"{f['dpo']['steps']} steps; final reward margin {_r(f['dpo'].get('metrics', {}).get('final/rewards/margins'))}, accuracy {_r(f['dpo'].get('metrics', {}).get('final/rewards/accuracies'))} (all pairs)",
        "eval": f"{len(table['rows'])} checkpoints x {len(table['benchmarks'])} benchmark(s)",
    }
    for stage in [s for s in cfg.stages if s != "report"]:
        fp = made["stages"][stage]["fingerprint"]
        lines.append(
            f"| {stage} | {what.get(stage, '')} | `{(fp or '-')[:16]}` | "
            f"{_settings(made['stages'][stage]['settings'])} | {seconds.get(stage) or '-'} |"
        )
    total = sum(v for v in seconds.values() if isinstance(v, int | float))
    lines += ["", f"Stage time in this invocation and earlier ones: {total:.0f} s in all."]
    report = {
        "title": cfg.title,
        "self_distillation": self_distill,
        "table": table,
        "verdicts": said,
        "facts": facts,
        "provenance": made,
        "seconds": seconds,
    }
    write_json_atomic(run_dir / "report.json", report)
    write_text_atomic(run_dir / "report.md", "\n".join(lines) + "\n")
    cards = []
    for stage in ("pretrain", "sft", "dpo"):
        final = run_dir / stage / "final"
        if (final / "config.json").exists():
            write_text_atomic(final / "README.md", model_card(cfg, stage, facts, table_md))
            if (run_dir / "eval" / "accuracy.png").exists():
                shutil.copyfile(run_dir / "eval" / "accuracy.png", final / "accuracy.png")
            cards.append(str(final / "README.md"))
            if cfg.card.push_to_hub:
                push(final, f"{cfg.card.hub_repo}-{stage}")
    report["cards"] = cards
    print((run_dir / "report.md").read_text())
    return report


def push(folder: Path, repo_id: str) -> None:
    """Upload a checkpoint folder as is (weights, tokenizer, model card): off unless card.push_to_hub."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, exist_ok=True)
    api.upload_folder(folder_path=str(folder), repo_id=repo_id)
