"""agentlab's environment settings, in one place: every `AGENTLAB_*` variable is read here.

Read when asked, never cached at import: a test that sets a variable with
`monkeypatch`, or a process that changes its environment, is seen at the next
call. An empty or blank value counts as unset.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "AGENTLAB_HOME"
MODEL_ENV = "AGENTLAB_MODEL"
DB_ENV = "AGENTLAB_DB"
USER_ENV = "AGENTLAB_USER"
TOOLS_ENV = "AGENTLAB_TOOLS"
EMBEDDER_ENV = "AGENTLAB_EMBEDDER"
MODELS_DIR_ENV = "AGENTLAB_MODELS_DIR"
SANDBOX_IMAGE_ENV = "AGENTLAB_SANDBOX_IMAGE"
DEBIAN_MIRROR_ENV = "AGENTLAB_DEBIAN_MIRROR"
CORPUS_ENV = "AGENTLAB_CORPUS"

DEFAULT_HOME = Path(".agentlab")


@dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    """The `AGENTLAB_*` variables of the environment, typed (None: unset)."""

    home: Path
    """`AGENTLAB_HOME`: runs, threads, memories, caches and models live here (`./.agentlab`)."""
    model: str | None
    """`AGENTLAB_MODEL`: the model spec used when none is given."""
    db: str | None
    """`AGENTLAB_DB`: a `postgresql://` URL for threads and memories (SQLite files when unset)."""
    user: str | None
    """`AGENTLAB_USER`: whose long-term memories the CLI reads and writes."""
    tools: tuple[str, ...]
    """`AGENTLAB_TOOLS`: custom tools for every CLI run, `module:attr` separated by commas."""
    embedder: str | None
    """`AGENTLAB_EMBEDDER`: `minilm` or `lexical` (the best installed one when unset)."""
    models_dir: Path
    """`AGENTLAB_MODELS_DIR`: where joined model weights are cached, once per user
    (`$XDG_CACHE_HOME/agentlab/models`, else `~/.cache/agentlab/models`)."""
    sandbox_image: str | None
    """`AGENTLAB_SANDBOX_IMAGE`: run this image tag instead of the one built from the sources."""
    debian_mirror: str | None
    """`AGENTLAB_DEBIAN_MIRROR`: the Debian archive `sandbox build --offline` bootstraps from."""
    corpus: tuple[Path, ...]
    """`AGENTLAB_CORPUS`: the folders of documents the local `search` backend reads when an
    agent names none, separated by `os.pathsep` (`:`; `;` on Windows); relative to the
    working directory."""

    @property
    def runs_dir(self) -> Path:
        """Where run traces go: `home/runs`."""
        return self.home / "runs"


def current(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings `environ` (default: this process's environment) holds now."""
    env = os.environ if environ is None else environ

    def value(name: str) -> str | None:
        text = env.get(name, "").strip()
        return text or None

    home = Path(value(HOME_ENV) or DEFAULT_HOME)
    models_dir = value(MODELS_DIR_ENV)
    xdg = value("XDG_CACHE_HOME")
    # The XDG spec: a relative path is invalid and is ignored.
    cache = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return Settings(
        home=home,
        model=value(MODEL_ENV),
        db=value(DB_ENV),
        user=value(USER_ENV),
        tools=tuple(s.strip() for s in (value(TOOLS_ENV) or "").split(",") if s.strip()),
        embedder=value(EMBEDDER_ENV),
        models_dir=Path(models_dir).expanduser() if models_dir else cache / "agentlab" / "models",
        sandbox_image=value(SANDBOX_IMAGE_ENV),
        debian_mirror=value(DEBIAN_MIRROR_ENV),
        corpus=tuple(
            Path(part.strip()).expanduser()
            for part in (value(CORPUS_ENV) or "").split(os.pathsep)
            if part.strip()
        ),
    )


def home() -> Path:
    """`AGENTLAB_HOME`, else `./.agentlab`."""
    return current().home


def runs_dir() -> Path:
    """Where run traces go by default: `AGENTLAB_HOME/runs`."""
    return current().runs_dir


def span_exporters(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The OpenTelemetry exporters the environment asks for: `otlp` when
    `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set or
    `OTEL_TRACES_EXPORTER` names it, `console` when that names it; none when
    `OTEL_SDK_DISABLED` is true or `OTEL_TRACES_EXPORTER` is `none`. The standard
    OpenTelemetry variables, so an app's existing setup applies to agentlab's spans."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return ()
    named = [n.strip().lower() for n in env.get("OTEL_TRACES_EXPORTER", "").split(",")]
    if "none" in named:
        return ()
    endpoint = any(
        env.get(n, "").strip()
        for n in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )
    wanted = []
    if "otlp" in named or endpoint:
        wanted.append("otlp")
    if "console" in named:
        wanted.append("console")
    return tuple(wanted)
