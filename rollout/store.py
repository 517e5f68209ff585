"""The rollout store: append-only sharded JSONL under run_dir/rollout/, plus a manifest per shard.

Each farm job owns one shard file (`shard-00000-of-00001.jsonl`, or `.jsonl.gz`); it appends whole
batches of lines in one write and fsyncs. A kill can only tear the last line: on open, a torn tail
is cut off and the loss is counted; rollouts are keyed by `rollout_id`, so a resumed job never writes
one twice. `datasets.load_dataset("json", data_files=".../shard-*.jsonl")` reads the store directly.

    python -m rollout.store runs/demo            # status of every shard, read together
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from rollout.report import print_table, summarize
from verifiers.jsonl import read_jsonl


class StoreError(ValueError):
    """A store file is damaged somewhere other than its tail: names the file and line."""


def shard_name(shard: int, num_shards: int, compress: bool = False) -> str:
    return f"shard-{shard:05d}-of-{num_shards:05d}.jsonl" + (".gz" if compress else "")


def _repair_plain(path: Path) -> int:
    """Cut a torn last line (no trailing newline). Returns the bytes dropped."""
    size = path.stat().st_size
    if size == 0:
        return 0
    with path.open("rb+") as f:
        f.seek(max(0, size - 1))
        if f.read(1) == b"\n":
            return 0
        # Walk back to the last newline; everything after it is a torn write.
        block, pos = 1 << 16, size
        while pos > 0:
            start = max(0, pos - block)
            f.seek(start)
            chunk = f.read(pos - start)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                keep = start + nl + 1
                f.truncate(keep)
                return size - keep
            pos = start
        f.truncate(0)
        return size


def _gzip_members_ok(path: Path) -> int:
    """Byte length of the leading run of complete gzip members (appends are whole members)."""
    data = path.read_bytes()
    pos = 0
    while pos < len(data):
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            d.decompress(data[pos:])
        except zlib.error:
            break
        if not d.eof:
            break
        pos = len(data) - len(d.unused_data)
    return pos


def _repair_gzip(path: Path) -> int:
    size = path.stat().st_size
    keep = _gzip_members_ok(path)
    if keep < size:
        with path.open("rb+") as f:
            f.truncate(keep)
    return size - keep


DAMAGED = (
    "the store is damaged before its last line. "
    "Move the file aside to start that shard over, or delete the line."
)


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """A shard's rollouts in order (plain or gzip); a bad line raises StoreError naming file:line.
    A torn last line never gets here: ShardWriter cuts it off on open."""
    for _, rec in read_jsonl(path, fix=DAMAGED, error=StoreError):
        yield rec


class Kept(NamedTuple):
    """What the farm keeps of a stored rollout: what round planning, resume and the status need
    (rollout.farm.round_plan, rollout.generate.problem_states), never the texts."""

    problem_id: str | None
    round: int | None
    index: int | None
    correct: bool | None


class ShardWriter:
    """One job's shard: repaired and indexed on open, appended to in whole batches.

    `index` maps each stored rollout_id to its Kept fields, a few hundred bytes per rollout however
    long its text; whatever needs whole records streams the file (`records()`)."""

    def __init__(
        self, directory: str | Path, shard: int = 0, num_shards: int = 1, compress: bool = False
    ):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / shard_name(shard, num_shards, compress)
        self.compress = compress
        self.torn_bytes = 0
        if self.path.exists():
            self.torn_bytes = _repair_gzip(self.path) if compress else _repair_plain(self.path)
        self.index: dict[str, Kept] = {}
        self._problem_ids: dict[str, str] = {}  # one string per problem, shared by its rollouts
        for rec in self.records():
            self._keep(rec)

    def _keep(self, rec: dict[str, Any]) -> None:
        pid = rec.get("problem_id")
        if pid is not None:
            pid = self._problem_ids.setdefault(pid, pid)
        self.index[rec["rollout_id"]] = Kept(
            pid, rec.get("round"), rec.get("index"), rec.get("correct")
        )

    def records(self) -> Iterator[dict[str, Any]]:
        """The shard's rollouts as stored, read from the file (nothing of them is kept here)."""
        if self.path.exists():
            yield from read_records(self.path)

    def append(self, records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Write the records not stored yet, in one write, then fsync. Returns those written."""
        new = [r for r in records if r["rollout_id"] not in self.index]
        if not new:
            return []
        payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in new).encode("utf-8")
        if self.compress:
            payload = gzip.compress(payload, compresslevel=5)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        for r in new:
            self._keep(r)
        return new


def shard_files(directory: str | Path) -> list[Path]:
    d = Path(directory)
    return sorted(list(d.glob("shard-*.jsonl")) + list(d.glob("shard-*.jsonl.gz")))


def iter_store(directory: str | Path) -> Iterator[dict[str, Any]]:
    """Every rollout of every shard, each id once (shards are disjoint by problem), streamed: what
    stays in memory is the ids seen, not the records."""
    seen: set[str] = set()
    for path in shard_files(directory):
        for rec in read_records(path):
            if rec["rollout_id"] not in seen:
                seen.add(rec["rollout_id"])
                yield rec


def read_store(directory: str | Path) -> list[dict[str, Any]]:
    """Every rollout of every shard, each id once, as one list (iter_store streams them)."""
    return list(iter_store(directory))


def write_text_atomic(path: Path, text: str) -> None:
    """Written beside the target, then renamed over it: a reader or a kill never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json_atomic(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def write_jsonl_atomic(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def save_figure_atomic(fig, path: Path, **savefig: Any) -> None:
    """A matplotlib figure as PNG, atomically, and closed (figures stay in memory until closed)."""
    import matplotlib.pyplot as plt

    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fig.savefig(tmp, format="png", **savefig)
    plt.close(fig)
    os.replace(tmp, path)


def export_parquet(directory: str | Path, out: str | Path) -> Path:
    """The whole store as one Parquet file (via `datasets`), e.g. to push as a hub dataset."""
    from datasets import Dataset

    rows = read_store(directory)
    for r in rows:  # nested free-form fields as JSON text: Arrow wants one schema for all rows
        for key in ("meta", "sampling", "verdict"):
            if key in r and not isinstance(r[key], str):
                r[key] = json.dumps(r[key], ensure_ascii=False)
    out = Path(out)
    Dataset.from_list(rows).to_parquet(str(out))
    return out


def print_status(run_dir: Path) -> dict[str, Any]:
    """The `status` view: every shard of run_dir/rollout read together."""
    d = Path(run_dir) / "rollout"
    files = shard_files(d)
    if not files:
        raise SystemExit(f"no rollout shards under {d}: run rd-rollout run_dir={run_dir} first")
    s = summarize(iter_store(d))
    total = s["groups"]["all"]["rollouts"] if s["groups"] else 0
    print(f"{len(files)} shard file(s) under {d}: {total} rollouts")
    print_table(s)
    return s


if __name__ == "__main__":
    print_status(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/demo"))
