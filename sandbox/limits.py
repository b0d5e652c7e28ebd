"""`SandboxLimits`: every restriction a sandbox container runs under, all on by default."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024

SANDBOX_UID = 10001
"""The unprivileged user the kernel runs as (created in the Dockerfile)."""

WORK_DIR = "/work"
"""The kernel's working directory; files written under it come back as artifacts."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SandboxLimits:
    """Resource and isolation limits of one sandbox container.

    The defaults are the hardened configuration; loosen one field at a time and on
    purpose (for example `network=True` for a task that must download data).
    """

    memory_bytes: int = 512 * MIB
    """Memory of the whole container, tmpfs contents included; swap is not allowed on top."""

    cpus: float = 1.0
    """CPU quota in cores (CFS quota), so one runaway loop cannot take the host's cores."""

    pids: int = 128
    """Maximum processes and threads in the container; a fork bomb stops here."""

    work_dir_bytes: int = 64 * MIB
    """Size cap of the tmpfs work dir (the only writable place besides /tmp)."""

    tmp_bytes: int = 64 * MIB
    """Size cap of the tmpfs /tmp."""

    shm_bytes: int = 16 * MIB
    """Size of /dev/shm (multiprocessing needs a little)."""

    nofile: int = 1024
    """Open file descriptors per process."""

    network: bool = False
    """False runs the container with `network_mode="none"`: only a loopback interface."""

    read_only_root: bool = True
    """Mount the image's filesystem read-only; only the tmpfs mounts are writable."""

    output_bytes: int = 1 * MIB
    """Per run and stream: stdout/stderr past this is dropped (with a marker) and the run
    is stopped as an output-limit failure."""

    file_bytes: int = 16 * MIB
    """Per run: total size of changed work-dir files returned as artifacts; larger files
    are listed but their bytes are not sent back."""

    restart_grace_s: float = 15.0
    """Seconds past a run's timeout the host waits for the kernel before replacing the
    whole container (the kernel restarts itself well within this)."""
