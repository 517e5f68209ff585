"""Streaming selection: the rollout store grouped by problem in bounded memory, sharded by problem id
like the farm, with the stages run by datatrove's executors (local processes or a SLURM array).

The layout under a stage's work folder (`<stage out>/stream/tasks-<N>-buckets-<B>/`):

  plan.json                       buckets, hash parts (tasks x buckets), start time
  spill/t<task>/b<bucket>.jsonl   the task's rollouts (its problems: rollout.problems.shard_of),
                                  split by a hash of problem_id into buckets small enough to group
                                  in memory (StreamConfig.memory_mb)
  <step>/...                      each step's outputs, each file written atomically
  logs/<step>/completions/<task>  datatrove's marks of finished tasks: a killed run resumes at the
                                  first unfinished task of the first unfinished step, and a task
                                  that was cut short starts over from its inputs (its files are
                                  replaced, never appended to), so nothing is lost or written twice

Per-problem work runs one bucket at a time; the steps across problems work on compact keys, never
on whole records: duplicates by hash part (selection/dedup.py), the rest in passes in rollout order
over key files merged with heapq.merge. The texts are re-read from the spill buckets only to write
the outputs, which are then merged in order. When the outputs are in place, the step files go.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXECUTORS = ("local", "slurm")
# A record held in Python takes a few times its JSON size.
_OBJECT_OVERHEAD = 4


@dataclass
class SlurmConfig:
    partition: str = "cpu"
    time: str = "04:00:00"
    cpus_per_task: int = 4
    mem_per_cpu_gb: int = 4
    venv_path: str | None = None  # activated in each job; null: the environment sbatch inherits


@dataclass
class StreamConfig:
    # null: stream when the store would not fit memory_mb loaded whole (a record held in Python takes
    # a few times its JSON size); false: the in-memory path (every rollout loaded at once)
    enabled: bool | None = None
    tasks: int = 1  # problem shards (rollout.problems.shard_of), one datatrove task each
    workers: int = 1  # tasks run at once by the local executor
    memory_mb: float = 512  # what one task may hold of rollouts: sets the number of spill buckets
    executor: str = "local"  # local: datatrove LocalPipelineExecutor | slurm: SlurmPipelineExecutor
    slurm: SlurmConfig = field(default_factory=SlurmConfig)  # executor=slurm only


def config_errors(s: StreamConfig, prefix: str = "stream") -> list[str]:
    errors = []
    if s.tasks < 1:
        errors.append(f"{prefix}.tasks must be >= 1, got {s.tasks}")
    if s.workers < 1:
        errors.append(f"{prefix}.workers must be >= 1, got {s.workers}")
    if s.memory_mb <= 0:
        errors.append(f"{prefix}.memory_mb must be > 0, got {s.memory_mb}")
    if s.executor not in EXECUTORS:
        errors.append(f"{prefix}.executor must be one of {EXECUTORS}, got {s.executor!r}")
    return errors


def stable_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def bucket_of(problem_id: str, buckets: int) -> int:
    # Not shard_of's sha1 modulus (which picked the task): an independent split inside the task.
    return int(hashlib.blake2b(problem_id.encode("utf-8"), digest_size=8).hexdigest(), 16) % buckets


def destination(tasks: int, buckets: int) -> Callable[[str], tuple[int, int]]:
    """problem_id -> (task, bucket) that holds its rollouts: where its drops and picks are read."""
    from rollout.problems import shard_of

    return lambda pid: (shard_of(pid, tasks), bucket_of(pid, buckets))


def bucket_count(store_bytes: int, tasks: int, memory_mb: float) -> int:
    per_task = store_bytes / tasks * _OBJECT_OVERHEAD
    return max(1, math.ceil(per_task / (memory_mb * (1 << 20))))


def write_atomic_lines(path: Path, lines: Iterable[str]) -> int:
    """Lines written beside the target and renamed over it; returns how many."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    n = 0
    with tmp.open("w", encoding="utf-8") as f:
        for line in lines:
            f.write(line + "\n")
            n += 1
    os.replace(tmp, path)
    return n


def write_rows(path: Path, rows: Iterable[Any]) -> None:
    """JSON lines, atomically."""
    write_atomic_lines(path, (json.dumps(r, ensure_ascii=False) for r in rows))


def write_json(path: Path, obj: Any) -> None:
    write_rows(path, [obj])


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def read_lines(path: Path) -> Iterator[Any]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)


def spill(shards: list[Path], task: int, tasks: int, buckets: int, out: Path) -> None:
    """The task's rollouts (problem_id in shard task of tasks), streamed from every store file in
    store order into bucket files by problem id. Lines are copied as stored."""
    from rollout.problems import shard_of
    from rollout.store import read_records

    out.mkdir(parents=True, exist_ok=True)
    tmp = [out / f".b{b:05d}.jsonl.tmp-{os.getpid()}" for b in range(buckets)]
    files = [p.open("w", encoding="utf-8") for p in tmp]
    try:
        for path in shards:
            for rec in read_records(path):  # plain or gzip, bad lines named file:line
                pid = rec["problem_id"]
                if shard_of(pid, tasks) != task:
                    continue
                files[bucket_of(pid, buckets)].write(json.dumps(rec, ensure_ascii=False) + "\n")
    finally:
        for f in files:
            f.close()
    for b, p in enumerate(tmp):
        os.replace(p, out / f"b{b:05d}.jsonl")


def bucket_files(spill_dir: Path) -> list[Path]:
    return sorted(spill_dir.glob("b*.jsonl"))


def problem_groups(
    bucket: Path, order: Callable[[dict], Any] | None
) -> Iterator[tuple[str, list[dict]]]:
    """(problem_id, its rollouts in `order`, else in store order) for one bucket, problems in id
    order. A rollout id seen twice keeps its first copy in store order (as read_store)."""
    groups: dict[str, dict[str, dict]] = {}
    for rec in read_lines(bucket):
        groups.setdefault(rec["problem_id"], {}).setdefault(rec["rollout_id"], rec)
    for pid in sorted(groups):
        recs = list(groups.pop(pid).values())
        yield pid, recs if order is None else sorted(recs, key=order)


def merge_sorted(paths: list[Path]) -> Iterator[Any]:
    """Rows of several files each sorted by its first element, merged in that order."""
    return heapq.merge(*(read_lines(p) for p in paths), key=lambda row: row[0])


def store_bytes(shards: list[Path]) -> int:
    """What the store's JSON takes uncompressed: a gzip shard's size scaled by how much its first
    4 MB of JSON took compressed."""
    import gzip

    total = 0
    for p in shards:
        size = p.stat().st_size
        if p.name.endswith(".gz"):
            with p.open("rb") as raw, gzip.open(raw) as f:
                read = len(f.read(1 << 22))
                size = int(size * read / max(1, raw.tell()))
        total += size
    return total


def streams(s: StreamConfig, shards: list[Path]) -> bool:
    """Whether a stage streams: as set, or (null) when the store loaded whole would pass memory_mb."""
    if s.enabled is not None:
        return s.enabled
    return store_bytes(shards) * _OBJECT_OVERHEAD > s.memory_mb * (1 << 20)


# The work folder's layout; a folder left by a run of another layout is started over.
LAYOUT = 2
# A hash part's keys (~0.3 KB each in Python) against a bucket's rollouts (their JSON x4): this
# many buckets' keys make a part of about a bucket's memory, and keep the files open at once few.
BUCKETS_PER_PART = 16


def plan_work(out: Path, shards: list[Path], s: StreamConfig, **plan: Any) -> Path:
    """The stage's work folder for this many tasks and buckets, with its plan.json (buckets, hash
    parts, start time and the caller's own entries) written once: a rerun finds it and resumes."""
    buckets = bucket_count(store_bytes(shards), s.tasks, s.memory_mb)
    work = fresh_work(out / "stream" / f"tasks-{s.tasks}-buckets-{buckets}")
    if not (work / "plan.json").exists():
        parts = math.ceil(s.tasks * buckets / BUCKETS_PER_PART)
        plan = {
            "layout": LAYOUT,
            "buckets": buckets,
            "parts": parts,
            "started": time.time(),
            **plan,
        }
        write_json(work / "plan.json", plan)
    return work


def cleanup(work: Path) -> None:
    """The outputs are in place: every step's files go, and with them the marks of the steps that
    made them (a rerun of a finish cut short before its own mark then starts over, instead of
    finding steps done whose files are gone). The plan and datatrove's logs stay."""
    for part in work.iterdir():
        if part.is_dir() and part.name != "logs":
            shutil.rmtree(part, ignore_errors=True)
    for marks in (work / "logs").glob("*/completions"):
        if marks.parent.name != "finish":
            shutil.rmtree(marks, ignore_errors=True)


def fresh_work(work: Path) -> Path:
    """The work folder for a run that has outputs to make. If its last step already finished, the
    outputs it made were found incomplete (the stage said resume, not done: a deleted file, or
    `plot` turned on): start the folder over, or datatrove would skip every task and make nothing.
    A folder of another layout (an older rd-curate) is started over too."""
    plan = work / "plan.json"
    old = plan.exists() and read_json(plan).get("layout") != LAYOUT
    if old or any((work / "logs" / "finish" / "completions").glob("*")):
        shutil.rmtree(work)
    return work


def raise_open_files() -> None:
    """A step opens one file per hash part or bucket at once: let it have the hard limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 16
    if soft < want:
        # If refused, as it was: a step over the limit fails naming "Too many open files".
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def same_eval_sets(parts: list[dict], work: Path) -> None:
    """Every select task must have checked the same eval sets (a hub set one node could reach and
    another could not would decontaminate unevenly)."""
    sets = {json.dumps([p["loaded"], p["skipped"]], sort_keys=True) for p in parts}
    if len(sets) > 1:
        raise ValueError(
            f"the select tasks checked different eval sets ({sorted(sets)}): some could reach a "
            f"hub set and some could not. Make every node see the same sets (or name them in "
            f"decontam.sets), delete {work} and run again"
        )


def check_executor(s: StreamConfig) -> None:
    """The SLURM executor submits with sbatch: without it, say so before anything is written."""
    if s.executor == "slurm" and shutil.which("sbatch") is None:
        raise ValueError(
            "stream.executor=slurm submits job arrays with sbatch, which is not on PATH here: run "
            "the command on a SLURM login node, or use stream.executor=local"
        )


def executors(
    steps: list[tuple[str, Callable, int]], work: Path, s: StreamConfig, job_name: str
) -> list:
    """Each (name, callable(data, rank, world_size), tasks) as one datatrove executor, each
    depending on the one before; finished tasks (logs/<name>/completions) are skipped on a rerun."""
    chain: list = []
    for name, fn, tasks in steps:
        logs = str(work / "logs" / name)
        previous = chain[-1] if chain else None
        if s.executor == "slurm":
            from datatrove.executor import SlurmPipelineExecutor

            sl = s.slurm
            ex = SlurmPipelineExecutor(
                pipeline=[fn],
                tasks=tasks,
                time=sl.time,
                partition=sl.partition,
                cpus_per_task=sl.cpus_per_task,
                mem_per_cpu_gb=sl.mem_per_cpu_gb,
                venv_path=sl.venv_path,
                job_name=f"{job_name}-{name}",
                logging_dir=logs,
                depends=previous,
            )
        else:
            from datatrove.executor import LocalPipelineExecutor

            ex = LocalPipelineExecutor(
                pipeline=[fn],
                tasks=tasks,
                workers=min(s.workers, tasks),
                logging_dir=logs,
                depends=previous,
            )
        chain.append(ex)
    return chain


def run_steps(
    steps: list[tuple[str, Callable, int]], work: Path, s: StreamConfig, job_name: str
) -> None:
    """The steps' executors run (local) or submitted (SLURM), the last one first launching those
    it depends on."""
    chain = executors(steps, work, s, job_name)
    if chain:
        import multiprocess  # datatrove's multiprocessing

        # datatrove starts a Manager process per step; forked, it would copy-on-write this whole
        # process (tokenizer, torch) as its garbage collector touches it: start it fresh instead.
        method = multiprocess.get_start_method(allow_none=True)
        multiprocess.set_start_method("spawn", force=True)
        try:
            chain[-1].run()  # runs its dependencies first, in order
        finally:
            multiprocess.set_start_method(method, force=True)
