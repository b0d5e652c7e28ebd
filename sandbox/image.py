"""The sandbox image: its build inputs, their hash tag, and the online and offline builds.

The tag is `agentlab-sandbox:<hash>` where the hash covers every build input (the
Dockerfile, the kernel and its judge, the offline base recipe), so a build is
skipped when an image of the same inputs exists and a changed kernel can never
run on a stale image. The inputs are read with importlib.resources, so this works from an
installed wheel as well as from the repository.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, BuildError, ImageNotFound

from agentlab import settings
from agentlab.errors import AgentlabError

IMAGE_REPO = "agentlab-sandbox"
BASE_REPO = "agentlab-sandbox-base"
ONLINE_BASE = "python:3.12-slim"
BUILD_INPUTS = ("Dockerfile", "kernel.py", "judge.py")

DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
"""Plain http on purpose: the archive is signed, and HTTPS fails verification here."""
DEBIAN_INCLUDE = ("python3",)
"""The offline base is minimal; the Dockerfile adds the libraries from Debian's archive."""
# Docs, manuals, translations and the downloaded .debs are dead weight in a sandbox.
TRIM_PATHS = (
    "var/cache/apt/archives",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
)

LABEL_INPUTS = "agentlab.sandbox.inputs"
LABEL_BASE = "agentlab.sandbox.base"

Log = Callable[[str], None]


class SandboxBuildError(AgentlabError):
    """The sandbox image could not be built; the message says which step failed and why."""


@dataclass(frozen=True, slots=True)
class BuildResult:
    """What `build_image` did."""

    tag: str
    built: bool
    """False when an image with the same inputs existed and the build was skipped."""
    base: str
    seconds: float


def build_inputs() -> dict[str, bytes]:
    """The files the image is built from, as shipped inside the package."""
    package = resources.files("agentlab.sandbox")
    return {name: package.joinpath(name).read_bytes() for name in BUILD_INPUTS}


def _offline_recipe() -> bytes:
    return f"{DEBIAN_SUITE}|{DEBIAN_MIRROR}|{','.join(DEBIAN_INCLUDE)}".encode()


def inputs_hash() -> str:
    """A short hash of every build input."""
    digest = hashlib.sha256()
    for name, data in sorted(build_inputs().items()):
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    digest.update(_offline_recipe())
    return digest.hexdigest()[:12]


def image_tag() -> str:
    """The tag of the image for the current build inputs; AGENTLAB_SANDBOX_IMAGE overrides."""
    return settings.current().sandbox_image or f"{IMAGE_REPO}:{inputs_hash()}"


def offline_base_tag() -> str:
    recipe = hashlib.sha256(_offline_recipe()).hexdigest()[:12]
    return f"{BASE_REPO}:{DEBIAN_SUITE}-{recipe}"


def image_exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
    except ImageNotFound:
        return False
    return True


def build_image(
    client: docker.DockerClient,
    *,
    offline: bool = False,
    base: str | None = None,
    force: bool = False,
    log: Log = lambda _: None,
) -> BuildResult:
    """Build the sandbox image unless one with the same inputs exists.

    `offline` builds on a Debian base made with debootstrap (no image registry
    needed); otherwise on `base` (default python:3.12-slim), pulled if missing.
    """
    started = time.monotonic()
    tag = image_tag()
    if not force and image_exists(client, tag):
        log(f"{tag} is up to date")
        return BuildResult(tag, built=False, base="", seconds=time.monotonic() - started)
    if offline:
        base = build_offline_base(client, log=log)
    base = base or ONLINE_BASE
    if not image_exists(client, base) and not offline:
        _pull(client, base, log)
    with tempfile.TemporaryDirectory(prefix="agentlab-sandbox-build-") as context:
        for name, data in build_inputs().items():
            Path(context, name).write_bytes(data)
        log(f"building {tag} on {base}")
        _docker_build(client, context, tag, base, log)
    return BuildResult(tag, built=True, base=base, seconds=time.monotonic() - started)


def _pull(client: docker.DockerClient, base: str, log: Log) -> None:
    log(f"pulling {base}")
    try:
        client.images.pull(base)
    except APIError as exc:
        raise SandboxBuildError(
            f"cannot pull the base image {base}: {exc.explanation or exc}. Without a "
            "registry, build offline: `agentlab sandbox build --offline`"
        ) from exc


def _docker_build(client: docker.DockerClient, context: str, tag: str, base: str, log: Log) -> None:
    api = client.api
    saved_timeout = api.timeout
    api.timeout = 1800  # a build step (apt, pip) may print nothing for minutes
    try:
        stream: Iterator[dict[str, Any]] = api.build(
            path=context,
            tag=tag,
            buildargs={"BASE": base},
            labels={LABEL_INPUTS: inputs_hash(), LABEL_BASE: base},
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
        )
        for chunk in stream:
            if "error" in chunk:
                raise SandboxBuildError(f"docker build of {tag} failed: {chunk['error'].strip()}")
            text = str(chunk.get("stream", "")).rstrip()
            if text:
                log(text)
    except (APIError, BuildError) as exc:
        raise SandboxBuildError(f"docker build of {tag} failed: {exc}") from exc
    finally:
        api.timeout = saved_timeout


def build_offline_base(client: docker.DockerClient, *, log: Log = lambda _: None) -> str:
    """A minimal Debian with python3, bootstrapped from Debian's archive and imported.

    No image registry is involved: debootstrap fetches .debs over http, `docker
    import` turns the tree into an image. Skipped when the tag exists.
    """
    tag = offline_base_tag()
    if image_exists(client, tag):
        log(f"offline base {tag} is present")
        return tag
    _require_debootstrap()
    mirror = settings.current().debian_mirror or DEBIAN_MIRROR
    with tempfile.TemporaryDirectory(prefix="agentlab-debootstrap-") as tmp:
        root = Path(tmp, "root")
        log(f"debootstrap {DEBIAN_SUITE} from {mirror} (about a minute)")
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(DEBIAN_INCLUDE)}",
                DEBIAN_SUITE,
                str(root),
                mirror,
            ],
            "debootstrap",
        )
        _trim(root)
        # apt inside the image must use the same (http) mirror.
        Path(root, "etc/apt/sources.list").write_text(f"deb {mirror} {DEBIAN_SUITE} main\n")
        archive = Path(tmp, "root.tar")
        _run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(archive), "."], "tar")
        log(f"importing the tree as {tag}")
        repository, _, version = tag.partition(":")
        try:
            client.api.import_image_from_file(
                str(archive),
                repository=repository,
                tag=version,
                changes=[
                    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "ENV LANG=C.UTF-8",
                    'CMD ["python3"]',
                ],
            )
        except APIError as exc:
            raise SandboxBuildError(f"docker import of the offline base failed: {exc}") from exc
    if not image_exists(client, tag):
        raise SandboxBuildError(f"docker import reported success but {tag} does not exist")
    return tag


def _require_debootstrap() -> None:
    if shutil.which("debootstrap") is None:
        raise SandboxBuildError(
            "the offline build needs debootstrap: `apt-get install debootstrap` "
            "(scripts/ensure_docker.sh installs it)"
        )
    if os.geteuid() != 0:
        raise SandboxBuildError("the offline build runs debootstrap, which needs root")


def _trim(root: Path) -> None:
    for rel in TRIM_PATHS:
        path = root / rel
        if path.is_dir():
            shutil.rmtree(path)
            path.mkdir(parents=True)
    # apt expects these directories to exist.
    for rel in ("var/lib/apt/lists/partial", "var/cache/apt/archives/partial"):
        Path(root, rel).mkdir(parents=True, exist_ok=True)


def _run(argv: list[str], what: str) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        raise SandboxBuildError(f"{what} failed (exit {proc.returncode}):\n" + "\n".join(tail))


def remove_stale_images(client: docker.DockerClient, *, log: Log = lambda _: None) -> list[str]:
    """Remove sandbox images built from other inputs than the current ones."""
    current = image_tag()
    removed = []
    for image in client.images.list(name=IMAGE_REPO):
        tags = [t for t in image.tags if t != current]
        if tags and current not in image.tags:
            for t in tags:
                try:
                    client.images.remove(t)
                    removed.append(t)
                    log(f"removed {t}")
                except APIError as exc:
                    log(f"kept {t}: {exc.explanation or exc}")
    return removed
