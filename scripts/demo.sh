#!/usr/bin/env bash
# The README's main command: set up a fresh CPU machine and run the end-to-end pipeline on its
# built-in default (SmolLM2-135M self-distillation on synthetic problems, ~15-20 min on 2 cores):
# rollouts -> curation -> distill pretraining -> SFT -> pairs -> DPO -> evaluation -> report, all in
# runs/pipeline. Extra arguments go to rd-pipeline (run_dir=..., experiment=..., dry_run=true).
# Re-running continues where a crashed run stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-2}"
export VLLM_CACHE_ROOT="${VLLM_CACHE_ROOT:-$PWD/.cache/vllm}" TORCHINDUCTOR_CACHE_DIR="${TORCHINDUCTOR_CACHE_DIR:-$PWD/.cache/inductor}"
.venv/bin/rd-pipeline "$@"
