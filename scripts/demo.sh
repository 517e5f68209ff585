#!/usr/bin/env bash
# The README's main command: set up a fresh CPU machine and run the main job on its built-in default.
# Today that is the verifier gate on the shipped labeled sample; the end-to-end pipeline replaces it
# when its stages land (issues 3-6).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
exec .venv/bin/rd-verify output=runs/demo/verify/verified.jsonl "$@"
