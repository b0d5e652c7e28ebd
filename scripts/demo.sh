#!/usr/bin/env bash
# Runs an example agent offline. Called by `make demo` after setup.
set -euo pipefail
venv=${1:-.venv}
cd "$(dirname "$0")/.."
"$venv/bin/agentlab" run "What is 17*23+4?" --model "replay:examples/math/demo-cassette.jsonl"
