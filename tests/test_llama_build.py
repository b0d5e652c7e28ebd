"""scripts/llama_build.py: llama.cpp's CMake flags come from the CPU, never AMX, and the
installed build is the one for this machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "llama_build.py"

BASE = "fpu sse sse2 ssse3 sse4_1 sse4_2 popcnt"
CPUS = {
    # AMD EPYC (Zen 4): AVX-512 with VBMI, VNNI and BF16; no AMX, no AVX-VNNI.
    "zen4": f"{BASE} avx f16c fma bmi2 avx2 avx512f avx512dq avx512cd avx512bw avx512vl "
    "avx512vbmi avx512_vnni avx512_bf16 avx512_vbmi2",
    # Intel Sapphire Rapids: AMX too (the path that crashed here) and AVX-VNNI.
    "sapphire-rapids": f"{BASE} avx f16c fma bmi2 avx2 avx_vnni avx512f avx512dq avx512cd "
    "avx512bw avx512vl avx512vbmi avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8",
    # Intel Haswell: AVX2, no AVX-512.
    "haswell": f"{BASE} avx f16c fma bmi2 avx2",
    # Intel Skylake-X without VBMI, VNNI or BF16.
    "skylake-x": f"{BASE} avx f16c fma bmi2 avx2 avx512f avx512dq avx512cd avx512bw avx512vl",
    # Intel Sandy Bridge: AVX only.
    "sandy-bridge": f"{BASE} avx",
}


def run(
    *args: str, cpuinfo: str | None = None, tmp: Path | None = None
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(SCRIPT), *args]
    if cpuinfo is not None and tmp is not None:
        path = tmp / "cpuinfo"
        path.write_text(cpuinfo)
        command += ["--cpuinfo", str(path)]
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp)} if tmp is not None else None
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, env=env
    )


def cpuinfo(flags: str) -> str:
    return f"processor\t: 0\nvendor_id\t: X\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n"


def options(cpu: str, tmp: Path) -> dict[str, str]:
    done = run("cmake-args", cpuinfo=cpuinfo(CPUS[cpu]), tmp=tmp)
    assert done.returncode == 0, done.stderr
    pairs = [arg.removeprefix("-D").split("=") for arg in done.stdout.split()]
    return {name: state for name, state in pairs}


AVX512_FAMILY = ("GGML_AVX512", "GGML_AVX512_VBMI", "GGML_AVX512_VNNI", "GGML_AVX512_BF16")
NEVER = ("GGML_NATIVE", "GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16")


@pytest.mark.parametrize("cpu", sorted(CPUS))
def test_native_and_amx_are_always_off(cpu: str, tmp_path: Path) -> None:
    named = options(cpu, tmp_path)
    assert all(named[name] == "OFF" for name in NEVER), named


def test_zen4_gets_the_avx512_family(tmp_path: Path) -> None:
    named = options("zen4", tmp_path)
    assert all(named[name] == "ON" for name in AVX512_FAMILY)
    assert named["GGML_AVX2"] == named["GGML_FMA"] == named["GGML_F16C"] == "ON"
    assert named["GGML_AVX_VNNI"] == "OFF"


def test_sapphire_rapids_gets_avx512_and_avx_vnni_but_no_amx(tmp_path: Path) -> None:
    named = options("sapphire-rapids", tmp_path)
    assert all(named[name] == "ON" for name in (*AVX512_FAMILY, "GGML_AVX_VNNI"))


def test_haswell_gets_avx2_and_no_avx512(tmp_path: Path) -> None:
    named = options("haswell", tmp_path)
    assert named["GGML_AVX2"] == named["GGML_BMI2"] == "ON"
    assert all(named[name] == "OFF" for name in AVX512_FAMILY)


def test_avx512_extensions_follow_their_own_flags(tmp_path: Path) -> None:
    named = options("skylake-x", tmp_path)
    assert named["GGML_AVX512"] == "ON"
    assert all(named[name] == "OFF" for name in AVX512_FAMILY[1:])


def test_without_avx2_every_later_extension_is_named_off(tmp_path: Path) -> None:
    # llama.cpp turns AVX2, FMA, F16C and BMI2 on by default when GGML_NATIVE is off.
    named = options("sandy-bridge", tmp_path)
    assert named["GGML_AVX"] == "ON"
    assert all(named[n] == "OFF" for n in ("GGML_AVX2", "GGML_FMA", "GGML_F16C", "GGML_BMI2"))


def test_a_cpu_without_x86_flags_gets_every_x86_option_off(tmp_path: Path) -> None:
    done = run("cmake-args", cpuinfo="processor\t: 0\nFeatures\t: fp asimd\n", tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "=ON" not in done.stdout


def test_the_wheel_directory_is_keyed_by_version_and_flags(tmp_path: Path) -> None:
    dirs = {}
    for cpu in ("zen4", "haswell", "sapphire-rapids"):
        done = run("wheel-dir", cpuinfo=cpuinfo(CPUS[cpu]), tmp=tmp_path)
        assert done.returncode == 0, done.stderr
        dirs[cpu] = Path(done.stdout.strip())
    version = run("version").stdout.strip()
    assert len(set(dirs.values())) == 3
    for path in dirs.values():
        assert path.parent == tmp_path / "agentlab" / "wheels"
        assert path.name.startswith(f"{version}-")
    again = run("wheel-dir", cpuinfo=cpuinfo(CPUS["zen4"]), tmp=tmp_path).stdout.strip()
    assert Path(again) == dirs["zen4"]


def test_the_installed_llama_cpp_is_built_for_this_cpu() -> None:
    done = run("check")
    assert done.returncode == 0, done.stderr


def test_a_build_for_another_cpu_is_refused(tmp_path: Path) -> None:
    # This machine's build, judged for a CPU with a different set of extensions.
    here = run("cmake-args").stdout
    other = "sandy-bridge" if "GGML_AVX2=ON" in here else "zen4"
    done = run("check", cpuinfo=cpuinfo(CPUS[other]), tmp=tmp_path)
    assert done.returncode == 1
    assert "this CPU wants" in done.stderr
