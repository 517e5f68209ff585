"""Tokenize and pack: lossless, document boundaries kept, restartable per shard, read by memory map."""

import json
import os

import numpy as np
import pytest

from distill.pack import PackConfig, PackedDataset, Packer, pack


def test_positions_restart_at_every_document_and_sequence_start():
    p = Packer(8, eos=0, boundaries="reset")
    p.add([5, 6, 7])
    p.add([1, 2, 3, 4, 5, 6])  # crosses into the second sequence
    p.add([9])
    toks, pos, pad = p.full_sequences(final=True)
    assert toks.tolist() == [[5, 6, 7, 0, 1, 2, 3, 4], [5, 6, 0, 9, 0, 0, 0, 0]]
    assert pos.tolist() == [[0, 1, 2, 3, 0, 1, 2, 3], [0, 1, 2, 0, 1, 0, 1, 2]]
    assert pad == 3
    sep = Packer(8, eos=0, boundaries="separator")
    sep.add([5, 6, 7])
    t, pos, pad = sep.full_sequences(final=True)
    assert pos.tolist() == [list(range(8))] and pad == 4
    with pytest.raises(ValueError, match="boundaries must be one of"):
        Packer(8, 0, "none")


def corpus(path, n=1200):
    rng = np.random.default_rng(0)
    words = [
        "the",
        "answer",
        "is",
        "\\boxed{42}",
        "so",
        "we",
        "add",
        "3",
        "and",
        "4",
        "<think>",
        "</think>",
        "step",
    ]
    with path.open("w") as f:
        for i in range(n):
            k = int(rng.integers(3, 80))
            f.write(json.dumps({"text": f"doc {i}: " + " ".join(rng.choice(words, size=k))}) + "\n")
    return path


def test_pack_is_lossless_efficient_and_restartable(tiny_model, tmp_path):
    from transformers import AutoTokenizer

    src = corpus(tmp_path / "c.jsonl")
    out = tmp_path / "packed"
    cfg = PackConfig(seq_len=128, docs_per_shard=500, workers=2, batch_docs=64)
    totals = pack(src, out, tiny_model, cfg)
    assert totals["shards"] == 3 and totals["documents"] == 1200
    assert totals["packing_efficiency"] >= 0.995

    tok = AutoTokenizer.from_pretrained(tiny_model)
    expected = []
    for line in src.read_text().splitlines():
        expected += tok(json.loads(line)["text"], add_special_tokens=False)["input_ids"] + [
            tok.eos_token_id
        ]
    ds = PackedDataset(out)
    got = []
    for shard_meta in sorted(out.glob("shard-*.json")):
        meta = json.loads(shard_meta.read_text())
        stem = str(shard_meta)[: -len(".json")]
        toks = np.fromfile(f"{stem}.tokens", dtype=meta["dtype"]).reshape(-1, 128)
        flat = toks.reshape(-1).tolist()
        got += flat[: len(flat) - meta["padding"]]
    assert got == expected, "packing lost or reordered tokens"
    item = ds[len(ds) - 1]
    assert item["input_ids"].shape == (128,) and item["position_ids"].shape == (128,)
    assert isinstance(ds.shards[0][0], np.memmap)

    # Restart: a finished shard is skipped; a missing one is redone identically.
    before = {p.name: p.read_bytes() for p in out.glob("shard-*")}
    mtime0 = os.path.getmtime(out / "shard-00000.tokens")
    for suffix in (".tokens", ".positions", ".json"):
        (out / f"shard-00001{suffix}").unlink()
    (out / ".shard-00001.tmp.tokens").write_bytes(b"torn")  # what a kill mid-write leaves
    totals2 = pack(src, out, tiny_model, cfg)
    assert totals2["skipped_shards"] == 2 and totals2["shards"] == 1
    assert os.path.getmtime(out / "shard-00000.tokens") == mtime0
    assert {p.name: p.read_bytes() for p in out.glob("shard-*")} == before


def test_bad_corpus_line_names_file_and_line(tiny_model, tmp_path):
    src = tmp_path / "bad.jsonl"
    src.write_text(json.dumps({"text": "fine"}) + "\n" + json.dumps({"body": "no text"}) + "\n")
    with pytest.raises(
        ValueError, match=r"bad.jsonl:2: expected a JSON object with a 'text' string"
    ):
        pack(src, tmp_path / "o", tiny_model, PackConfig(seq_len=16, workers=1))


def test_a_document_that_ends_with_eos_gets_no_second_one(tiny_model, tmp_path):
    """ChatML renders end a turn with <|im_end|>, SmolLM2's EOS: the packer must not double it."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    texts = ["2 + 2 = 4<|im_end|>", "no end of turn here"]
    src = tmp_path / "c.jsonl"
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    out = tmp_path / "packed"
    pack(src, out, tiny_model, PackConfig(seq_len=64, docs_per_shard=10, workers=1))
    (meta_path,) = out.glob("shard-*.json")
    meta = json.loads(meta_path.read_text())
    toks = np.fromfile(str(meta_path)[: -len(".json")] + ".tokens", dtype=meta["dtype"])
    got = toks.tolist()[: len(toks) - meta["padding"]]
    first = tok(texts[0], add_special_tokens=False)["input_ids"]
    second = tok(texts[1], add_special_tokens=False)["input_ids"]
    assert first[-1] == tok.eos_token_id
    assert got == first + second + [tok.eos_token_id]


README_PACK = "python -m distill.pack corpus=corpus.jsonl out_dir=packed pack.seq_len=2048"


def test_the_readme_pack_command_runs_as_printed(smollm2_path, tmp_path):
    """The README's line, exactly as printed (python is this interpreter), in a folder holding a
    corpus.jsonl; then a typo'd key fails naming it (the command's typed config)."""
    import shlex
    import subprocess
    import sys
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    (line,) = [ln for ln in readme.splitlines() if ln.startswith(README_PACK)]
    argv = shlex.split(line, comments=True)
    corpus(tmp_path / "corpus.jsonl", n=300)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    r = subprocess.run(
        [sys.executable, *argv[1:]], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert r.returncode == 0, r.stderr
    totals = json.loads(r.stdout[r.stdout.index("{") :])
    assert totals["documents"] == 300 and totals["shards"] == 1
    assert len(PackedDataset(tmp_path / "packed")) == totals["sequences"]

    r = subprocess.run(
        [sys.executable, *argv[1:], "pack.seq_lenn=64"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode != 0 and "seq_lenn" in r.stderr


def test_a_corpus_in_shards_packs_as_the_one_file_they_split(tiny_model, tmp_path):
    """rd-curate's pretrain.shards files, named by a glob, are one corpus read in name order: the
    packed shards are the single file's, byte for byte; a bad line names its own file."""
    src = corpus(tmp_path / "c.jsonl")
    lines = src.read_text().splitlines(keepends=True)
    parts = tmp_path / "parts"
    parts.mkdir()
    for k, (a, b) in enumerate(((0, 400), (400, 401), (401, 1200))):
        (parts / f"pretrain-{k:05d}-of-00003.jsonl").write_text("".join(lines[a:b]))
    cfg = PackConfig(seq_len=128, docs_per_shard=500, workers=2, batch_docs=64)
    pack(src, tmp_path / "one", tiny_model, cfg)
    totals = pack(str(parts / "pretrain-*-of-*.jsonl"), tmp_path / "split", tiny_model, cfg)
    assert totals["documents"] == 1200
    one = {p.name: p.read_bytes() for p in (tmp_path / "one").glob("shard-*")}
    assert {p.name: p.read_bytes() for p in (tmp_path / "split").glob("shard-*")} == one

    (parts / "pretrain-00002-of-00003.jsonl").write_text(json.dumps({"body": "no text"}) + "\n")
    with pytest.raises(ValueError, match=r"pretrain-00002-of-00003.jsonl:1: expected a JSON"):
        pack(str(parts / "pretrain-*.jsonl"), tmp_path / "bad", tiny_model, cfg)
    with pytest.raises(ValueError, match="no file matches it"):
        pack(str(parts / "nothing-*.jsonl"), tmp_path / "none", tiny_model, cfg)
