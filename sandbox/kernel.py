"""The sandbox kernel: runs INSIDE the container, never on the host.

Two processes, so that a run can be stopped without losing the channel to the host:

* the supervisor (this file run as a script) answers framed JSON requests on
  stdin/stdout: `ping`, `run`, `files`. It drains the worker's stdout/stderr with
  a cap, enforces each run's timeout, kills every other process of the container
  after a timeout, reads the cgroup's OOM and pids counters to name the limit a
  run hit, and returns the files the run changed under the work dir;
* the worker (`kernel.py --worker`) keeps one namespace alive across runs and
  executes code in it, notebook style: the last expression's repr comes back.

Frames are a 4-byte big-endian length and UTF-8 JSON. The host side of this
protocol is `agentlab.sandbox.channel`; it is duplicated there on purpose, since
this file is copied alone into the image and imports nothing but the stdlib. It
must run on the image's Python (3.11 on the offline Debian base, 3.12 online).
"""

from __future__ import annotations

import ast
import base64
import builtins
import contextlib
import errno
import json
import linecache
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import time
import traceback
from types import TracebackType
from typing import Any

WORK_DIR = "/work"
MPL_CACHE_SRC = "/opt/agentlab/mpl"
MPL_CACHE_DST = "/tmp/matplotlib"

HEADER = struct.Struct(">I")
MAX_FRAME = 256 * 1024 * 1024
READ_CHUNK = 65536
RESULT_REPR_CHARS = 10_000
TRACEBACK_CHARS = 6_000
TRACEBACK_FRAMES = 12
MAX_LISTED_FILES = 2_000
SENTINEL_WAIT_S = 2.0
WORKER_START_S = 20.0
DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT)

# Run outcomes; the host maps them to failure categories.
OK = "ok"
ERROR = "error"
TIMEOUT = "timeout"
MEMORY_LIMIT = "memory_limit"
PIDS_LIMIT = "pids_limit"
OUTPUT_LIMIT = "output_limit"
DISK_LIMIT = "disk_limit"
CRASHED = "crashed"


# ----------------------------------------------------------------- framing


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def read_exact(fd: int, n: int) -> bytes | None:
    chunks = []
    while n:
        chunk = os.read(fd, n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def write_frame(fd: int, obj: dict[str, Any]) -> None:
    data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
    write_all(fd, HEADER.pack(len(data)) + data)


def read_frame(fd: int) -> dict[str, Any] | None:
    header = read_exact(fd, HEADER.size)
    if header is None:
        return None
    (size,) = HEADER.unpack(header)
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes is too large")
    body = read_exact(fd, size)
    return None if body is None else json.loads(body.decode("utf-8"))


def sentinel(run_id: int) -> bytes:
    """The marker the worker writes after a run, so the supervisor knows the run's
    output ended (subprocesses write to the same pipes, outside Python's view)."""
    return b"\x00\x1eagentlab-end-%d\x1e\x00" % run_id


# ----------------------------------------------------------------- worker


class OutputLimitExceeded(BaseException):
    """Raised inside user code when it writes past the per-run output limit.

    A BaseException, so that `except Exception` in user code does not swallow it.
    """


class _Sink:
    """Unbuffered byte writer to a pipe the supervisor drains, counting against a limit."""

    def __init__(self, fd: int, name: str) -> None:
        self.fd = fd
        self.name = name
        self.limit = 1 << 20
        self.written = 0
        self.exceeded = False

    def reset(self, limit: int) -> None:
        self.limit = limit
        self.written = 0
        self.exceeded = False

    def write(self, data: bytes) -> int:
        room = self.limit - self.written
        if self.exceeded or len(data) > room:
            self.exceeded = True
            if room > 0:
                write_all(self.fd, bytes(data[:room]))
                self.written += room
            raise OutputLimitExceeded(
                f"more than {self.limit:,} bytes written to {self.name} in one run"
            )
        write_all(self.fd, bytes(data))
        self.written += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd


class _TextSink:
    """What sys.stdout/sys.stderr are in the worker: text over a counting `_Sink`."""

    encoding = "utf-8"
    errors = "backslashreplace"
    closed = False
    line_buffering = False
    mode = "w"

    def __init__(self, sink: _Sink) -> None:
        self.buffer = sink

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self.buffer.write(text.encode("utf-8", "backslashreplace"))
        return len(text)

    def writelines(self, lines: list[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def fileno(self) -> int:
        return self.buffer.fd

    @property
    def name(self) -> str:
        return f"<{self.buffer.name}>"


def _user_frames(tb: TracebackType | None) -> TracebackType | None:
    """Drop the kernel's own frames from the front of a traceback."""
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return tb


def _format_error(exc: BaseException) -> dict[str, Any]:
    tb = _user_frames(exc.__traceback__)
    lines = traceback.format_exception(type(exc), exc, tb, limit=-TRACEBACK_FRAMES)
    text = "".join(lines)
    if len(text) > TRACEBACK_CHARS:
        text = "[... traceback truncated ...]\n" + text[-TRACEBACK_CHARS:]
    return {
        "type": type(exc).__name__,
        "message": str(exc)[:2000],
        "traceback": text,
    }


def _is_disk_full(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in DISK_ERRNOS:
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _capped_repr(value: object) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ must not fail the run
        text = f"<repr failed: {type(exc).__name__}: {exc}>"
    if len(text) > RESULT_REPR_CHARS:
        text = text[:RESULT_REPR_CHARS] + f"... [repr truncated, {len(text):,} chars]"
    return text


def reap_children() -> int:
    """Collect exited children (a fork bomb leaves zombies that hold pids slots)."""
    count = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return count
        if pid == 0:
            return count
        count += 1


class Worker:
    """One long-lived namespace; executes cells in it."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
        self.stdout = _Sink(1, "stdout")
        self.stderr = _Sink(2, "stderr")
        sys.stdout = _TextSink(self.stdout)
        sys.stderr = _TextSink(self.stderr)

    def execute(self, run_id: int, code: str, output_bytes: int) -> dict[str, Any]:
        self.stdout.reset(output_bytes)
        self.stderr.reset(output_bytes)
        filename = f"<cell {run_id}>"
        # Registered so tracebacks show the offending source line.
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        reply: dict[str, Any] = {"status": OK, "result": None, "error": None}
        try:
            tree = ast.parse(code, filename, "exec")
            last = None
            if tree.body and isinstance(tree.body[-1], ast.Expr):
                last = ast.Expression(tree.body[-1].value)
                tree.body.pop()
            exec(compile(tree, filename, "exec"), self.namespace)
            if last is not None:
                value = eval(compile(last, filename, "eval"), self.namespace)
                if value is not None:
                    self.namespace["_"] = value
                    reply["result"] = _capped_repr(value)
        except OutputLimitExceeded as exc:
            reply.update(status=OUTPUT_LIMIT, error=_format_error(exc))
        except BaseException as exc:  # SystemExit and KeyboardInterrupt too: the kernel lives on
            reply["error"] = _format_error(exc)
            if self.stdout.exceeded or self.stderr.exceeded:
                reply["status"] = OUTPUT_LIMIT
            elif _is_disk_full(exc):
                reply["status"] = DISK_LIMIT
            elif isinstance(exc, MemoryError):
                reply["status"] = MEMORY_LIMIT
            else:
                reply["status"] = ERROR
        if os.getpid() != self.pid:
            # A process forked by the user's code finished the cell: it must never
            # answer for the worker.
            os._exit(0)
        if reply["status"] == OK and (self.stdout.exceeded or self.stderr.exceeded):
            reply["status"] = OUTPUT_LIMIT  # the code caught OutputLimitExceeded itself
        return reply


def worker_main(req_fd: int, rep_fd: int) -> None:
    try:  # make the worker the OOM killer's first choice, never the supervisor
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass
    worker = Worker()
    write_frame(rep_fd, {"ready": True, "pid": worker.pid})
    while True:
        request = read_frame(req_fd)
        if request is None:
            return
        if request.get("op") == "reap":
            write_frame(rep_fd, {"reaped": reap_children()})
            continue
        run_id = int(request["id"])
        reply = worker.execute(run_id, request["code"], int(request["output_bytes"]))
        mark = sentinel(run_id)
        for fd in (1, 2):
            # If the code closed its own stdout, the supervisor waits briefly instead.
            with contextlib.suppress(OSError):
                write_all(fd, mark)
        write_frame(rep_fd, reply)


# ----------------------------------------------------------------- supervisor


class Capture:
    """One stream of a run: keeps the first `limit` bytes, counts the rest, and
    watches for the run's end sentinel."""

    def __init__(self, limit: int, mark: bytes) -> None:
        self.limit = limit
        self.mark = mark
        self.kept = bytearray()
        self.dropped = 0
        self.pending = b""
        self.done = False

    def feed(self, data: bytes) -> None:
        if self.done:
            return  # written after the run ended (a background thread): not this run's
        data = self.pending + data
        index = data.find(self.mark)
        if index >= 0:
            self._commit(data[:index])
            self.pending = b""
            self.done = True
            return
        keep = len(self.mark) - 1
        self._commit(data[:-keep] if len(data) > keep else b"")
        self.pending = data[-keep:] if len(data) > keep else data

    def finish(self) -> None:
        self._commit(self.pending)
        self.pending = b""

    def _commit(self, data: bytes) -> None:
        room = self.limit - len(self.kept)
        if room > 0:
            self.kept += data[:room]
        self.dropped += max(0, len(data) - max(room, 0))

    def text(self, name: str, stopped: bool) -> str:
        text = self.kept.decode("utf-8", "replace")
        if self.dropped:
            text += (
                f"\n[... {self.dropped:,} more bytes of {name} dropped: "
                f"the limit is {self.limit:,} bytes per run]"
            )
        elif stopped and len(self.kept) >= self.limit:
            text += f"\n[... {name} stopped at the limit of {self.limit:,} bytes per run]"
        return text


def _read_counter(paths: tuple[str, ...], key: str) -> int:
    """A counter from a cgroup events file (v1 or v2 layout); 0 when unreadable."""
    for path in paths:
        try:
            with open(path) as f:
                for line in f:
                    name, _, value = line.partition(" ")
                    if name == key:
                        return int(value)
        except (OSError, ValueError):
            continue
    return 0


def limit_counters() -> tuple[int, int]:
    """(OOM kills, forks refused at the pids limit) so far in this container's cgroup."""
    oom = _read_counter(
        ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"), "oom_kill"
    )
    pids = _read_counter(("/sys/fs/cgroup/pids.events", "/sys/fs/cgroup/pids/pids.events"), "max")
    return oom, pids


def scan_work_dir() -> dict[str, tuple[int, int]]:
    """Relative path -> (size, mtime_ns) of the regular files under the work dir."""
    found: dict[str, tuple[int, int]] = {}
    for root, dirs, files in os.walk(WORK_DIR):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if not os.path.isfile(path) or os.path.islink(path):
                continue
            found[os.path.relpath(path, WORK_DIR)] = (st.st_size, st.st_mtime_ns)
            if len(found) >= MAX_LISTED_FILES:
                return found
    return found


def read_files(
    paths: list[str], budget: int, sizes: dict[str, tuple[int, int]]
) -> list[dict[str, Any]]:
    """The files' bytes (base64) while the byte budget lasts; later files are listed only."""
    out = []
    for rel in paths:
        size = sizes[rel][0]
        entry: dict[str, Any] = {"path": rel, "size": size, "data": None}
        if size <= budget:
            try:
                with open(os.path.join(WORK_DIR, rel), "rb") as f:
                    data = f.read(budget + 1)
                if len(data) <= budget:
                    entry["data"] = base64.b64encode(data).decode("ascii")
                    budget -= len(data)
            except OSError:
                pass
        out.append(entry)
    return out


class Supervisor:
    """Talks to the host, owns the worker, and restarts it when a run must be stopped."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.fds: tuple[int, int, int, int] = (-1, -1, -1, -1)
        self.worker_pid = 0
        self._reply_closed = False
        self.spawn_worker()

    # -- worker lifecycle

    def spawn_worker(self) -> None:
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self.proc = subprocess.Popen(
            [sys.executable, "-s", "-B", __file__, "--worker", str(req_r), str(rep_w)],
            stdin=subprocess.DEVNULL,
            stdout=out_w,
            stderr=err_w,
            pass_fds=(req_r, rep_w),
            cwd=WORK_DIR,
            close_fds=True,
        )
        for fd in (req_r, rep_w, out_w, err_w):
            os.close(fd)
        self.fds = (req_w, rep_r, out_r, err_r)
        self._reply_closed = False
        ready, _, _ = select.select([rep_r], [], [], WORKER_START_S)
        hello = read_frame(rep_r) if ready else None
        if not hello or not hello.get("ready"):
            raise RuntimeError("the worker did not start")
        self.worker_pid = int(hello["pid"])

    def drop_worker(self) -> None:
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = (-1, -1, -1, -1)
        if self.proc is not None:
            try:
                self.proc.kill()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.proc = None

    def kill_others(self, keep: int = 0) -> None:
        """SIGKILL every process of the container but init, this one and `keep`.

        With keep=0 this is kill(-1): atomic, so a fork bomb cannot outrun it.
        """
        me = os.getpid()
        for _ in range(200):
            if keep == 0:
                try:
                    os.kill(-1, signal.SIGKILL)
                except ProcessLookupError:
                    return
                self._reap()
                if not self._others(me, keep):
                    return
            else:
                victims = self._others(me, keep)
                if not victims:
                    return
                for pid in victims:
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                self._reap()
            time.sleep(0.01)

    @staticmethod
    def _reap() -> None:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return

    @staticmethod
    def _others(me: int, keep: int) -> list[int]:
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            if pid in (1, me, keep):
                continue
            try:
                with open(f"/proc/{pid}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state != "Z":  # zombies are init's to reap
                pids.append(pid)
        return pids

    def clean_up_fork_bomb(self) -> None:
        """Kill what a fork bomb left running and have the worker reap its zombies,
        so the pids it held are free again while the namespace survives."""
        self.kill_others(keep=self.worker_pid)
        req_w, rep_r = self.fds[0], self.fds[1]
        write_frame(req_w, {"op": "reap"})
        if not select.select([rep_r], [], [], WORKER_START_S)[0] or read_frame(rep_r) is None:
            self.restart_worker()

    def restart_worker(self) -> None:
        self.drop_worker()
        self.kill_others()
        self.spawn_worker()

    # -- requests

    def run(self, request: dict[str, Any]) -> dict[str, Any]:
        run_id = int(request["id"])
        timeout = float(request["timeout"])
        output_bytes = int(request["output_bytes"])
        before = scan_work_dir()
        oom0, pids0 = limit_counters()
        started = time.monotonic()
        req_w, rep_r, out_r, err_r = self.fds
        write_frame(req_w, {"id": run_id, "code": request["code"], "output_bytes": output_bytes})
        mark = sentinel(run_id)
        out, err = Capture(output_bytes, mark), Capture(output_bytes, mark)
        reply = self._collect(rep_r, {out_r: out, err_r: err}, started + timeout)
        duration = time.monotonic() - started
        state_lost = False
        if reply is None:  # timed out or died: the namespace is gone
            state_lost = True
            reply = self._worker_gone(timeout)
            self.restart_worker()
        for cap in (out, err):
            cap.finish()
        oom1, pids1 = limit_counters()
        reply.update(self._limit_status(reply, oom1 > oom0, pids1 > pids0, out, err))
        if reply["status"] == PIDS_LIMIT and not state_lost:
            self.clean_up_fork_bomb()
        after = scan_work_dir()
        changed = [p for p, meta in after.items() if before.get(p) != meta]
        reply.update(
            id=run_id,
            stdout=out.text("stdout", reply["status"] == OUTPUT_LIMIT),
            stderr=err.text("stderr", reply["status"] == OUTPUT_LIMIT),
            stdout_dropped=out.dropped,
            stderr_dropped=err.dropped,
            state_lost=state_lost,
            duration_s=round(duration, 6),
            files=read_files(changed, int(request["file_bytes"]), after),
        )
        return reply

    def _collect(
        self, rep_r: int, streams: dict[int, Capture], deadline: float
    ) -> dict[str, Any] | None:
        """Drain output until the worker replies and both sentinels arrive; None when
        the deadline passes or the worker dies first."""
        reply = None
        open_fds = [rep_r, *streams]
        sentinel_deadline = 0.0  # set when the reply arrives
        while True:
            now = time.monotonic()
            if reply is not None:
                if all(c.done for c in streams.values()) or now >= sentinel_deadline:
                    return reply
                wait = sentinel_deadline - now
            else:
                if now >= deadline:
                    return None
                wait = deadline - now
            readable, _, _ = select.select(open_fds, [], [], wait)
            for fd in readable:
                if fd == rep_r:
                    reply = read_frame(rep_r)
                    if reply is None:
                        self._reply_closed = True
                        self._drain(streams)
                        return None
                    sentinel_deadline = time.monotonic() + SENTINEL_WAIT_S
                    open_fds.remove(rep_r)
                else:
                    data = os.read(fd, READ_CHUNK)
                    if data:
                        streams[fd].feed(data)
                    else:
                        open_fds.remove(fd)
                        streams[fd].done = True

    @staticmethod
    def _drain(streams: dict[int, Capture]) -> None:
        """Take what a dead worker left in its pipes."""
        for fd, cap in streams.items():
            while select.select([fd], [], [], 0.05)[0]:
                data = os.read(fd, READ_CHUNK)
                if not data:
                    break
                cap.feed(data)

    def _worker_gone(self, timeout: float) -> dict[str, Any]:
        code = self.proc.poll() if self.proc is not None else None
        if code is None and self.proc is not None:
            try:  # the reply pipe closed: the worker is dying, let it finish
                code = self.proc.wait(timeout=1.0) if self._reply_closed else None
            except subprocess.TimeoutExpired:
                code = None
        if code is None:
            return {"status": TIMEOUT, "result": None, "error": None, "timeout_s": timeout}
        how = f"signal {-code}" if code < 0 else f"exit code {code}"
        return {
            "status": CRASHED,
            "result": None,
            "error": {"type": "KernelDied", "message": f"the Python process ended ({how})"},
        }

    @staticmethod
    def _limit_status(
        reply: dict[str, Any], oom: bool, pids: bool, out: Capture, err: Capture
    ) -> dict[str, str]:
        """Name the limit behind a run from the cgroup counters and the caps. Output
        dropped at the cap fails even an otherwise clean run: what it printed is cut."""
        flooded = bool(out.dropped or err.dropped)
        if reply["status"] == OK:
            return {"status": OUTPUT_LIMIT} if flooded else {}
        if oom:
            return {"status": MEMORY_LIMIT}
        if pids:
            return {"status": PIDS_LIMIT}
        if reply["status"] in (TIMEOUT, CRASHED, ERROR) and flooded:
            return {"status": OUTPUT_LIMIT}
        return {}

    def files(self, request: dict[str, Any]) -> dict[str, Any]:
        found = scan_work_dir()
        return {"files": read_files(sorted(found), int(request["file_bytes"]), found)}

    def serve(self) -> None:
        stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
        while True:
            request = read_frame(stdin)
            if request is None:
                return
            op = request.get("op")
            if op == "run":
                reply = self.run(request)
            elif op == "files":
                reply = self.files(request)
            elif op == "ping":
                reply = {"pong": True, "python": sys.version.split()[0], "pid": os.getpid()}
            else:
                reply = {"error": {"type": "ProtocolError", "message": f"unknown op {op!r}"}}
            write_frame(stdout, reply)


def prepare_tmp() -> None:
    """Seed matplotlib's font cache (built into the image) into the writable /tmp."""
    if os.path.isdir(MPL_CACHE_SRC) and not os.path.exists(MPL_CACHE_DST):
        with contextlib.suppress(OSError):
            shutil.copytree(MPL_CACHE_SRC, MPL_CACHE_DST)


def main(argv: list[str]) -> None:
    if len(argv) == 4 and argv[1] == "--worker":
        worker_main(int(argv[2]), int(argv[3]))
        return
    prepare_tmp()
    Supervisor().serve()


if __name__ == "__main__":
    main(sys.argv)
