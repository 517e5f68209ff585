"""The stage contract: one way for every stage to decide "nothing to do / resume / run again".

A stage's identity is its fingerprint: a hash of its resolved config, less the keys that cannot
change its result (logging, progress, output paths: each stage declares them), and of its inputs
(the upstream stage's fingerprint for a checkpoint it starts from, the content hash of a file it
reads, a recipe's name). With the fingerprint in hand:

- same fingerprint, complete outputs: nothing to do (and it says so);
- same fingerprint, incomplete outputs: resume (training stages from their newest checkpoint);
- another fingerprint and outputs present: the old outputs are moved aside to
  `<stage>.<short old fingerprint>/` beside the stage folder (never deleted) and the stage runs from
  the start, printing one line that names the keys or inputs that changed; `on_change=error` makes
  that an error naming them instead. A folder moved aside earlier with the new fingerprint is moved
  back instead of recomputed (settings A, then B, then A again costs nothing the third time).

`summary.json` carries the fingerprint, the config it hashed and the inputs. It is written when the
stage starts (status "running") and again, atomically and last, when every output is in place
(status "done"): a killed stage never looks complete.

    from rollout.stage import Stage, file_id, model_id
    stage = Stage("rd-sft", out, cfg, ignore=NON_RESULT, inputs={"data": file_id(data)},
                  on_change=cfg.on_change, outputs=["final/config.json"])
    if stage.begin() == "done":        # decide(), then start() when there is something to do
        return stage.previous
    resume = last_checkpoint(out)        # train; resume from the newest complete checkpoint
    stage.finish({**training_summary(trainer, result, seconds, resume), ...})
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ON_CHANGE = ("rerun", "error")
# Keys no stage's result depends on: where it writes and what it does when the fingerprint changes.
COMMON_NON_RESULT = ("run_dir", "on_change")
# Files a checkpoint folder may gain after it was made that are not the model (the pipeline's
# model card and plot): left out of a folder's content hash.
NOT_MODEL = ("README.md", "*.png", ".*")


def _plain(cfg: Any) -> Any:
    """A config (dataclass, OmegaConf node or plain containers) as JSON-able plain data."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        from omegaconf import OmegaConf

        return OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(cfg, DictConfig | ListConfig):
            return OmegaConf.to_container(cfg, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    return cfg


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists stay values (a list is one setting)."""
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        if not obj and prefix:
            return {prefix: {}}
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: obj}


def ignored(key: str, patterns: Iterable[str]) -> bool:
    """Does a dotted key fall under one of the patterns (a key, a parent key, or a glob)?"""
    parts = key.split(".")
    heads = [".".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatchcase(h, p) for p in patterns for h in heads)


def digest(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _hash_files(files: list[Path], root: Path | None = None) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update((str(f.relative_to(root)) if root else f.name).encode() + b"\0")
        with open(f, "rb") as fh:
            h.update(hashlib.file_digest(fh, "sha256").digest())
    return h.hexdigest()[:16]


def files_id(files: Iterable[Path]) -> str:
    """The content hash of several files taken together (names and bytes, in the order given)."""
    return "sha256:" + _hash_files(list(files))


def file_id(path: str | Path) -> str:
    """A file's (or a folder's files') content hash: 'sha256:<16 hex>'. Names and bytes count;
    sizes and times do not, so a copy keeps its identity and a rewrite with new bytes loses it."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
        return "sha256:" + _hash_files(files, p)
    return "sha256:" + _hash_files([p])


def stage_of(folder: Path) -> tuple[str, str] | None:
    """(stage, fingerprint) when `folder` is a finished stage's checkpoint (<stage>/final with a
    done summary.json beside it), else None."""
    summary = read_summary(folder.parent / "summary.json")
    if folder.name == "final" and summary.get("status") == "done" and summary.get("fingerprint"):
        return folder.parent.name, summary["fingerprint"]
    return None


def model_id(spec: str) -> str:
    """A model's identity: '<stage>@<fingerprint>' for a stage's checkpoint, the content hash of
    the weights, config and tokenizer files for any other folder, 'recipe:<name>' for a recipe of
    rollout/models.py (pinned: the same name is the same weights), else 'name:<hub name>'."""
    from rollout.models import RECIPES

    if spec in RECIPES:
        return f"recipe:{spec}"
    path = Path(spec).expanduser()
    if path.is_dir():
        made_by = stage_of(path.resolve())
        if made_by:
            return f"{made_by[0]}@{made_by[1]}"
        files = sorted(
            f
            for f in path.iterdir()
            if f.is_file() and not any(fnmatch.fnmatchcase(f.name, p) for p in NOT_MODEL)
        )
        return "sha256:" + _hash_files(files)
    return f"name:{spec}"


def read_summary(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _short(value: Any, width: int = 60) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 3] + "..."


def changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between two summaries' config and inputs, one phrase per key."""
    out = []
    for section, label in (("config", ""), ("inputs", "input ")):
        a, b = old.get(section) or {}, new.get(section) or {}
        for k in sorted(set(a) | set(b)):
            if k not in a:
                out.append(f"{label}{k}: (unset) -> {_short(b[k])}")
            elif k not in b:
                out.append(f"{label}{k}: {_short(a[k])} -> (unset)")
            elif json.dumps(a[k], sort_keys=True, default=str) != json.dumps(
                b[k], sort_keys=True, default=str
            ):
                out.append(f"{label}{k}: {_short(a[k])} -> {_short(b[k])}")
    return out


class Stage:
    """One stage's (or one unit's, such as an evaluation cell) identity and outputs folder.

    Args:
        name: what the messages call it ("rd-sft").
        out: the outputs folder (run_dir/<stage>); everything in it belongs to this fingerprint.
        cfg: the resolved config (dataclass or plain dict).
        ignore: keys (dotted, parents and globs allowed) that cannot change the result.
        inputs: name -> identity (file_id, model_id, an upstream fingerprint).
        on_change: "rerun" (move the old outputs aside, run again) or "error".
        outputs: files (relative to out) that must exist for the outputs to count as complete.
        aside: where old outputs go (default: beside `out`).
        summary: the file in `out` that holds the fingerprint and the status.
        own: when given, only these entries of `out` belong to this fingerprint and move aside
            (rd-eval: its table does; its cells follow the contract on their own).
    """

    def __init__(
        self,
        name: str,
        out: Path,
        cfg: Any,
        *,
        ignore: Iterable[str] = (),
        inputs: dict[str, str] | None = None,
        on_change: str = "rerun",
        outputs: Iterable[str] = (),
        aside: Path | None = None,
        summary: str = "summary.json",
        own: Iterable[str] | None = None,
    ) -> None:
        if on_change not in ON_CHANGE:
            raise ValueError(f"on_change must be one of {ON_CHANGE}, got {on_change!r}")
        self.name, self.out, self.on_change = name, Path(out), on_change
        self.summary_name = summary
        self.own = None if own is None else [*own, summary]
        patterns = (*COMMON_NON_RESULT, *ignore)
        self.config = {
            k: v for k, v in sorted(flatten(_plain(cfg)).items()) if not ignored(k, patterns)
        }
        self.inputs = dict(sorted((inputs or {}).items()))
        self.fingerprint = digest({"config": self.config, "inputs": self.inputs})
        self.outputs = list(outputs)
        self.aside_root = Path(aside) if aside else self.out.parent
        self.previous: dict[str, Any] = {}
        self.moved_to: Path | None = None
        self.changed: list[str] = []

    @property
    def summary_path(self) -> Path:
        return self.out / self.summary_name

    def identity(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "config": self.config, "inputs": self.inputs}

    def complete(self, summary: dict[str, Any]) -> bool:
        return summary.get("status") == "done" and all(
            (self.out / f).exists() for f in self.outputs
        )

    def _present(self) -> bool:
        if self.own is not None:
            return any((self.out / n).exists() for n in self.own)
        return self.out.is_dir() and any(self.out.iterdir())

    def _move(self, src: Path, dst: Path) -> None:
        if self.own is None:
            os.replace(src, dst)
            return
        dst.mkdir(parents=True, exist_ok=True)
        for name in self.own:
            if (src / name).exists():
                os.replace(src / name, dst / name)

    def _aside_name(self, fingerprint: str | None) -> Path:
        base = self.aside_root / f"{self.out.name}.{(fingerprint or 'unknown')[:8]}"
        dest, i = base, 2
        while dest.exists():
            dest, i = base.with_name(f"{base.name}-{i}"), i + 1
        return dest

    def decide(self) -> str:
        """'done', 'resume' or 'run'; moves stale outputs aside (or raises for on_change=error)."""
        old = read_summary(self.summary_path)
        if old.get("fingerprint") == self.fingerprint:
            self.previous = old
            if self.complete(old):
                print(
                    f"{self.name}: {self.out} is up to date (fingerprint {self.fingerprint}); nothing to do"
                )
                return "done"
            return "resume"
        if self._present():
            self.changed = (
                changes(old, self.identity())
                if old.get("fingerprint")
                else ["outputs without a fingerprint (made before the stage contract, or by hand)"]
            )
            what = "; ".join(self.changed) or "the fingerprint"
            if self.on_change == "error":
                raise ValueError(
                    f"{self.out} was made with other settings or inputs ({what}); on_change=error "
                    f"stops here. Restore them, use another run_dir, or set on_change=rerun to move "
                    f"the old outputs aside to {self._aside_name(old.get('fingerprint')).name}/ and run again"
                )
            self.moved_to = self._aside_name(old.get("fingerprint"))
            self.aside_root.mkdir(parents=True, exist_ok=True)
            self._move(self.out, self.moved_to)
        else:
            what = ""
        # Outputs made earlier with exactly this fingerprint and moved aside: take them back.
        back = self.aside_root / f"{self.out.name}.{self.fingerprint[:8]}"
        if read_summary(back / self.summary_name).get("fingerprint") == self.fingerprint:
            self._move(back, self.out)
            self.previous = read_summary(self.summary_path)
            moved = f"; old outputs moved to {self.moved_to}" if self.moved_to else ""
            print(f"{self.name}: restored {self.out} from {back.name} (same fingerprint){moved}")
            return "done" if self.complete(self.previous) else "resume"
        if self.moved_to:
            print(
                f"{self.name}: changed since {self.out} was made: {what}; old outputs moved to "
                f"{self.moved_to}, running from the start"
            )
        return "run"

    def begin(self, **extra: Any) -> str:
        """decide(), then start() unless there is nothing to do. Under several ranks (torchrun,
        accelerate) rank 0 goes first, so only it moves folders; the others then find its
        fingerprint in place and resume with it."""
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            from accelerate import PartialState

            state = PartialState()
            with state.main_process_first():
                action = self.decide()
                if action != "done" and state.is_main_process:
                    self.start(**extra)
            return action
        action = self.decide()
        if action != "done":
            self.start(**extra)
        return action

    def start(self, **extra: Any) -> None:
        """Marks the folder as this fingerprint's, unfinished (summary.json, status running)."""
        from rollout.store import write_json_atomic

        self.out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.summary_path, {"status": "running", **self.identity(), **extra})

    def finish(self, summary: dict[str, Any]) -> dict[str, Any]:
        """The summary, with status done and the identity, written atomically: call it last."""
        from rollout.store import write_json_atomic

        full = {**summary, "status": "done", **self.identity()}
        write_json_atomic(self.summary_path, full)
        return full


# ---------------------------------------------------------------------------------------------
# What the training stages (rd-pretrain, rd-sft, rd-dpo) share: where to resume, what to record.


def last_checkpoint(out: Path) -> str | None:
    """The newest checkpoint under `out` that a resume can load, or None.

    transformers orders the checkpoint folders (trainer_utils.sort_checkpoints, by step); only
    complete ones count. trainer_utils.get_last_checkpoint alone would return the newest folder even
    when a kill cut its save short: the Trainer writes trainer_state.json last, and resuming from a
    folder without it fails, where the one before it resumes fine.
    """
    from transformers.trainer_utils import sort_checkpoints

    if not Path(out).is_dir():
        return None
    done = [c for c in sort_checkpoints(str(out)) if (Path(c) / "trainer_state.json").exists()]
    return done[-1] if done else None


def training_summary(trainer, result, seconds: float, resume: str | None) -> dict[str, Any]:
    """What every training stage records: steps, losses (every logged step), time, resume point.
    train_loss is the mean of the logged losses over the whole run (the trainer's own figure covers
    only the steps since a resume), so a resumed run records what an uninterrupted one does."""
    logged = [(h["step"], h["loss"]) for h in trainer.state.log_history if "loss" in h]
    return {
        "steps": trainer.state.global_step,
        "train_loss": sum(x for _, x in logged) / len(logged) if logged else result.training_loss,
        "first_loss": logged[0][1] if logged else None,
        "last_loss": logged[-1][1] if logged else None,
        "loss_by_step": logged,
        "seconds": round(seconds, 1),
        "resumed_from": resume,
    }
