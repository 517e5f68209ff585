"""The one JSONL reader every command uses, so a bad line is always named the same way: the file,
the line number, what is wrong, and what to do about it. Plain and gzip files alike."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class JSONLError(ValueError):
    """A line that is not a JSON object; the message starts with `path:line:`."""


def read_jsonl(
    path: str | Path,
    fix: str = "fix or delete that line",
    error: type[ValueError] = JSONLError,
    skipped: list[str] | None = None,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line. `fix` ends the error message; `error` lets a
    caller raise its own ValueError subclass (the store raises StoreError). With a `skipped` list, a
    bad line is not an error: its message (less the fix) goes into the list and reading goes on."""
    path = Path(path)
    if not path.exists():
        raise error(f"{path}: no such file; check the path (relative to {Path.cwd()})")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                what = f"{path}:{lineno}: not valid JSON ({e.msg})"
                if skipped is None:
                    raise error(f"{what}; {fix}") from e
                skipped.append(what)
                continue
            if not isinstance(row, dict):
                what = f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}"
                if skipped is None:
                    raise error(f"{what}; {fix}")
                skipped.append(what)
                continue
            yield lineno, row


def load_jsonl(path: str | Path, fix: str = "fix or delete that line") -> list[dict[str, Any]]:
    """Every object of a small file, for inputs that are read whole anyway."""
    return [row for _, row in read_jsonl(path, fix)]
