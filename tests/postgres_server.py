"""A throwaway PostgreSQL cluster for tests: initdb in a temp dir, a loopback port, stopped
at the end. Run as the `postgres` user when the tests run as root (initdb refuses root).

`AGENTLAB_TEST_PG=postgresql://...` points the tests at a server of your own instead; each
test still gets a database of its own there.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg

EXTERNAL_ENV = "AGENTLAB_TEST_PG"
SUPERUSER = "agentlab"
PREFIX = "agentlab-pg-"
OWNER_FILE = "owner.pid"
"""The pid of the test session that started the cluster, for `_stop_orphans`."""
INSTALL_HINT = "PostgreSQL is not installed: run scripts/ensure_postgres.sh (make test does)"


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError(INSTALL_HINT)
    return Path(initdb).resolve().parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """A running cluster (or an external server); `database()` makes a fresh database."""

    def __init__(self) -> None:
        self.external = os.environ.get(EXTERNAL_ENV, "").strip() or None
        self.folder: Path | None = None
        self.port = 0
        if self.external is None:
            self._start()

    def _start(self) -> None:
        pg = _bin_dir()
        _stop_orphans(pg)
        self.folder = Path(tempfile.mkdtemp(prefix=PREFIX))
        (self.folder / OWNER_FILE).write_text(str(os.getpid()))
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        data = self.folder / "data"
        self.port = _free_port()
        run = {"check": True, "capture_output": True, "stdin": subprocess.DEVNULL, "timeout": 120}
        subprocess.run(
            _as_owner(pg / "initdb", "-D", data, "-U", SUPERUSER, "-A", "trust",
                      "-E", "UTF8", "--locale=C", "--no-sync"),
            **run,
        )  # fmt: skip
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c max_connections=200"
        )
        subprocess.run(
            _as_owner(pg / "pg_ctl", "-D", data, "-o", options,
                      "-l", self.folder / "server.log", "-w", "-t", "60", "start"),
            **run,
        )  # fmt: skip

    @property
    def admin_url(self) -> str:
        if self.external is not None:
            return self.external
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def database(self) -> str:
        """The URL of a new, empty database."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        base = self.admin_url.rsplit("/", 1)[0]
        return f"{base}/{name}"

    def stop(self) -> None:
        if self.folder is None:
            return
        _stop_cluster(_bin_dir(), self.folder)
        self.folder = None


def _as_owner(*args: str | Path) -> list[str]:
    """The command, run as `postgres` when we are root (initdb and pg_ctl refuse root)."""
    command = [str(a) for a in args]
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def _stop_cluster(pg: Path, folder: Path) -> None:
    subprocess.run(
        _as_owner(pg / "pg_ctl", "-D", folder / "data", "-m", "immediate", "-w", "stop"),
        capture_output=True, stdin=subprocess.DEVNULL, timeout=60, check=False,
    )  # fmt: skip
    shutil.rmtree(folder, ignore_errors=True)


def _stop_orphans(pg: Path) -> None:
    """Stop clusters left by test sessions that were killed before their teardown."""
    for folder in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            owner = int((folder / OWNER_FILE).read_text())
            os.kill(owner, 0)
        except (OSError, ValueError):
            _stop_cluster(pg, folder)
