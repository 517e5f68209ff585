"""Problem sources: built-in synthetic generators, the hand-written set, files, hub datasets.

Every source yields Problem records (DESIGN.md): `problem_id`, `prompt`, `answer`, `kind`, `source`,
`meta`. Ids are stable: taken from an id column when the dataset has one, else derived from the
source and the prompt text, so re-running, sharding and resuming all agree on them.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from verifiers.jsonl import load_jsonl

HANDWRITTEN = Path(__file__).parent / "data" / "handwritten.jsonl"
LETTERS = "ABCDEFGHIJ"


@dataclass
class ProblemsConfig:
    source: str = "synthetic"  # a key of SOURCES
    name: str | None = None  # hub dataset name, or a local data folder/file for `hub`
    config_name: str | None = None  # hub dataset config (GPQA: gpqa_diamond)
    split: str = "test"
    path: str | None = None  # `file`: a local .jsonl / .json / .parquet; `hub`: a local copy of it
    columns: dict[str, str] = field(default_factory=dict)  # record field -> dataset column
    id_column: str | None = None
    kind: str = "math"
    answer_from_solution: bool = (
        False  # take the gold from the last \boxed{} of the `answer` column
    )
    choice_columns: list[str] = field(
        default_factory=list
    )  # [correct, wrong, wrong, ...]: GPQA style
    choice_seed: int = 0  # shuffles the options; fixed so the letters never move between runs
    generators: list[str] | None = None  # synthetic: None = all
    difficulty: list[int] = field(default_factory=lambda: [1])
    count: int = 64  # synthetic: how many
    limit: int | None = None
    shuffle: bool = False
    seed: int = 0


def problems_preset(name: str) -> ProblemsConfig:
    """conf/problems/<name>.yaml as a ProblemsConfig: the Python default of a set that the YAML
    configs select by name, so the set is written down in that one file."""
    presets = resources.files("conf").joinpath("problems")
    if not presets.joinpath(f"{name}.yaml").is_file():
        known = sorted(f.name[:-5] for f in presets.iterdir() if f.name.endswith(".yaml"))
        raise ValueError(f"{name!r} is not a problem set in conf/problems/; choose from {known}")
    text = presets.joinpath(f"{name}.yaml").read_text()
    from omegaconf import OmegaConf

    node = OmegaConf.merge(OmegaConf.structured(ProblemsConfig), OmegaConf.create(text))
    return OmegaConf.to_object(node)  # type: ignore[return-value]


def _stable_id(prefix: str, text: str) -> str:
    return f"{prefix}-{hashlib.sha1(text.encode('utf-8')).hexdigest()[:12]}"


def _last_boxed(solution: str) -> str | None:
    from verifiers.answer import boxed_spans

    spans = boxed_spans(solution or "")
    return spans[-1][2].strip() if spans else None


def _from_rows(rows, cfg: ProblemsConfig, source: str) -> list[dict[str, Any]]:
    """Map dataset rows onto Problem records with the configured columns."""
    col = {"prompt": "prompt", "answer": "answer", **cfg.columns}
    out = []
    for i, row in enumerate(rows):
        missing = [
            c
            for f, c in col.items()
            if f in ("prompt", "answer") and c not in row and not cfg.choice_columns
        ]
        if missing or col["prompt"] not in row:
            raise ValueError(
                f"{source}: row {i} has no column(s) {missing or [col['prompt']]}; it has {sorted(row)}. "
                "Map them with problems.columns.prompt=<column> problems.columns.answer=<column>."
            )
        prompt = str(row[col["prompt"]]).strip()
        meta = {k: row[c] for k, c in col.items() if k not in ("prompt", "answer") and c in row}
        kind = cfg.kind
        if cfg.choice_columns:
            options = [str(row[c]).strip() for c in cfg.choice_columns]
            order = list(range(len(options)))
            random.Random(f"{cfg.choice_seed}:{prompt}").shuffle(order)
            lines = [f"{LETTERS[j]}) {options[k]}" for j, k in enumerate(order)]
            answer = LETTERS[order.index(0)]  # the first choice column holds the correct option
            prompt = prompt + "\n\n" + "\n".join(lines)
            meta["choices"] = [options[k] for k in order]
            kind = "choice"
        else:
            answer = row[col["answer"]]
            if cfg.answer_from_solution:
                answer = _last_boxed(str(answer))
            answer = None if answer is None else str(answer).strip()
        pid = (
            str(row[cfg.id_column])
            if cfg.id_column and cfg.id_column in row
            else _stable_id(source, prompt)
        )
        out.append(
            {
                "problem_id": pid,
                "prompt": prompt,
                "answer": answer,
                "kind": kind,
                "source": source,
                "meta": meta,
            }
        )
    return out


def _synthetic(cfg: ProblemsConfig) -> list[dict[str, Any]]:
    from rollout.synthetic import generate

    return generate(
        generators=cfg.generators, count=cfg.count, difficulty=list(cfg.difficulty), seed=cfg.seed
    )


def _builtin(cfg: ProblemsConfig) -> list[dict[str, Any]]:
    return load_jsonl(HANDWRITTEN)


def local_path(spec: str) -> Path:
    """A data file: as given (relative to the working directory), else relative to the project
    root, so the shipped copies (rollout/data/benchmarks/*.jsonl) are found from anywhere."""
    path = Path(spec).expanduser()
    if not path.exists() and not path.is_absolute():
        shipped = Path(__file__).resolve().parent.parent / path
        if shipped.exists():
            return shipped
    if not path.exists():
        raise ValueError(f"problems.path={spec}: no such file")
    return path


def _read_rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
    else:
        rows = load_jsonl(path, fix="fix or delete that line of problems.path")
    return rows


def _file(cfg: ProblemsConfig) -> list[dict[str, Any]]:
    if not cfg.path:
        raise ValueError(
            "problems.source=file needs problems.path=<a .jsonl, .json or .parquet file>"
        )
    path = local_path(cfg.path)
    return _from_rows(_read_rows(path), cfg, source=path.stem)


def _hub(cfg: ProblemsConfig) -> list[dict[str, Any]]:
    """Any `datasets` dataset by name/config/split (needs the hub), or a local copy of that split
    (problems.path: a .jsonl/.json/.parquet file with the same columns), read the same way."""
    from datasets import load_dataset

    if cfg.path:  # the same columns, ids and source name as the hub's, read from the file
        rows = _read_rows(local_path(cfg.path))
        return _from_rows(rows, cfg, source=_hub_source(cfg))
    if not cfg.name:
        raise ValueError(
            "problems.source=hub needs problems.name=<dataset name on the hub or a local folder>"
        )
    try:
        ds = load_dataset(cfg.name, cfg.config_name, split=cfg.split)
    except Exception as e:  # offline machines, gated sets: say what to do
        raise ValueError(
            f"could not load dataset {cfg.name!r} (config {cfg.config_name!r}, split {cfg.split!r}): {e}. "
            "It needs the hub (and for gated sets like GPQA an accepted licence and HF_TOKEN), "
            "or use problems.source=file with a local copy."
        ) from e
    return _from_rows(ds, cfg, source=_hub_source(cfg))


def _hub_source(cfg: ProblemsConfig) -> str:
    name = (cfg.name or Path(cfg.path or "local").stem).split("/")[-1]
    return re.sub(
        r"[^A-Za-z0-9_.-]+", "_", name + (f"_{cfg.config_name}" if cfg.config_name else "")
    )


SOURCES = {"synthetic": _synthetic, "builtin": _builtin, "file": _file, "hub": _hub}


def load_problems(cfg: ProblemsConfig) -> list[dict[str, Any]]:
    """The configured problems, shuffled and limited as asked; ids checked unique."""
    if cfg.source not in SOURCES:
        raise ValueError(
            f"problems.source={cfg.source!r} is not a source; choose one of {sorted(SOURCES)}"
        )
    problems = SOURCES[cfg.source](cfg)
    if cfg.shuffle:
        random.Random(cfg.seed).shuffle(problems)
    if cfg.limit is not None:
        problems = problems[: cfg.limit]
    seen: set[str] = set()
    for p in problems:
        if p["problem_id"] in seen:
            raise ValueError(
                f"duplicate problem_id {p['problem_id']!r} in problems.source={cfg.source}; set problems.id_column"
            )
        seen.add(p["problem_id"])
    return problems


def shard_of(problem_id: str, num_shards: int) -> int:
    """Deterministic shard of a problem: the same on every node, whatever the order."""
    return int(hashlib.sha1(problem_id.encode("utf-8")).hexdigest(), 16) % num_shards
