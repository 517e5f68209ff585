"""What a selection stage reads: the rollout store's shard files and the tokenizer it measures with.

Both rd-curate and rd-pairs read the store under input_dir (else run_dir/rollout), fingerprint it
so a rerun on an unchanged store does nothing, and count tokens with the student's tokenizer.
"""

from __future__ import annotations

from pathlib import Path


def store_shards(input_dir: str | None, run_dir: str) -> tuple[Path, list[Path]]:
    """The rollout store a stage reads (input_dir, else run_dir/rollout) and its shard files."""
    from rollout.store import shard_files

    src = Path(input_dir) if input_dir else Path(run_dir) / "rollout"
    shards = shard_files(src)
    if not shards:
        raise ValueError(
            f"no rollout store at {src} (no shard-*.jsonl files): run rd-rollout run_dir={run_dir} "
            "first, or set input_dir=<a folder with shard files>"
        )
    return src, shards


def store_fingerprint(shards: list[Path]) -> list[list]:
    """Shard names and sizes: the store is append-only, so any new rollout changes a size."""
    return [[p.name, p.stat().st_size] for p in shards]


def load_tokenizer(name: str):
    from transformers import AutoTokenizer

    from rollout.models import prepare

    try:
        return AutoTokenizer.from_pretrained(prepare(name))
    except OSError as e:
        raise ValueError(
            f"tokenizer={name!r} could not be loaded ({e}); set tokenizer= to a recipe name "
            "(smollm2_135m) or a local model folder"
        ) from e


def token_counts(tokenizer, texts: list[str], batch: int = 1024) -> list[int]:
    out: list[int] = []
    for i in range(0, len(texts), batch):
        out += [
            len(ids)
            for ids in tokenizer(texts[i : i + batch], add_special_tokens=False)["input_ids"]
        ]
    return out


def token_stats(counts: list[int]) -> dict[str, float]:
    return {"total": sum(counts), "mean": round(sum(counts) / len(counts), 1) if counts else 0.0}
