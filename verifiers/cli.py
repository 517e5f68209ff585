"""rd-verify: verify a JSONL file of completions; with labels, gate CI on the checkers' accuracy.

    rd-verify                                             # the shipped labeled sample
    rd-verify input=rollouts.jsonl output=verified.jsonl workers=2
    rd-verify input=my_cases.jsonl thresholds.precision=0.99 skip_bad_lines=true
    rd-verify input=rollouts.jsonl judge.url=http://127.0.0.1:8000/v1 judge.model=verifier \
        judge.format=general_verifier judge.max_tokens=512     # the judge decides what the rules can't

Each row needs `completion` and `answer`; `kind` (default `default_kind`) and `finish_reason` are
optional. Every row is written back with `correct` and `verdict`. Rows with a boolean `label` are
scored: accuracy, precision and recall per `category`, the disagreements listed, and the exit code is
1 when a score falls below `thresholds`. The output file appears atomically, whole or not at all.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

SAMPLE = Path(__file__).parent / "data" / "sample.jsonl"


@dataclass
class Thresholds:
    accuracy: float = 0.95
    precision: float = 0.98
    recall: float = 0.0


@dataclass
class JudgeOptions:
    url: str | None = (
        None  # an OpenAI-compatible server (vLLM, ...) serving the judge; None: rules only
    )
    model: str = "judge"  # the served model's name on that server
    format: str = "strict"  # verifiers.judge.FORMATS: strict (instruct models), general_verifier
    max_tokens: int = 16


@dataclass
class VerifyConfig:
    input: str | None = None  # None: the labeled sample shipped with the package
    output: str | None = None  # None: <input stem>.verified.jsonl in the current directory
    summary: str | None = None  # None: <output>.summary.json
    default_kind: str = "math"
    workers: int = 2
    timeout: float | None = None  # per-item seconds; None: per-kind defaults (math 5, code 20)
    skip_bad_lines: bool = False
    show_disagreements: int = 20
    thresholds: Thresholds = field(default_factory=Thresholds)
    judge: JudgeOptions = field(default_factory=JudgeOptions)
    options: dict[str, Any] = field(
        default_factory=dict
    )  # passed to the checkers (letters=, time_limit=)


ConfigStore.instance().store(name="verify_schema", node=VerifyConfig)


# Unjudged for reasons a judge cannot fix: not an abstention of the rules.
NOT_ABSTAINED = ("timeout", "no gold answer", "worker died")


class InputError(ValueError):
    """Bad input: the message names the file, the line and the fix."""


def read_rows(path: Path, default_kind: str, skip_bad_lines: bool) -> tuple[list[dict], list[str]]:
    """All rows, validated up front, so a bad line stops the run before any work is done."""
    from verifiers import VERIFIERS
    from verifiers.jsonl import read_jsonl

    rows: list[dict] = []
    skipped: list[str] = []
    if not path.exists():
        raise InputError(f"{path}: no such file; pass input=<path to a JSONL file>")
    fix = "fix the line, or run with skip_bad_lines=true to skip and count it"
    lines = read_jsonl(path, fix, error=InputError, skipped=skipped if skip_bad_lines else None)
    for lineno, row in lines:
        try:
            missing = [k for k in ("completion", "answer") if k not in row]
            if missing:
                raise ValueError(f"missing field(s) {missing}")
            row.setdefault("kind", default_kind)
            if row["kind"] not in VERIFIERS:
                raise ValueError(f"unknown kind {row['kind']!r} (known: {sorted(VERIFIERS)})")
            if "label" in row and row["label"] is not None and not isinstance(row["label"], bool):
                raise ValueError(f"label must be true, false or null, got {row['label']!r}")
        except ValueError as e:
            msg = f"{path}:{lineno}: {e}"
            if skip_bad_lines:
                skipped.append(msg)
                continue
            raise InputError(f"{msg}; {fix}") from e
        rows.append(row)
    return rows, skipped


def write_atomic(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def score(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Accuracy, precision, recall per category (and "all") over rows with a boolean label.

    Unjudged (None) counts as "not correct": a checker that cannot decide must not pass a gate.
    """
    groups: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        if not isinstance(r.get("label"), bool):
            continue
        pred = r["correct"] is True
        cell = ("t" if pred == r["label"] else "f") + ("p" if pred else "n")
        for g in ("all", str(r.get("category", "-"))):
            groups[g][cell] += 1
    out = {}
    for g, c in groups.items():
        n = sum(c.values())
        out[g] = {
            "n": n,
            "accuracy": (c["tp"] + c["tn"]) / n,
            "precision": c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 1.0,
            "recall": c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 1.0,
        }
    return out


def run(cfg: VerifyConfig) -> int:
    from tqdm import tqdm

    from verifiers import Cascade, Judge, verify_batch
    from verifiers.judge import FORMATS, openai_generate

    if cfg.workers < 1:
        raise InputError(f"workers must be >= 1, got {cfg.workers}")
    if cfg.judge.format not in FORMATS:
        raise InputError(f"judge.format must be one of {sorted(FORMATS)}, got {cfg.judge.format!r}")
    check = verify_batch
    if cfg.judge.url:
        generate = openai_generate(cfg.judge.url, cfg.judge.model, cfg.judge.max_tokens)
        cascade = Cascade(judge=Judge(generate, format=cfg.judge.format))
        check = lambda items, **kw: cascade.run(items, **kw)  # noqa: E731
    src = Path(cfg.input) if cfg.input else SAMPLE
    out = Path(cfg.output) if cfg.output else Path.cwd() / f"{src.stem}.verified.jsonl"
    rows, skipped = read_rows(src, cfg.default_kind, cfg.skip_bad_lines)
    for msg in skipped:
        print(f"skipped: {msg}", file=sys.stderr)

    items = [
        {k: r.get(k) for k in ("completion", "answer", "kind", "finish_reason", "prompt")}
        for r in rows
    ]
    verdicts = []
    step = 256
    with tqdm(total=len(items), desc="verify", unit="row", file=sys.stderr, disable=None) as bar:
        for i in range(0, len(items), step):
            verdicts += check(
                items[i : i + step],
                workers=cfg.workers,
                timeout=cfg.timeout,
                progress=bar.update,
                **cfg.options,
            )
    for r, v in zip(rows, verdicts, strict=True):
        r["correct"] = v.correct
        r["verdict"] = v.to_dict()
    write_atomic(out, rows)

    # Summary per kind.
    per_kind: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        c = per_kind[r["kind"]]
        c["rows"] += 1
        c[
            "correct" if r["correct"] is True else "wrong" if r["correct"] is False else "unjudged"
        ] += 1
        c["timeouts"] += r["verdict"]["reason"] == "timeout"
        # The rules abstained (correct=None, for the judge) and what the judge then decided.
        by_judge = r["verdict"]["details"].get("decided_by") == "judge"
        c["judge_decided"] += by_judge
        c["abstained"] += (
            by_judge
            or "rules" in r["verdict"]["details"]
            or (r["correct"] is None and r["verdict"]["reason"] not in NOT_ABSTAINED)
        )
    print(
        f"\nverified {len(rows)} rows from {src} -> {out}"
        + (f" ({len(skipped)} bad lines skipped)" if skipped else "")
    )
    print(
        f"{'kind':<8}{'rows':>7}{'correct':>9}{'wrong':>7}{'unjudged':>10}{'timeouts':>10}"
        f"{'abstained':>11}{'by judge':>10}"
    )
    for kind, c in sorted(per_kind.items()):
        print(
            f"{kind:<8}{c['rows']:>7}{c['correct']:>9}{c['wrong']:>7}{c['unjudged']:>10}{c['timeouts']:>10}"
            f"{c['abstained']:>11}{c['judge_decided']:>10}"
        )
    summary: dict[str, Any] = {
        "input": str(src),
        "output": str(out),
        "rows": len(rows),
        "skipped_lines": len(skipped),
        "per_kind": {k: dict(v) for k, v in per_kind.items()},
    }

    # Labels: the CI gate.
    status = 0
    scores = score(rows)
    if scores:
        print(f"\n{'category':<24}{'n':>5}{'accuracy':>10}{'precision':>11}{'recall':>8}")
        for g in sorted(scores, key=lambda g: (g != "all", g)):
            s = scores[g]
            print(
                f"{g:<24}{s['n']:>5}{s['accuracy']:>10.3f}{s['precision']:>11.3f}{s['recall']:>8.3f}"
            )
        wrong = [
            r
            for r in rows
            if isinstance(r.get("label"), bool) and (r["correct"] is True) != r["label"]
        ]
        if wrong:
            print(
                f"\ndisagreements ({len(wrong)}; showing {min(len(wrong), cfg.show_disagreements)}):"
            )
            for r in wrong[: cfg.show_disagreements]:
                comp = r["completion"][-120:].replace("\n", " ")
                print(
                    f"  [{r.get('category', '-')}] label={r['label']} got={r['correct']} gold={r['answer']!r} "
                    f"extracted={r['verdict']['extracted']!r} ({r['verdict']['reason']}) ...{comp!r}"
                )
        all_s = scores["all"]
        failed = [
            f"{m} {all_s[m]:.3f} < {getattr(cfg.thresholds, m)}"
            for m in ("accuracy", "precision", "recall")
            if all_s[m] < getattr(cfg.thresholds, m)
        ]
        summary["scores"] = scores
        summary["gate"] = {"passed": not failed, "failed": failed}
        if failed:
            print(f"\nGATE FAILED: {'; '.join(failed)}", file=sys.stderr)
            status = 1
        else:
            print(
                f"\ngate passed (accuracy >= {cfg.thresholds.accuracy}, precision >= {cfg.thresholds.precision}, "
                f"recall >= {cfg.thresholds.recall})"
            )
    summary_path = Path(cfg.summary) if cfg.summary else out.with_name(out.name + ".summary.json")
    summary_path.write_text(json.dumps(summary, indent=2) + "\n")
    return status


@hydra.main(config_path="pkg://conf", config_name="verify", version_base="1.3")
def _hydra_main(cfg) -> None:
    typed: VerifyConfig = OmegaConf.to_object(cfg)  # type: ignore[assignment]
    try:
        status = run(typed)
    except InputError as e:
        print(f"rd-verify: error: {e}", file=sys.stderr)
        sys.exit(2)
    if status:
        sys.exit(status)


def main() -> None:
    _hydra_main()


if __name__ == "__main__":
    main()
