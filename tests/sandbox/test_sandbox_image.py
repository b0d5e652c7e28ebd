"""The image: hashed tag from the packaged build inputs, skipped rebuilds, wheel installs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import docker
import pytest

from agentlab.sandbox import build_image, image_tag
from agentlab.sandbox.image import LABEL_INPUTS, build_inputs, inputs_hash

ROOT = Path(__file__).resolve().parents[2]


def test_tag_hashes_the_packaged_build_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTLAB_SANDBOX_IMAGE", raising=False)
    inputs = build_inputs()
    assert inputs["Dockerfile"] == (ROOT / "sandbox" / "Dockerfile").read_bytes()
    assert inputs["kernel.py"] == (ROOT / "sandbox" / "kernel.py").read_bytes()
    assert b"ARG BASE=python:3.12-slim" in inputs["Dockerfile"]
    assert image_tag() == f"agentlab-sandbox:{inputs_hash()}"
    assert len(inputs_hash()) == 12


def test_inputs_are_read_from_an_installed_wheel(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    [wheel] = tmp_path.glob("agentlab-*.whl")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = "import agentlab.sandbox.image as i; print(i.__file__); print(i.inputs_hash())"
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True,
        text=True, check=True, timeout=60,
    ).stdout.split()  # fmt: skip
    assert out[0].startswith(str(site))  # imported from the wheel, not the repository
    assert out[1] == inputs_hash()


@pytest.mark.docker
def test_build_is_skipped_when_the_image_exists(docker_client: docker.DockerClient) -> None:
    started = time.monotonic()
    result = build_image(docker_client, offline=True)
    assert result.built is False and result.tag == image_tag()
    assert time.monotonic() - started < 10
    image = docker_client.images.get(image_tag())
    assert image.labels[LABEL_INPUTS] == inputs_hash()
