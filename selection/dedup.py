"""Duplicate removal across problems for the streaming path, in bounded memory and in stages that
shard like the rest of it (selection/stream.py), giving exactly what the in-memory steps give.
Every step opens at most one file per part at a time (selection/stream.py sizes the parts).

Exact duplicates (selection.steps.drop_exact_duplicates keeps the first in rollout order): the keys
(order, rollout id, text hash) are written into `parts` files by hash, so every copy of a text lands
in one part; each part is grouped in memory on its own and all but the first copy are dropped. A
part holds about 1/parts of the keys, and parts grows with the store (stream.memory_mb).

Near duplicates (distill.curate.greedy_near: in rollout order, a rollout whose MinHash Jaccard
estimate with an earlier *kept* one is >= threshold is dropped): the LSH bands datasketch would use
are written into parts by band value (`bands`); each part compares the rollouts that share a band
value, as an LSH query would, and writes the pairs over the threshold (`edges`), sorted by the later
rollout; one pass over the edges merged in rollout order then decides keep or drop exactly as the
greedy loop does (`greedy`). That pass holds the ids of the near duplicates it dropped, nothing per
kept rollout. A group of rollouts sharing one band value is compared pairwise: its cost grows with
the square of its size.

Drops go to files per (task, bucket) of the rollout's problem, so a task later reads only the drops
of the bucket it is working on.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from selection.stream import merge_sorted, read_lines


def part_of(key: str, parts: int) -> int:
    """The part of a hex hash (the first 15 hex digits, read as a number)."""
    return int(key[:15], 16) % parts


class PartFiles:
    """Lines appended to one of many files, each written beside its target and renamed over it on
    close; only the parts given a line are written."""

    def __init__(self, name: Callable[[Any], Path]):
        self.name, self.files = name, {}

    def write(self, part: Any, row: Any) -> None:
        f = self.files.get(part)
        if f is None:
            path = self.name(part)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
            f = self.files[part] = (tmp.open("w", encoding="utf-8"), tmp, path)
        f[0].write(json.dumps(row, ensure_ascii=False) + "\n")

    def close(self) -> None:
        for f, tmp, path in self.files.values():
            f.close()
            os.replace(tmp, path)
        self.files = {}


def drop_exact(
    paths: Iterable[Path], dest: Callable[[str], tuple[int, int]], out: PartFiles
) -> int:
    """One part's keys [order, rollout_id, hash]: every copy after the first in rollout order is
    written to `out` under dest(problem_id). Returns how many were dropped."""
    first: dict[str, tuple[list, str]] = {}
    later: list[tuple[list, str]] = []
    for path in paths:
        for order, rid, h in read_lines(path):
            have = first.get(h)
            if have is None:
                first[h] = (order, rid)
            elif order < have[0]:
                later.append(have)
                first[h] = (order, rid)
            else:
                later.append((order, rid))
    for order, rid in later:
        out.write(dest(order[0]), rid)
    return len(later)


def read_drops(paths: Iterable[Path]) -> set[str]:
    return {rid for path in paths for rid in read_lines(path)}


def signature_hex(hashvalues) -> str:
    """A MinHash signature as stored between steps: its values (< 2**32, datasketch's range) as
    little-endian uint32 in hex, a quarter of a JSON list's size."""
    import numpy as np

    return np.asarray(hashvalues, dtype="<u4").tobytes().hex()


def signature(hexed: str):
    import numpy as np

    return np.frombuffer(bytes.fromhex(hexed), dtype="<u4")


def band_keys(hexed: str, ranges: list[tuple[int, int]]) -> list[str]:
    """The LSH band values of a signature (datasketch's hashranges), as strings: equal iff the
    band's hash values are equal, as datasketch's bytes keys are."""
    return [f"{b}:{hexed[8 * s : 8 * e]}" for b, (s, e) in enumerate(ranges)]


def lsh_ranges(threshold: float, num_perm: int) -> list[tuple[int, int]]:
    """The bands MinHashLSH picks for this threshold (and so for greedy_near)."""
    from datasketch import MinHashLSH

    return list(MinHashLSH(threshold=threshold, num_perm=num_perm).hashranges)


def edges(paths: Iterable[Path], threshold: float, ranges: list[tuple[int, int]]) -> list[list]:
    """One part's band rows [band key, order, rollout_id, signature hex]: every pair sharing a
    band value whose Jaccard estimate (equal hash values / num_perm, as MinHash.jaccard) is >=
    threshold, as [later order, later id, earlier order, earlier id, similarity], sorted by the
    later one. A pair is written by the first band the two share only, so once."""
    import numpy as np

    groups: dict[str, list] = defaultdict(list)
    for path in paths:
        for key, order, rid, hexed in read_lines(path):
            groups[key].append((order, rid, hexed))
    out = []
    for key, members in groups.items():
        if len(members) < 2:
            continue
        band = int(key.split(":", 1)[0])
        members.sort(key=lambda m: m[0])
        sigs = np.stack([signature(m[2]) for m in members])
        perm = sigs.shape[1]
        for j in range(1, len(members)):
            equal = np.count_nonzero(sigs[:j] == sigs[j], axis=1)
            for i in np.flatnonzero(equal / perm >= threshold):
                if any(np.array_equal(sigs[i, s:e], sigs[j, s:e]) for s, e in ranges[:band]):
                    continue  # an earlier band of theirs writes it
                sim = float(np.float64(equal[i]) / np.float64(perm))
                out.append([members[j][0], members[j][1], members[i][0], members[i][1], sim])
    out.sort(key=lambda e: (e[0], e[2]))
    return out


def greedy(paths: list[Path], threshold: float) -> Iterator[dict[str, Any]]:
    """The greedy near-duplicate decision over every part's edges, merged in rollout order of the
    later rollout: it is dropped when an earlier rollout it is near is kept (not itself dropped).
    Yields the record greedy_near writes for each dropped rollout, in rollout order."""
    dropped: set[str] = set()
    current: str | None = None
    hits: list[tuple] = []

    def decide() -> dict[str, Any] | None:
        if not hits:
            return None
        sim, _order, rid_i = max(hits)  # greedy_near's max((sim, position))
        dropped.add(current)  # type: ignore[arg-type]
        return {"rollout_id": current, "duplicate_of": rid_i, "similarity": round(sim, 3)}

    for _order_j, rid_j, order_i, rid_i, sim in merge_sorted(paths):
        if rid_j != current:
            made = decide()
            if made:
                yield made
            current, hits = rid_j, []
        if sim >= threshold and rid_i not in dropped:
            hits.append((sim, order_i, rid_i))
    made = decide()
    if made:
        yield made
