"""Tokenize and pack a text corpus into fixed-length, memory-mapped training shards.

    python -m distill.pack corpus=corpus.jsonl out_dir=out tokenizer=smollm2_135m pack.seq_len=2048

rd-pretrain packs its corpus itself (its `pack.*` keys are these); this command packs one alone, e.g.
on a CPU node before training. Keys: PackCommandConfig below; conf/pack.yaml.

Streams the corpus (JSONL with a `text` field, any size: never loaded whole), tokenizes it in worker
processes with the tokenizer's fast batch encoder, and packs documents back to back into sequences
of `seq_len` tokens, each document followed by EOS. Document boundaries are kept one of two ways:
`boundaries="reset"` stores position ids that restart at 0 at every document start (padding-free
attention then never crosses documents); `"separator"` keeps positions running and relies on the EOS
between documents. Every `docs_per_shard` input documents become one shard (`shard-00000.tokens`,
`.positions`, `.json`), written to a temporary name and renamed, so a restarted job skips finished
shards and redoes only the one it was in. Training reads shards with `PackedDataset` by memory map.
"""

from __future__ import annotations

import glob
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain, islice
from multiprocessing import get_context
from pathlib import Path

import hydra
import numpy as np
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

BOUNDARIES = ("reset", "separator")


@dataclass
class PackConfig:
    seq_len: int = 2048
    boundaries: str = "reset"
    docs_per_shard: int = 50_000
    workers: int | None = 2  # tokenizer processes; None: every core
    batch_docs: int = 256  # documents per tokenizer call
    text_field: str = "text"


@dataclass
class PackCommandConfig:
    corpus: str = MISSING  # a JSONL file with a `text` field per line, or a glob of several
    out_dir: str = MISSING
    tokenizer: str = "smollm2_135m"  # a model recipe name (rollout/models.py), hub name or folder
    pack: PackConfig = field(default_factory=PackConfig)


ConfigStore.instance().store(name="pack_schema", node=PackCommandConfig)


def corpus_files(corpus: str | Path | list[Path]) -> list[Path]:
    """The files of a corpus: one JSONL file, or a glob pattern matching several (rd-curate's
    `pretrain.shards` files, pretrain-00000-of-00004.jsonl ...), read in name order as one corpus."""
    if isinstance(corpus, list):
        return corpus
    path = Path(corpus)
    if path.is_file():
        return [path]
    files = sorted(Path(p) for p in glob.glob(str(corpus)) if Path(p).is_file())
    if not files:
        raise ValueError(
            f"corpus={corpus}: no such file, and no file matches it as a pattern; give a JSONL "
            "file or a glob such as 'runs/demo/curate/pretrain-*-of-*.jsonl'"
        )
    return files


def iter_lines(paths: list[Path]) -> Iterator[tuple[tuple[int, int], str]]:
    """((file number, line number), raw line) of JSONL files in turn, one line at a time: parsing
    happens in the workers."""
    for i, path in enumerate(paths):
        with path.open(encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if line.strip():
                    yield (i, lineno), line


_TOKENIZER = None
_CTX: dict = {}


def _init_worker(tokenizer_path: str, text_field: str, sources: list[str]) -> None:
    global _TOKENIZER
    # One core per worker: the pool is the parallelism.
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    from transformers import AutoTokenizer

    _TOKENIZER = AutoTokenizer.from_pretrained(tokenizer_path)
    _CTX.update(text_field=text_field, sources=sources, eos=_TOKENIZER.eos_token_id)


def _encode(batch: list[tuple[tuple[int, int], str]]) -> tuple[np.ndarray, np.ndarray]:
    """Parse and tokenize a batch of lines: (all tokens with EOS after each document, lengths).

    Arrays, not lists, cross the process boundary: pickling millions of ints is the slow part.
    """
    field, texts = _CTX["text_field"], []
    for (i, lineno), line in batch:
        try:
            texts.append(json.loads(line)[field])
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise ValueError(
                f"{_CTX['sources'][i]}:{lineno}: expected a JSON object with a {field!r} string "
                f"({e})"
            ) from None
    ids = _TOKENIZER(texts, add_special_tokens=False)["input_ids"]
    eos = _CTX["eos"]
    # A document rendered with a chat template whose end-of-turn is EOS (ChatML) already ends
    # with it: it gets no second one.
    has_eos = np.fromiter((bool(x) and x[-1] == eos for x in ids), dtype=bool, count=len(ids))
    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids)) + ~has_eos
    flat = np.empty(int(lengths.sum()), dtype=np.int32)
    added = (np.cumsum(lengths) - 1)[~has_eos]
    flat[added] = eos
    mask = np.ones(len(flat), dtype=bool)
    mask[added] = False
    flat[mask] = np.fromiter(chain.from_iterable(ids), dtype=np.int32, count=int(mask.sum()))
    return flat, lengths


def token_dtype(vocab_size: int):
    return np.uint16 if vocab_size <= 65535 else np.uint32


class Packer:
    """Greedy back-to-back packing; a document that does not fit continues in the next sequence.

    With boundaries="reset", position ids restart at 0 at every document start and at every
    sequence start (a continued document is a new segment there).
    """

    def __init__(self, seq_len: int, eos: int, boundaries: str):
        if boundaries not in BOUNDARIES:
            raise ValueError(f"boundaries must be one of {BOUNDARIES}, got {boundaries!r}")
        self.seq_len, self.eos, self.boundaries = seq_len, eos, boundaries
        self.tokens = np.empty(0, dtype=np.int64)
        self.starts = np.empty(0, dtype=bool)

    def add_many(self, flat: np.ndarray, lengths: np.ndarray) -> None:
        """Documents already followed by EOS, laid end to end, with their lengths."""
        starts = np.zeros(len(flat), dtype=bool)
        starts[np.cumsum(lengths) - lengths] = True
        self.tokens = np.concatenate([self.tokens, flat.astype(np.int64, copy=False)])
        self.starts = np.concatenate([self.starts, starts])

    def add(self, ids: list[int]) -> None:
        self.add_many(
            np.asarray(list(ids) + [self.eos], dtype=np.int64), np.asarray([len(ids) + 1])
        )

    def full_sequences(self, final: bool = False) -> tuple[np.ndarray, np.ndarray, int]:
        """Cut off the complete sequences (and, at the end, the padded last one)."""
        L = self.seq_len
        n = len(self.tokens) // L
        pad = 0
        if final and len(self.tokens) > n * L:
            pad = (n + 1) * L - len(self.tokens)
            fill_s = np.zeros(pad, dtype=bool)
            fill_s[0] = True  # padding is its own segment
            self.tokens = np.concatenate([self.tokens, np.full(pad, self.eos, dtype=np.int64)])
            self.starts = np.concatenate([self.starts, fill_s])
            n += 1
        take = n * L
        toks = self.tokens[:take].reshape(n, L)
        idx = np.arange(L)
        if self.boundaries == "reset":
            starts = self.starts[:take].reshape(n, L).copy()
            starts[:, 0] = True
            pos = idx - np.maximum.accumulate(np.where(starts, idx, 0), axis=1)
        else:
            pos = np.broadcast_to(idx, (n, L))
        self.tokens, self.starts = self.tokens[take:], self.starts[take:]
        return toks, pos, pad


def _write_shard(
    out: Path, index: int, toks: np.ndarray, pos: np.ndarray, meta: dict, dtype
) -> None:
    stem = out / f"shard-{index:05d}"
    tmp = out / f".shard-{index:05d}.tmp"
    toks.astype(dtype).tofile(f"{tmp}.tokens")
    pos.astype(np.uint16 if toks.shape[1] <= 65536 else np.uint32).tofile(f"{tmp}.positions")
    Path(f"{tmp}.json").write_text(json.dumps(meta))
    os.replace(f"{tmp}.tokens", f"{stem}.tokens")
    os.replace(f"{tmp}.positions", f"{stem}.positions")
    os.replace(
        f"{tmp}.json", f"{stem}.json"
    )  # last: a shard counts as finished once its json exists


def pack(
    corpus: str | Path | list[Path],
    out_dir: str | Path,
    tokenizer_path: str,
    cfg: PackConfig,
    progress=None,
) -> dict:
    """Tokenize and pack `corpus` (corpus_files) into `out_dir`; finished shards are skipped.
    Returns totals."""
    from transformers import AutoTokenizer

    if cfg.seq_len < 8:
        raise ValueError(f"seq_len must be >= 8, got {cfg.seq_len}")
    files, out = corpus_files(corpus), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = AutoTokenizer.from_pretrained(tokenizer_path)
    eos = tok.eos_token_id
    if eos is None:
        raise ValueError(f"tokenizer {tokenizer_path} has no EOS token to separate documents")
    dtype = token_dtype(len(tok))
    del tok
    totals = {
        "shards": 0,
        "skipped_shards": 0,
        "documents": 0,
        "sequences": 0,
        "tokens": 0,
        "padding": 0,
    }
    lines = iter_lines(files)
    ctx = get_context("spawn")
    init = (tokenizer_path, cfg.text_field, [str(p) for p in files])
    with ctx.Pool(
        cfg.workers or os.cpu_count() or 1, initializer=_init_worker, initargs=init
    ) as pool:
        index = 0
        while True:
            docs = list(islice(lines, cfg.docs_per_shard))
            if not docs:
                break
            if (out / f"shard-{index:05d}.json").exists():
                # A finished shard still counts: a resumed run reports the whole corpus.
                meta = json.loads((out / f"shard-{index:05d}.json").read_text())
                for k in ("documents", "sequences", "tokens", "padding"):
                    totals[k] += meta[k]
                totals["skipped_shards"] += 1
                index += 1
                continue
            packer = Packer(cfg.seq_len, eos, cfg.boundaries)
            batches = [docs[i : i + cfg.batch_docs] for i in range(0, len(docs), cfg.batch_docs)]
            seqs_t, seqs_p = [], []
            for flat, lengths in pool.imap(_encode, batches):  # in order: shards are deterministic
                packer.add_many(flat, lengths)
                t, p, _ = packer.full_sequences()
                if len(t):
                    seqs_t.append(t)
                    seqs_p.append(p)
                if progress:
                    progress(len(flat))
            t, p, pad = packer.full_sequences(final=True)
            seqs_t.append(t)
            seqs_p.append(p)
            toks, pos = np.concatenate(seqs_t), np.concatenate(seqs_p)
            real = int(toks.size - pad)
            meta = {
                "sequences": int(toks.shape[0]),
                "seq_len": cfg.seq_len,
                "documents": len(docs),
                "tokens": real,
                "padding": pad,
                "dtype": np.dtype(dtype).name,
                "boundaries": cfg.boundaries,
                "eos": eos,
            }
            _write_shard(out, index, toks, pos, meta, dtype)
            for k in ("documents", "sequences", "tokens", "padding"):
                totals[k] += meta[k]
            totals["shards"] += 1
            index += 1
    totals["packing_efficiency"] = totals["tokens"] / max(1, totals["tokens"] + totals["padding"])
    (out / "pack.json").write_text(
        json.dumps(
            {
                **totals,
                "seq_len": cfg.seq_len,
                "boundaries": cfg.boundaries,
                "tokenizer": tokenizer_path,
            },
            indent=2,
        )
    )
    return totals


class PackedDataset:
    """Packed shards read by memory map: `ds[i]` is one sequence, nothing is loaded whole."""

    def __init__(self, directory: str | Path):
        d = Path(directory)
        metas = sorted(d.glob("shard-*.json"))
        if not metas:
            raise ValueError(
                f"{d}: no packed shards (shard-*.json); run python -m distill.pack first"
            )
        self.shards = []
        for m in metas:
            meta = json.loads(m.read_text())
            stem = str(m)[: -len(".json")]
            shape = (meta["sequences"], meta["seq_len"])
            toks = np.memmap(f"{stem}.tokens", dtype=meta["dtype"], mode="r", shape=shape)
            pos_dtype = np.uint16 if meta["seq_len"] <= 65536 else np.uint32
            pos = np.memmap(f"{stem}.positions", dtype=pos_dtype, mode="r", shape=shape)
            self.shards.append((toks, pos))
        self.offsets = np.cumsum([0] + [t.shape[0] for t, _ in self.shards])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, i: int) -> dict:
        import torch

        s = int(np.searchsorted(self.offsets, i, side="right") - 1)
        toks, pos = self.shards[s]
        j = i - int(self.offsets[s])
        ids = torch.from_numpy(np.asarray(toks[j], dtype=np.int64))
        return {
            "input_ids": ids,
            "position_ids": torch.from_numpy(np.asarray(pos[j], dtype=np.int64)),
            "labels": ids.clone(),
        }


@hydra.main(config_path="pkg://conf", config_name="pack", version_base="1.3")
def _hydra_main(cfg) -> None:
    typed: PackCommandConfig = OmegaConf.to_object(cfg)  # type: ignore[assignment]
    from tqdm import tqdm

    from rollout.models import prepare

    try:
        with tqdm(unit="tok", unit_scale=True, desc="pack", file=sys.stderr) as bar:
            totals = pack(
                typed.corpus, typed.out_dir, prepare(typed.tokenizer), typed.pack, bar.update
            )
    except ValueError as e:
        print(f"distill.pack: error: {e}", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(totals, indent=2))


def main() -> None:
    _hydra_main()


if __name__ == "__main__":
    main()
