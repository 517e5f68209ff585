"""rd-dpo's reference log-prob cache: a DPOTrainer whose reference pass is computed once per content
and reused across runs, sweep points and ranks (imported by dpo/train.py only when it trains, so
that `import dpo.train` stays free of TRL).

The cache key covers the reference weights, the tokenized pairs in order and the DPOConfig fields
that change what the reference sees (REF_FIELDS); the values sit in `<cache>/<key>.npz`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from pathlib import Path

import trl
from trl import DPOTrainer

# The TRL minor version these overrides were written against (pyproject pins trl to it).
TESTED_TRL = "1.16"
# The private DPOTrainer methods CachedRefDPOTrainer overrides; checked at import, loudly.
HOOKS = ("_precompute_ref_logps", "_prepare_dataset")
# DPOConfig fields that change the reference log-probs of the same pairs under the same weights.
REF_FIELDS = ("max_length", "truncation_mode", "padding_free", "ld_alpha", "bf16", "fp16")

_missing = [h for h in HOOKS if not callable(getattr(DPOTrainer, h, None))]
if _missing:
    raise ImportError(
        f"trl {trl.__version__}: DPOTrainer has no {_missing}, which dpo/ref_cache.py overrides "
        f"(written for trl {TESTED_TRL}.x; pyproject pins trl>={TESTED_TRL},<1.17). Install that "
        "version, or port CachedRefDPOTrainer to the new TRL internals."
    )


def ref_cache_key(model_hash: str, dataset, args) -> str:
    """Content key: reference weights, the tokenized pairs in order, and the settings in REF_FIELDS."""
    import numpy as np

    h = hashlib.sha256()
    h.update(f"trl={trl.__version__};weights={model_hash};".encode())
    h.update(json.dumps({k: getattr(args, k, None) for k in REF_FIELDS}, default=str).encode())
    for col in ("prompt_ids", "chosen_ids", "rejected_ids"):
        for ids in dataset[col]:
            h.update(np.asarray(ids, dtype=np.int64).tobytes())
            h.update(b"|")
    return h.hexdigest()[:24]


def cache_lock(path: Path, single_process: bool):
    """One computing process per key when parallel sweep points share a cache (single-rank jobs;
    ranks of one job compute together and must not wait on each other)."""
    if not single_process:
        return contextlib.nullcontext()
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(path)


def release_precompute_engine(trainer) -> None:
    """Under ZeRO-3, TRL wraps the policy in a DeepSpeed inference engine for the reference pass
    and keeps it; its parameter hooks then collide with the training engine's on the same module
    (DeepSpeed's "pop from an empty deque" at the first training step). Once the log-probs are
    computed (and cached) that engine has no use left: remove its hooks."""
    engine = getattr(trainer, "_precompute_engine", None)
    if engine is not None:
        engine.destroy()
        trainer._precompute_engine = None


class CachedRefDPOTrainer(DPOTrainer):
    """trl.DPOTrainer whose reference log-prob precompute goes through the on-disk cache.

    Depends on these TRL internals (trl 1.16; pinned in pyproject, checked at import and by
    tests/test_dpo.py::test_the_reference_cache_hook_is_what_runs):
    - `DPOTrainer.__init__` calls `self._precompute_ref_logps(dataset, name, batch_size)` for the
      train and eval datasets when `args.precompute_ref_log_probs` is set, and uses the dataset it
      returns, which must carry `ref_chosen_logps` and `ref_rejected_logps` columns;
    - `self._precompute_model_hash` (set before that call) identifies the reference weights;
    - `self._precompute_engine`: the DeepSpeed inference engine TRL keeps after its pass (ZeRO-3);
    - `DPOTrainer._prepare_dataset(dataset, processing_class, args, dataset_name)` tokenizes; pairs
      that come as `prompt_ids`/`chosen_ids`/`rejected_ids` (dpo/train.py tokenize_pairs) skip it.
    If a TRL release renames `_precompute_ref_logps`, TRL's own pass would run silently instead of
    the cache: the import check above and the test stop that.

    Every pass is recorded in `ref_events` (split, key, source: cache | computed, seconds); a
    computed one is also appended to `<ref_cache_dir>/computed.jsonl`.
    """

    def __init__(self, *args, ref_cache_dir: str | Path, **kwargs):
        # Set before TRL's __init__, which runs the reference pass.
        self.ref_cache_dir = Path(ref_cache_dir)
        self.ref_cache_dir.mkdir(parents=True, exist_ok=True)
        self.ref_events: list[dict] = []
        super().__init__(*args, **kwargs)

    def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
        # Pairs come tokenized (tokenize_pairs); TRL's preparation would tokenize text again.
        if "prompt_ids" in dataset.column_names:
            return dataset
        return super()._prepare_dataset(dataset, processing_class, args, dataset_name)

    def _precompute_ref_logps(self, dataset, name, batch_size):
        import numpy as np
        from datasets import Dataset as HFDataset
        from datasets import concatenate_datasets

        t0 = time.perf_counter()
        key = ref_cache_key(self._precompute_model_hash, dataset, self.args)
        single = self.accelerator.num_processes == 1
        if (
            not single
        ):  # ZeRO-3 shards the weights, so ranks may hash them differently: use rank 0's
            from accelerate.utils import broadcast_object_list

            key = broadcast_object_list([key], from_process=0)[0]
        path = self.ref_cache_dir / f"{key}.npz"
        with cache_lock(path.with_suffix(".lock"), single):
            data = np.load(path) if path.exists() else None
            hit = data is not None and len(data["chosen"]) == len(dataset)
            if not single:  # every rank takes the same branch, or the collective compute hangs
                hit = broadcast_object_list([hit], from_process=0)[0]
            if hit:
                data = data if data is not None else np.load(path)
                cols = HFDataset.from_dict(
                    {
                        "ref_chosen_logps": data["chosen"].tolist(),
                        "ref_rejected_logps": data["rejected"].tolist(),
                    }
                )
                self.ref_events.append(
                    {"split": name, "key": key, "source": "cache", "seconds": 0.0}
                )
                return concatenate_datasets([dataset, cols], axis=1)
            out = super()._precompute_ref_logps(dataset, name, batch_size)
            release_precompute_engine(self)
            if self.accelerator.is_main_process:
                tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.npz")
                np.savez(
                    tmp,
                    chosen=np.asarray(out["ref_chosen_logps"], dtype=np.float32),
                    rejected=np.asarray(out["ref_rejected_logps"], dtype=np.float32),
                )
                os.replace(tmp, path)
            self.accelerator.wait_for_everyone()
        seconds = round(time.perf_counter() - t0, 2)
        self.ref_events.append(
            {"split": name, "key": key, "source": "computed", "seconds": seconds}
        )
        if self.accelerator.is_main_process:
            with open(self.ref_cache_dir / "computed.jsonl", "a") as f:
                f.write(json.dumps({**self.ref_events[-1], "pairs": len(dataset)}) + "\n")
        return out
