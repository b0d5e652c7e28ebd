"""The llama.cpp build for this CPU: its CMake flags, its wheel directory, and whether the
installed llama-cpp-python is that build. Used by scripts/setup_python.sh; stdlib only, as it
runs before agentlab is installed.

    python scripts/llama_build.py cmake-args   # the CMAKE_ARGS for this CPU
    python scripts/llama_build.py version      # the llama-cpp-python version constraints.txt pins
    python scripts/llama_build.py wheel-dir    # where the wheel for these flags and version lives
    python scripts/llama_build.py check        # exit 0 when the installed build is this one

Every instruction-set option is named ON or OFF from the CPU's flags in /proc/cpuinfo: with
GGML_NATIVE off, llama.cpp turns AVX, AVX2, FMA, F16C and BMI2 on by default, which would
crash on a CPU without them, and `-march=native` (GGML_NATIVE) takes the AMX path that crashed
on an Intel machine here, so NATIVE and AMX are always off. pip caches a wheel built from an
sdist by the sdist's URL, not by CMAKE_ARGS, so the wheel goes to a directory keyed by the
version and a hash of the flags instead, and is installed from there.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "constraints.txt"
PIN = re.compile(r"^llama[-_.]cpp[-_.]python==(\S+)\s*$", re.IGNORECASE | re.MULTILINE)
AVX512_BASE = ("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw")
"""What GGML_AVX512 compiles for (-mavx512f -mavx512cd -mavx512vl -mavx512dq -mavx512bw)."""


@dataclass(frozen=True)
class Option:
    """One llama.cpp instruction-set option and the CPU flags it needs."""

    cmake: str
    """The CMake option, e.g. GGML_AVX2."""
    cpu_flags: tuple[str, ...]
    """The /proc/cpuinfo flags that must all be present to turn it on."""
    feature: str | None
    """Its name in llama_print_system_info() (None when not listed there)."""


OPTIONS = (
    Option("GGML_SSE42", ("sse4_2",), None),
    Option("GGML_AVX", ("avx",), "AVX"),
    Option("GGML_AVX2", ("avx2",), "AVX2"),
    Option("GGML_FMA", ("fma",), "FMA"),
    Option("GGML_F16C", ("f16c",), "F16C"),
    Option("GGML_BMI2", ("bmi2",), "BMI2"),
    Option("GGML_AVX_VNNI", ("avx_vnni",), "AVX_VNNI"),
    Option("GGML_AVX512", AVX512_BASE, "AVX512"),
    Option("GGML_AVX512_VBMI", (*AVX512_BASE, "avx512vbmi"), "AVX512_VBMI"),
    Option("GGML_AVX512_VNNI", (*AVX512_BASE, "avx512_vnni"), "AVX512_VNNI"),
    Option("GGML_AVX512_BF16", (*AVX512_BASE, "avx512_bf16"), "AVX512_BF16"),
)
ALWAYS_OFF = ("GGML_NATIVE", "GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16")
LISTED_FEATURES = {o.feature for o in OPTIONS if o.feature} | {"AMX_INT8"}
"""The system-info features these flags decide; others (SSE3, OPENMP, ...) are not compared."""


def cpu_flags(cpuinfo: str) -> set[str]:
    """The first processor's flags in /proc/cpuinfo text (empty when it lists none, e.g. ARM)."""
    match = re.search(r"^flags\s*:(.*)$", cpuinfo, re.MULTILINE)
    return set(match.group(1).split()) if match else set()


def cmake_args(flags: set[str]) -> list[str]:
    """CMake arguments naming every x86 option ON or OFF for a CPU with `flags`."""
    args = [f"-D{name}=OFF" for name in ALWAYS_OFF]
    for option in OPTIONS:
        state = "ON" if flags.issuperset(option.cpu_flags) else "OFF"
        args.append(f"-D{option.cmake}={state}")
    return args


def expected_features(flags: set[str]) -> set[str]:
    """The features llama_print_system_info() lists for the build `cmake_args(flags)` makes."""
    return {o.feature for o in OPTIONS if o.feature and flags.issuperset(o.cpu_flags)}


def built_features(system_info: str) -> set[str]:
    """The features a build was compiled with, of those the flags decide."""
    return set(re.findall(r"(\w+) = 1", system_info)) & LISTED_FEATURES


def pinned_version(constraints: str) -> str:
    """The llama-cpp-python version constraints.txt pins."""
    match = PIN.search(constraints)
    if match is None:
        raise SystemExit(f"{CONSTRAINTS} pins no llama-cpp-python version (run scripts/lock.sh)")
    return match.group(1)


def wheel_dir(version: str, args: list[str]) -> Path:
    """The directory for the wheel of `version` built with `args`: never shared across flags."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.sha256(" ".join(args).encode()).hexdigest()[:12]
    return cache / "agentlab" / "wheels" / f"{version}-{digest}"


def check(version: str, want: set[str]) -> str | None:
    """Why the installed llama-cpp-python is not the build for this CPU (None when it is)."""
    try:
        import llama_cpp
    except ImportError:
        return "llama-cpp-python is not installed"
    installed = str(llama_cpp.__version__)
    if installed != version:
        return f"llama-cpp-python {installed} is installed, constraints.txt pins {version}"
    have = built_features(llama_cpp.llama_print_system_info().decode())
    if have != want:
        return (
            f"llama-cpp-python was built for {' '.join(sorted(have)) or 'no x86 extensions'}, "
            f"this CPU wants {' '.join(sorted(want)) or 'none'}"
        )
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("cmake-args", "version", "wheel-dir", "check"))
    parser.add_argument("--cpuinfo", type=Path, default=Path("/proc/cpuinfo"))
    options = parser.parse_args()
    cpuinfo = options.cpuinfo.read_text() if options.cpuinfo.is_file() else ""
    flags = cpu_flags(cpuinfo)
    args = cmake_args(flags)
    if options.command == "cmake-args":
        print(" ".join(args))
        return
    version = pinned_version(CONSTRAINTS.read_text())
    if options.command == "version":
        print(version)
    elif options.command == "wheel-dir":
        print(wheel_dir(version, args))
    elif (problem := check(version, expected_features(flags))) is not None:
        print(problem, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
