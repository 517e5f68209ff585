#!/usr/bin/env bash
# The README's test command: set up a fresh CPU machine (scripts/setup.sh), lint, then run the suite.
#   bash scripts/test.sh                 # everything CI runs
#   bash scripts/test.sh -m "not slow"   # extra pytest arguments pass through
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# Caches that the engines and compilers write go under the checkout, never into $HOME.
export VLLM_CACHE_ROOT="${VLLM_CACHE_ROOT:-$PWD/.cache/vllm}" TORCHINDUCTOR_CACHE_DIR="${TORCHINDUCTOR_CACHE_DIR:-$PWD/.cache/inductor}"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-2}"
exec .venv/bin/python -m pytest -q "$@"
