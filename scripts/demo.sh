#!/usr/bin/env bash
# Runs the math example agent offline on the embedded model. Called by `make demo`
# after setup; the first run joins and verifies the model's weights (about 1 GB).
set -euo pipefail
venv=${1:-.venv}
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
"$venv/bin/agentlab" run --agent math --model local:qwen2.5-coder-1.5b \
  "A warehouse has 17 boxes with 23 bottles each, and 4 loose bottles. How many bottles are there in total?"
