"""Claims on eval pairs, so that evaluators sharing a study never run a pair twice.

An evaluator runs a pair only after claiming it, and holds the claim while the
run goes on, renewing it (a heartbeat) at a quarter of the lease. A claim ends
`done` (the pair was graded pass or fail: nobody runs it again) or `released`
(interrupted, or the check could not run: the next evaluator may claim it). A
claim whose holder stopped renewing for a whole lease, or whose holder is a
process of this host that no longer exists (kill -9), is stale and may be
taken over. Taking over bumps the claim's generation, which only one evaluator
can do, so two evaluators that find the same stale claim never both run.

Two stores: `FileClaims`, files beside the traces (one per pair and
generation, written whole and hard-linked into place, which fails on an existing
name atomically on local disks and on NFS v3+, as O_EXCL does),
for evaluators on one machine or on machines that mount one output folder; and
`PostgresClaims`, one row per pair in a table that several machines share,
which also records finished pairs, so an evaluation resumes from it on any
machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from agentlab.errors import ConfigError
from agentlab.private_files import FILE_MODE, private_dir
from agentlab.trace import read_ends

ClaimState = Literal["running", "done", "released"]
PairKey = tuple[str, str]
"""(task id, variant)."""

DEFAULT_LEASE_S = 60.0
CLAIMS_DIR = "claims"
TABLE = "agentlab_eval_claims"


def new_owner() -> str:
    """Who holds a claim: `host:pid:nonce` (the pid lets this host spot a dead holder)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_is_dead(owner: str) -> bool:
    """True when `owner` is a process of this host that no longer runs."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


@dataclass(frozen=True, slots=True)
class Claim:
    """A pair this evaluator holds."""

    key: PairKey
    generation: int


class ClaimStore(Protocol):
    """Where evaluators sharing a study claim its pairs."""

    lease_s: float

    def claim(self, key: PairKey) -> Claim | None:
        """Claim the pair; None when another evaluator holds it or finished it."""
        ...

    def renew(self, claims: Iterable[Claim]) -> None:
        """Heartbeat: the claims are still being worked on."""
        ...

    def end(self, claim: Claim, *, done: bool, trace: str | None) -> None:
        """Mark the claim `done` (graded pass/fail) or `released` (anyone may run it again)."""
        ...

    def finished(self) -> set[PairKey]:
        """Pairs this store knows to be done (beyond the traces in the output folder)."""
        ...

    def close(self) -> None: ...


def graded(trace: Path) -> bool:
    """Does the trace end with a pass or fail verdict?"""
    if not trace.is_file():
        return False
    _, footer = read_ends(trace)
    return (
        footer is not None
        and footer.verdict is not None
        and footer.verdict.outcome
        in (
            "pass",
            "fail",
        )
    )


class FileClaims:
    """Claims as files in `out_dir/claims/`: `<hash of the pair>.<generation>`, JSON inside.

    The newest generation is the claim; its mtime is its heartbeat. The file's
    content (holder, state, trace) is replaced atomically (`os.replace`).
    """

    def __init__(self, out_dir: Path, *, lease_s: float = DEFAULT_LEASE_S) -> None:
        self.out_dir = out_dir
        self.folder = out_dir / CLAIMS_DIR
        self.lease_s = lease_s
        self.owner = new_owner()

    def _path(self, key: PairKey, generation: int) -> Path:
        digest = hashlib.sha256(f"{key[1]}\0{key[0]}".encode()).hexdigest()[:32]
        return self.folder / f"{digest}.{generation}"

    def _newest(self, key: PairKey) -> int | None:
        if not self._path(key, 0).exists():
            return None
        generation = 0
        while self._path(key, generation + 1).exists():
            generation += 1
        return generation

    def claim(self, key: PairKey) -> Claim | None:
        private_dir(self.folder)
        newest = self._newest(key)
        if newest is not None and not self._free(self._path(key, newest)):
            return None
        generation = 0 if newest is None else newest + 1
        path = self._path(key, generation)
        # Written whole, then linked into place: link(2) fails if the name exists, as
        # O_EXCL does, and a holder killed at any instant leaves either no claim or a
        # complete one (whose dead owner frees it at once), never an empty file that
        # keeps its pair from running for a whole lease.
        scratch = self._scratch(path, self._content(key, "running", None))
        try:
            os.link(scratch, path)
        except FileExistsError:  # another evaluator claimed it first
            return None
        finally:
            scratch.unlink()
        return Claim(key, generation)

    @staticmethod
    def _scratch(path: Path, content: str) -> Path:
        """A private file beside `path` holding `content` (its name starts with a dot)."""
        scratch = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        return scratch

    def _free(self, path: Path) -> bool:
        """May the claim in `path` be taken over?"""
        try:
            age = time.time() - path.stat().st_mtime
            info: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return True
        except (ValueError, UnicodeDecodeError):
            # An empty or cut claim (written by an older agentlab, which created the
            # file before writing it): only the lease tells whether its holder lives.
            return age > self.lease_s
        state = info.get("state")
        if state == "released":
            return True
        if state == "done":
            # Done for as long as its trace says so: a deleted or cut trace re-runs the pair.
            trace = info.get("trace")
            return not (isinstance(trace, str) and graded(self.out_dir / Path(trace).name))
        return age > self.lease_s or holder_is_dead(str(info.get("owner", "")))

    def _content(self, key: PairKey, state: ClaimState, trace: str | None) -> str:
        return json.dumps(
            {"task_id": key[0], "variant": key[1], "owner": self.owner, "state": state,
             "trace": trace}
        )  # fmt: skip

    def renew(self, claims: Iterable[Claim]) -> None:
        for claim in claims:
            with contextlib.suppress(FileNotFoundError):
                os.utime(self._path(claim.key, claim.generation))

    def end(self, claim: Claim, *, done: bool, trace: str | None) -> None:
        path = self._path(claim.key, claim.generation)
        name = Path(trace).name if trace else None
        content = self._content(claim.key, "done" if done else "released", name)
        os.replace(self._scratch(path, content), path)

    def finished(self) -> set[PairKey]:
        return set()  # the traces in the output folder say which pairs are finished

    def close(self) -> None:
        pass


class PostgresClaims:
    """Claims as rows of `agentlab_eval_claims`, one per (study, task, variant).

    Claiming is one `INSERT ... ON CONFLICT DO UPDATE ... WHERE <free>`: the row
    lock makes it atomic, and the generation counts takeovers. Heartbeats are the
    server's clock (`now()`), so machines' clocks need not agree.
    """

    def __init__(self, url: str, study: str, *, lease_s: float = DEFAULT_LEASE_S) -> None:
        try:
            import psycopg
        except ImportError:
            raise ConfigError(
                "Postgres claims need the postgres extra: pip install 'agentlab[postgres]'"
            ) from None
        self.study = study
        self.lease_s = lease_s
        self.owner = new_owner()
        self._lock = threading.Lock()  # the heartbeat thread shares the connection
        try:
            self._db = psycopg.connect(url, autocommit=True)
        except psycopg.Error as exc:
            raise ConfigError(f"cannot reach the claims database: {exc}") from None
        # Concurrent `CREATE TABLE IF NOT EXISTS` races on the catalogue (the loser
        # gets DuplicateObject), so evaluators starting together take turns.
        with self._lock, self._db.transaction():
            self._db.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (TABLE,))
            self._db.execute(
                f"""CREATE TABLE IF NOT EXISTS {TABLE} (
                    study text NOT NULL, task_id text NOT NULL, variant text NOT NULL,
                    owner text NOT NULL, state text NOT NULL, generation integer NOT NULL,
                    heartbeat timestamptz NOT NULL DEFAULT now(), outcome text, trace text,
                    PRIMARY KEY (study, task_id, variant))"""
            )

    def claim(self, key: PairKey) -> Claim | None:
        with self._lock:
            row = self._db.execute(
                f"""INSERT INTO {TABLE} AS c (study, task_id, variant, owner, state, generation)
                VALUES (%s, %s, %s, %s, 'running', 0)
                ON CONFLICT (study, task_id, variant) DO UPDATE
                SET owner = excluded.owner, state = 'running', generation = c.generation + 1,
                    heartbeat = now(), outcome = NULL, trace = NULL
                WHERE c.state = 'released'
                   OR (c.state = 'running' AND c.heartbeat < now() - make_interval(secs => %s))
                RETURNING generation""",
                (self.study, key[0], key[1], self.owner, self.lease_s),
            ).fetchone()
            if row is not None:
                return Claim(key, int(row[0]))
            holder = self._db.execute(
                f"SELECT owner, generation FROM {TABLE} "
                "WHERE study = %s AND task_id = %s AND variant = %s AND state = 'running'",
                (self.study, key[0], key[1]),
            ).fetchone()
            if holder is None or not holder_is_dead(str(holder[0])):
                return None
            taken = self._db.execute(
                f"""UPDATE {TABLE} SET owner = %s, generation = generation + 1, heartbeat = now()
                WHERE study = %s AND task_id = %s AND variant = %s AND state = 'running'
                  AND owner = %s AND generation = %s
                RETURNING generation""",
                (self.owner, self.study, key[0], key[1], holder[0], holder[1]),
            ).fetchone()
        return Claim(key, int(taken[0])) if taken is not None else None

    def renew(self, claims: Iterable[Claim]) -> None:
        if not list(claims):
            return
        with self._lock:
            self._db.execute(
                f"UPDATE {TABLE} SET heartbeat = now() "
                "WHERE study = %s AND owner = %s AND state = 'running'",
                (self.study, self.owner),
            )

    def end(self, claim: Claim, *, done: bool, trace: str | None) -> None:
        with self._lock:
            self._db.execute(
                f"""UPDATE {TABLE} SET state = %s, trace = %s, heartbeat = now()
                WHERE study = %s AND task_id = %s AND variant = %s AND owner = %s
                  AND generation = %s""",
                ("done" if done else "released", trace, self.study, *claim.key, self.owner,
                 claim.generation),
            )  # fmt: skip

    def finished(self) -> set[PairKey]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT task_id, variant FROM {TABLE} WHERE study = %s AND state = 'done'",
                (self.study,),
            ).fetchall()
        return {(str(task), str(variant)) for task, variant in rows}

    def close(self) -> None:
        with self._lock:
            self._db.close()


class Heartbeat:
    """Renews the claims in flight every quarter lease, on a daemon thread, until closed."""

    def __init__(self, store: ClaimStore) -> None:
        self.store = store
        self.claims: set[Claim] = set()
        self._stop = threading.Event()
        self._guard = threading.Lock()
        self._thread = threading.Thread(target=self._beat, name="agentlab-claims", daemon=True)
        self._thread.start()

    def hold(self, claim: Claim) -> None:
        with self._guard:
            self.claims.add(claim)

    def drop(self, claim: Claim) -> None:
        with self._guard:
            self.claims.discard(claim)

    def _beat(self) -> None:
        while not self._stop.wait(self.store.lease_s / 4):
            with self._guard:
                held = list(self.claims)
            with contextlib.suppress(Exception):  # a missed beat is retried; the lease is 4x
                self.store.renew(held)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
