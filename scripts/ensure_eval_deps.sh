#!/usr/bin/env bash
# What the evaluation tests need beyond `pip install -e .[dev]`, installed when missing:
#  - bfcl-eval, with --no-deps: agentlab reads only its data files (BFCL cases and
#    possible answers); its own dependency tree (torch, vllm clients, ...) is not needed.
#  - Chromium from Debian's packages, for the HTML report's screenshot test.
# Safe to re-run: each step is skipped when already done.
set -euo pipefail
venv=${1:-.venv}
cd "$(dirname "$0")/.."

if ! "$venv/bin/python" -c "import importlib.metadata as m; m.distribution('bfcl-eval')" 2>/dev/null; then
  echo "Installing bfcl-eval (data files only, --no-deps)..."
  "$venv/bin/pip" install -qq --no-deps "bfcl-eval==2026.3.23"
fi

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "Chromium is missing: sudo apt-get install -y chromium (the HTML screenshot test skips without it)." >&2
    exit 0
  fi
  echo "Installing chromium from Debian's packages..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
