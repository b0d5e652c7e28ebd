"""The sandbox kernel: runs INSIDE the container, never on the host.

Three kinds of process, so that a run can be stopped without losing the channel
to the host, and so that nothing the user's code can reach can speak for the
kernel:

* the supervisor (this file run as a script) is the container's PID 1 and the
  only holder of the channel to the host: framed JSON requests on stdin/stdout
  (`ping`, `run`, `grade`, `files`), each reply echoing its request's nonce. It
  makes itself non-dumpable before anything else runs, so a process of the same
  uid can open neither its file descriptors nor its memory (`/proc/1/fd/*`,
  `/proc/1/mem`, ptrace); as PID 1 it receives no signal it has no handler for
  from inside the container, and it reaps orphans by pid (never `waitpid(-1)`,
  which would steal the worker's exit status from `subprocess`). It drains the
  worker's stdout/stderr with a cap, enforces each run's timeout, kills every
  other process of the container after a timeout, reads the cgroup's OOM and
  pids counters to name the limit a run hit, and returns the files the run
  changed under the work dir;
* the worker (`kernel.py --worker`) keeps one namespace alive across runs and
  executes code in it, notebook style: the last expression's repr comes back.
  It runs the user's code, so everything it sends is untrusted: the supervisor
  binds each reply to a fresh per-request token, discards stale frames, and
  treats any malformed frame as the worker breaking the protocol (it is
  restarted);
* the judge (`judge.py`, only during `grade`) runs a check's trusted tests in a
  separate non-dumpable process; the code under test stays in the worker and is
  called through proxies, values crossing as literals (see `judge.py`).

Frames are a 4-byte big-endian length and ASCII JSON. The host side of this
protocol is `agentlab.sandbox.channel`; it is duplicated there on purpose, since
this file is copied into the image with `judge.py` only and imports nothing but
the stdlib. It must run on the image's Python (3.11 on the offline Debian base,
3.12 online).
"""

from __future__ import annotations

import ast
import base64
import builtins
import contextlib
import ctypes
import errno
import json
import linecache
import os
import secrets
import select
import shutil
import signal
import stat
import struct
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any

WORK_DIR = "/work"
MPL_CACHE_SRC = "/opt/agentlab/mpl"
MPL_CACHE_DST = "/tmp/matplotlib"
JUDGE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "judge.py")

HEADER = struct.Struct(">I")
MAX_REQUEST = 256 * 1024 * 1024
"""Largest frame the supervisor accepts from the host (trusted)."""
MAX_PEER_FRAME = 8 * 1024 * 1024
"""Largest frame the supervisor accepts from the worker or the judge."""
READ_CHUNK = 65536
RESULT_REPR_CHARS = 10_000
TRACEBACK_CHARS = 6_000
TRACEBACK_FRAMES = 12
MESSAGE_CHARS = 2_000
TYPE_CHARS = 200
VALUE_CHARS = 1_000_000
"""Largest repr of an argument or a return value crossing between judge and worker."""
MAX_NAMES = 1_000
MAX_LISTED_FILES = 2_000
MAX_PATH_CHARS = 512
"""Longer work-dir paths are not listed (the host caps its frames by these counts)."""
SENTINEL_WAIT_S = 2.0
WORKER_START_S = 20.0
REAP_EVERY_S = 0.25
DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
PR_SET_DUMPABLE = 4

# Run outcomes; the host maps them to failure categories.
OK = "ok"
ERROR = "error"
TIMEOUT = "timeout"
MEMORY_LIMIT = "memory_limit"
PIDS_LIMIT = "pids_limit"
OUTPUT_LIMIT = "output_limit"
DISK_LIMIT = "disk_limit"
CRASHED = "crashed"
WORKER_STATUSES = (OK, ERROR, OUTPUT_LIMIT, DISK_LIMIT, MEMORY_LIMIT)
"""What a worker may report for a run; the rest are the supervisor's to name."""

# Grade outcomes.
PASSED = "passed"
FAILED = "failed"
CODE_FAILED = "code_failed"


class ProtocolError(Exception):
    """A peer (the worker or the judge) sent something that is not a valid frame."""


# ----------------------------------------------------------------- framing


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_all_until(fd: int, data: bytes, deadline: float) -> bool:
    """Write to a non-blocking fd until done (True) or the deadline passes (False).

    A peer that stops reading (a worker busy in a cell) must not wedge the supervisor.
    """
    view = memoryview(data)
    while view:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([], [fd], [], remaining)[1]:
            return False
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            continue
        except OSError:  # the reader is gone; its end of the pipe says so
            return False
    return True


def read_exact(fd: int, n: int) -> bytes | None:
    chunks = []
    while n:
        chunk = os.read(fd, n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def encode_frame(obj: dict[str, Any]) -> bytes:
    # ASCII JSON: any string (lone surrogates too) encodes, and any reader can decode it.
    data = json.dumps(obj, ensure_ascii=True).encode("ascii")
    return HEADER.pack(len(data)) + data


def write_frame(fd: int, obj: dict[str, Any]) -> None:
    write_all(fd, encode_frame(obj))


def read_frame(fd: int, limit: int = MAX_REQUEST) -> dict[str, Any] | None:
    """One frame from a trusted, blocking fd (the host's requests, the worker's own)."""
    header = read_exact(fd, HEADER.size)
    if header is None:
        return None
    (size,) = HEADER.unpack(header)
    if size > limit:
        raise ProtocolError(f"a frame of {size:,} bytes is over the limit of {limit:,}")
    body = read_exact(fd, size)
    return None if body is None else parse_frame(body)


def parse_frame(body: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError(f"a frame is not JSON: {type(exc).__name__}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("a frame is not a JSON object")
    return obj


class FrameReader:
    """Frames from an untrusted pipe, read as they come: never blocks past what
    select() said was there, never holds more than one frame's cap."""

    def __init__(self, fd: int, limit: int = MAX_PEER_FRAME) -> None:
        self.fd = fd
        self.limit = limit
        self.buffer = bytearray()

    def fill(self) -> bool:
        """Read what is there (the fd is readable); False at end of file."""
        try:
            data = os.read(self.fd, READ_CHUNK)
        except OSError:
            return False
        self.buffer += data
        return bool(data)

    def next(self) -> dict[str, Any] | None:
        """The next complete frame, or None; ProtocolError when the bytes are not frames."""
        if len(self.buffer) < HEADER.size:
            return None
        (size,) = HEADER.unpack_from(self.buffer)
        if size > self.limit:
            raise ProtocolError(f"a frame of {size:,} bytes is over the limit of {self.limit:,}")
        end = HEADER.size + size
        if len(self.buffer) < end:
            return None
        body = bytes(self.buffer[HEADER.size : end])
        del self.buffer[:end]
        return parse_frame(body)


def new_token() -> str:
    return secrets.token_hex(16)


def sentinel(token: str) -> bytes:
    """The marker the worker writes after a run, so the supervisor knows the run's
    output ended (subprocesses write to the same pipes, outside Python's view). It
    holds the run's token, so no earlier run can write it ahead of time."""
    return b"\x00\x1eagentlab-end-" + token.encode("ascii") + b"\x1e\x00"


def clean_text(text: str) -> str:
    """`text` with lone surrogates (from undecodable bytes) escaped: valid Unicode."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def make_non_dumpable() -> None:
    """prctl(PR_SET_DUMPABLE, 0): /proc/<pid>/{fd,mem,environ,...} become root's and
    ptrace-protected, so processes of the same uid cannot reach this one's pipes or
    memory. Fails closed: a kernel that cannot do this does not start."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"prctl(PR_SET_DUMPABLE, 0) failed: {os.strerror(code)}")


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
        "type": type(exc).__name__[:TYPE_CHARS],
        "message": _message(exc),
        "traceback": text,
    }


def _message(exc: BaseException) -> str:
    try:
        return str(exc)[:MESSAGE_CHARS]
    except Exception:  # a broken __str__ must not fail the reply
        return f"<{type(exc).__name__} with a broken __str__>"


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
        text = f"<repr failed: {type(exc).__name__}: {_message(exc)}>"
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
    """One long-lived namespace; executes cells in it, and calls its functions for a judge."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
        self.stdout = _Sink(1, "stdout")
        self.stderr = _Sink(2, "stderr")
        self.cells = 0
        sys.stdout = _TextSink(self.stdout)
        sys.stderr = _TextSink(self.stderr)

    def execute(self, code: str, output_bytes: int) -> dict[str, Any]:
        self.stdout.reset(output_bytes)
        self.stderr.reset(output_bytes)
        self.cells += 1
        filename = f"<cell {self.cells}>"
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
        self._exit_if_forked()
        if reply["status"] == OK and (self.stdout.exceeded or self.stderr.exceeded):
            reply["status"] = OUTPUT_LIMIT  # the code caught OutputLimitExceeded itself
        return reply

    def callable_names(self) -> list[str]:
        """Top-level callables the code defined, for the judge's proxies (untrusted)."""
        names = [
            name
            for name, value in list(self.namespace.items())
            if isinstance(name, str) and not name.startswith("__") and callable(value)
        ]
        return sorted(names)[:MAX_NAMES]

    def call(
        self, name: str, args_text: str, kwargs_text: str, output_bytes: int
    ) -> dict[str, Any]:
        """Call one of the namespace's functions with literal arguments; the value comes
        back as its repr (the judge accepts only literals)."""
        self.stdout.reset(output_bytes)
        self.stderr.reset(output_bytes)
        reply: dict[str, Any]
        try:
            function = self.namespace.get(name)
            if not callable(function):
                raise NameError(f"name {name!r} is not defined as a function")
            args = ast.literal_eval(args_text)
            kwargs = ast.literal_eval(kwargs_text)
            if not isinstance(args, tuple) or not isinstance(kwargs, dict):
                raise TypeError("the arguments are not a tuple and a dict")
            text = repr(function(*args, **kwargs))
            if len(text) > VALUE_CHARS:
                raise ValueError(f"the return value's repr is over {VALUE_CHARS:,} characters")
            reply = {"value": text}
        except BaseException as exc:  # whatever it raised, the judge sees it as a failure
            reply = {"raised": {"type": type(exc).__name__[:TYPE_CHARS], "message": _message(exc)}}
        self._exit_if_forked()
        return reply

    def _exit_if_forked(self) -> None:
        if os.getpid() != self.pid:
            # A process forked by the user's code finished the cell: it must never
            # answer for the worker.
            os._exit(0)


def worker_main(req_fd: int, rep_fd: int) -> None:
    try:  # make the worker the OOM killer's first choice, never the supervisor
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass
    worker = Worker()
    write_frame(rep_fd, {"ready": True, "pid": worker.pid})
    while True:
        try:
            request = read_frame(req_fd)
        except ProtocolError:
            os._exit(70)  # the code wrote into its own request pipe: nothing to resync on
        if request is None:
            return
        token = request.get("token")
        op = request.get("op")
        if op == "reap":
            reply: dict[str, Any] = {"reaped": reap_children()}
        elif op == "call":
            reply = worker.call(
                str(request["name"]),
                str(request["args"]),
                str(request["kwargs"]),
                int(request["output_bytes"]),
            )
        elif op == "run":
            reply = worker.execute(str(request["code"]), int(request["output_bytes"]))
            if request.get("names"):
                reply["names"] = worker.callable_names()
            mark = sentinel(str(token))
            for fd in (1, 2):
                # If the code closed its own stdout, the supervisor waits briefly instead.
                with contextlib.suppress(OSError):
                    write_all(fd, mark)
        else:
            os._exit(70)
        write_frame(rep_fd, {"token": token, **reply})


# ----------------------------------------------------------------- worker replies
# The worker runs the user's code: what it sends is checked like any outside input.


def _keys(frame: dict[str, Any], required: tuple[str, ...], optional: tuple[str, ...] = ()) -> None:
    missing = [k for k in required if k not in frame]
    extra = [k for k in frame if k not in required and k not in optional]
    if missing or extra:
        raise ProtocolError(f"a reply missing {missing} or with {len(extra)} unknown keys")


def _text(value: Any, limit: int, what: str) -> str:
    if not isinstance(value, str):
        raise ProtocolError(f"{what} is not a string")
    if len(value) > limit:
        raise ProtocolError(f"{what} is over {limit:,} characters")
    return clean_text(value)


def _identifier(value: Any) -> str:
    if not isinstance(value, str) or len(value) > TYPE_CHARS or not value.isidentifier():
        raise ProtocolError("a name is not an identifier")
    return value


def parse_error(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ProtocolError("an error is not an object")
    _keys(value, ("type", "message"), ("traceback",))
    return {
        "type": _text(value["type"], TYPE_CHARS, "an error's type"),
        "message": _text(value["message"], MESSAGE_CHARS, "an error's message"),
        "traceback": _text(value.get("traceback", ""), TRACEBACK_CHARS + 100, "a traceback"),
    }


def parse_run_reply(frame: dict[str, Any], *, names: bool) -> dict[str, Any]:
    _keys(frame, ("token", "status", "result", "error", *(("names",) if names else ())))
    if frame["status"] not in WORKER_STATUSES:
        raise ProtocolError(f"a run status {str(frame['status'])[:40]!r} a worker cannot report")
    result = frame["result"]
    reply: dict[str, Any] = {
        "status": frame["status"],
        "result": None if result is None else _text(result, RESULT_REPR_CHARS + 100, "a result"),
        "error": parse_error(frame["error"]),
    }
    if names:
        listed = frame["names"]
        if not isinstance(listed, list) or len(listed) > MAX_NAMES:
            raise ProtocolError(f"the names are not a list of at most {MAX_NAMES}")
        reply["names"] = [_identifier(name) for name in listed]
    return reply


def parse_call_reply(frame: dict[str, Any]) -> dict[str, Any]:
    if "value" in frame:
        _keys(frame, ("token", "value"))
        return {"value": _text(frame["value"], VALUE_CHARS, "a return value")}
    _keys(frame, ("token", "raised"))
    raised = frame["raised"]
    if not isinstance(raised, dict):
        raise ProtocolError("an exception is not an object")
    _keys(raised, ("type", "message"))
    return {
        "raised": {
            "type": _text(raised["type"], TYPE_CHARS, "an exception's type"),
            "message": _text(raised["message"], MESSAGE_CHARS, "an exception's message"),
        }
    }


def parse_reap_reply(frame: dict[str, Any]) -> dict[str, Any]:
    _keys(frame, ("token", "reaped"))
    reaped = frame["reaped"]
    if type(reaped) is not int or reaped < 0:
        raise ProtocolError("a reap count is not a non-negative integer")
    return {"reaped": reaped}


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

    @classmethod
    def discard(cls) -> Capture:
        """A stream whose output belongs to no run (read only so the writer never blocks)."""
        capture = cls(0, b"\x00")
        capture.done = True
        return capture

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
    """Relative path -> (size, mtime_ns) of the regular files under the work dir.

    Paths that are not valid UTF-8 or longer than MAX_PATH_CHARS are left out."""
    found: dict[str, tuple[int, int]] = {}
    for root, dirs, files in os.walk(WORK_DIR):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, WORK_DIR)
            if len(rel) > MAX_PATH_CHARS or clean_text(rel) != rel:
                continue
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            found[rel] = (st.st_size, st.st_mtime_ns)
            if len(found) >= MAX_LISTED_FILES:
                return found
    return found


def read_regular_file(path: str, limit: int) -> bytes | None:
    """At most `limit` + 1 bytes of a regular file; None for anything else. No link is
    followed and a FIFO swapped in since the scan cannot block the supervisor."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def read_files(
    paths: list[str], budget: int, sizes: dict[str, tuple[int, int]]
) -> list[dict[str, Any]]:
    """The files' bytes (base64) while the byte budget lasts; later files are listed only."""
    out = []
    for rel in paths:
        size = sizes[rel][0]
        entry: dict[str, Any] = {"path": rel, "size": size, "data": None}
        if size <= budget:
            data = read_regular_file(os.path.join(WORK_DIR, rel), budget)
            if data is not None and len(data) <= budget:
                entry["data"] = base64.b64encode(data).decode("ascii")
                budget -= len(data)
        out.append(entry)
    return out


def processes() -> list[tuple[int, str, int]]:
    """(pid, state, parent pid) of every process in the container."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            found.append((int(entry), fields[0], int(fields[1])))
        except (OSError, IndexError, ValueError):
            continue
    return found


class Peer:
    """A child process the supervisor talks to over two pipes (the worker, the judge)."""

    def __init__(self, name: str, argv: list[str], *, stdout: int, stderr: int, cwd: str) -> None:
        self.name = name
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        self.proc = subprocess.Popen(
            [*argv, str(req_r), str(rep_w)],
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            pass_fds=(req_r, rep_w),
            cwd=cwd,
            close_fds=True,
        )
        os.close(req_r)
        os.close(rep_w)
        os.set_blocking(req_w, False)
        self.requests = req_w
        self.replies = FrameReader(rep_r)
        self.pid = self.proc.pid
        self.closed = False

    def send(self, message: dict[str, Any], deadline: float) -> bool:
        """False when the peer did not take the frame before the deadline (or is gone)."""
        return write_all_until(self.requests, encode_frame(message), deadline)

    def hello(self, deadline: float) -> dict[str, Any]:
        """The first frame, written before any untrusted code ran in the peer."""
        while time.monotonic() < deadline:
            frame = self.replies.next()
            if frame is not None:
                return frame
            wait = deadline - time.monotonic()
            if (
                select.select([self.replies.fd], [], [], max(wait, 0))[0]
                and not self.replies.fill()
            ):
                break
        raise RuntimeError(f"the {self.name} did not start")

    def exit_status(self, wait_s: float) -> int | None:
        try:
            return self.proc.wait(timeout=wait_s) if wait_s > 0 else self.proc.poll()
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        if self.closed:
            return
        self.closed = True
        for fd in (self.requests, self.replies.fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        try:
            self.proc.kill()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass


def describe_exit(code: int) -> str:
    return f"signal {-code}" if code < 0 else f"exit code {code}"


class Supervisor:
    """Talks to the host, owns the worker (and the judge), restarts the worker when a
    run must be stopped or it broke the protocol, and reaps what PID 1 inherits."""

    def __init__(self) -> None:
        self.worker: Peer | None = None
        self.judge: Peer | None = None
        self.out_r = self.err_r = -1
        self.worker_pid = 0
        self._reply_closed = False
        self._last_reap = 0.0
        self.spawn_worker()

    # -- worker lifecycle

    def spawn_worker(self) -> None:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self.worker = Peer(
            "worker",
            [sys.executable, "-s", "-B", __file__, "--worker"],
            stdout=out_w,
            stderr=err_w,
            cwd=WORK_DIR,
        )
        os.close(out_w)
        os.close(err_w)
        self.out_r, self.err_r = out_r, err_r
        self._reply_closed = False
        hello = self.worker.hello(time.monotonic() + WORKER_START_S)
        if hello.get("ready") is not True or type(hello.get("pid")) is not int:
            raise RuntimeError("the worker did not start")
        self.worker_pid = hello["pid"]

    def drop_worker(self) -> None:
        for fd in (self.out_r, self.err_r):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.out_r = self.err_r = -1
        if self.worker is not None:
            self.worker.stop()
        self.worker = None

    def restart_worker(self) -> None:
        self.drop_worker()
        self.kill_others()
        self.spawn_worker()

    # -- PID 1's duties

    def reap_orphans(self) -> None:
        """Collect exited processes PID 1 inherited, each by pid. The worker and the
        judge are left to their Popen: a waitpid(-1) would steal their exit status."""
        self._last_reap = time.monotonic()
        me = os.getpid()
        mine = {peer.pid for peer in (self.worker, self.judge) if peer is not None}
        for pid, state, parent in processes():
            if state == "Z" and parent == me and pid not in mine:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)

    def reap_now_and_then(self) -> None:
        """Reap, at most every REAP_EVERY_S: a scan of /proc costs about 0.1 ms, as much
        as a whole warm call, and zombies only matter in numbers (the pids limit)."""
        if time.monotonic() - self._last_reap >= REAP_EVERY_S:
            self.reap_orphans()

    def kill_others(self, keep: int = 0) -> None:
        """SIGKILL every process of the container but this one (PID 1) and `keep`.

        With keep=0 this is kill(-1): atomic, so a fork bomb cannot outrun it; as PID 1
        the caller is the one process kill(-1) never signals.
        """
        for _ in range(200):
            if keep == 0:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(-1, signal.SIGKILL)
            else:
                for pid in self._others(keep):
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
            if not self._others(keep):
                break
            self.reap_orphans()
            time.sleep(0.01)
        # Last, once every victim is a zombie: they hold pids slots until reaped.
        self.reap_orphans()

    @staticmethod
    def _others(keep: int) -> list[int]:
        me = os.getpid()
        # Zombies are past killing; reap_orphans collects the ones that are ours.
        return [pid for pid, state, _ in processes() if pid not in (1, me, keep) and state != "Z"]

    def clean_up_fork_bomb(self) -> None:
        """Kill what a fork bomb left running and have the worker reap its zombies,
        so the pids it held are free again while the namespace survives."""
        self.kill_others(keep=self.worker_pid)
        try:
            reply = self._ask_worker(
                {"op": "reap"}, parse_reap_reply, time.monotonic() + WORKER_START_S
            )
        except ProtocolError:
            reply = None
        if reply is None:
            self.restart_worker()

    # -- talking to the worker

    def _ask_worker(
        self,
        message: dict[str, Any],
        parse: Callable[[dict[str, Any]], dict[str, Any]],
        deadline: float,
        *,
        token: str | None = None,
        streams: dict[int, Capture] | None = None,
    ) -> dict[str, Any] | None:
        """Send a request bound to a token (fresh unless given) and wait for the worker's
        reply to it; None when the deadline passes or the worker dies first. Frames of
        other tokens (late replies, forgeries) are dropped; a malformed frame raises
        ProtocolError."""
        assert self.worker is not None
        token = token or new_token()
        if streams is None:
            streams = {fd: Capture.discard() for fd in (self.out_r, self.err_r)}
        if not self.worker.send({**message, "token": token}, deadline):
            return None
        return self._collect(token, parse, streams, deadline)

    def _take_reply(
        self, token: str, parse: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any] | None:
        assert self.worker is not None
        while True:
            frame = self.worker.replies.next()
            if frame is None:
                return None
            if frame.get("token") == token:
                return parse(frame)
            # Another request's token (a late reply, or one the code forged): not this one's.

    def _drop_replies(self) -> None:
        assert self.worker is not None
        while self.worker.replies.next() is not None:
            pass

    def _collect(
        self,
        token: str,
        parse: Callable[[dict[str, Any]], dict[str, Any]],
        streams: dict[int, Capture],
        deadline: float,
    ) -> dict[str, Any] | None:
        """Drain output until the worker replies and both sentinels arrive; None when
        the deadline passes or the worker dies first."""
        assert self.worker is not None
        reply_fd = self.worker.replies.fd
        reply = None
        open_fds = [reply_fd, *streams]
        sentinel_deadline = 0.0  # set when the reply arrives
        while True:
            if reply is None:
                reply = self._take_reply(token, parse)
                if reply is not None:
                    sentinel_deadline = time.monotonic() + SENTINEL_WAIT_S
                    open_fds.remove(reply_fd)
            now = time.monotonic()
            if reply is not None:
                if all(c.done for c in streams.values()) or now >= sentinel_deadline:
                    return reply
                wait = sentinel_deadline - now
            else:
                if now >= deadline:
                    return None
                wait = deadline - now
            readable, _, _ = select.select(open_fds, [], [], min(wait, REAP_EVERY_S))
            self.reap_now_and_then()
            for fd in readable:
                if fd == reply_fd:
                    if not self.worker.replies.fill():
                        self._reply_closed = True
                        self._drain(streams)
                        return None
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

    def _worker_gone(self, problem: ProtocolError | None) -> dict[str, Any]:
        if problem is not None:
            return {
                "status": CRASHED,
                "result": None,
                "error": {
                    "type": "ProtocolError",
                    "message": f"the Python process broke the kernel's protocol "
                    f"({str(problem)[:500]}); it was restarted",
                    "traceback": "",
                },
            }
        assert self.worker is not None
        code = self.worker.exit_status(1.0 if self._reply_closed else 0)
        if code is None:
            return {"status": TIMEOUT, "result": None, "error": None}
        return {
            "status": CRASHED,
            "result": None,
            "error": {
                "type": "KernelDied",
                "message": f"the Python process ended ({describe_exit(code)})",
                "traceback": "",
            },
        }

    def _execute(
        self, code: str, output_bytes: int, deadline: float, *, names: bool
    ) -> tuple[dict[str, Any], Capture, Capture, bool]:
        """Run a cell in the worker: (reply, stdout, stderr, whether the namespace was
        lost). A worker that times out, dies or breaks the protocol is restarted."""
        token = new_token()
        mark = sentinel(token)
        out, err = Capture(output_bytes, mark), Capture(output_bytes, mark)
        message = {"op": "run", "code": code, "output_bytes": output_bytes, "names": names}
        problem = None
        reply = None
        try:
            reply = self._ask_worker(
                message,
                lambda frame: parse_run_reply(frame, names=names),
                deadline,
                token=token,
                streams={self.out_r: out, self.err_r: err},
            )
        except ProtocolError as exc:
            problem = exc
        if reply is not None:
            return reply, out, err, False
        reply = self._worker_gone(problem)
        self.restart_worker()
        return reply, out, err, True

    # -- requests

    def run(self, request: dict[str, Any]) -> dict[str, Any]:
        timeout = float(request["timeout"])
        output_bytes = int(request["output_bytes"])
        before = scan_work_dir()
        oom0, pids0 = limit_counters()
        started = time.monotonic()
        reply, out, err, state_lost = self._execute(
            str(request["code"]), output_bytes, started + timeout, names=False
        )
        duration = time.monotonic() - started
        for cap in (out, err):
            cap.finish()
        oom1, pids1 = limit_counters()
        reply.update(self._limit_status(reply, oom1 > oom0, pids1 > pids0, out, err))
        if reply["status"] == PIDS_LIMIT and not state_lost:
            self.clean_up_fork_bomb()
        after = scan_work_dir()
        changed = [p for p, meta in after.items() if before.get(p) != meta]
        reply.update(
            id=request["id"],
            stdout=out.text("stdout", reply["status"] == OUTPUT_LIMIT),
            stderr=err.text("stderr", reply["status"] == OUTPUT_LIMIT),
            stdout_dropped=out.dropped,
            stderr_dropped=err.dropped,
            state_lost=state_lost,
            duration_s=round(duration, 6),
            files=read_files(changed, int(request["file_bytes"]), after),
        )
        return reply

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

    def grade(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run code under test in the worker and a check's tests in a judge; the verdict
        is the judge's alone. The worker and the judge are started afresh."""
        started = time.monotonic()
        deadline = started + float(request["timeout"])
        # Nothing of the user's may be alive while the judge starts (it is dumpable
        # until its first instruction makes it not).
        self.drop_worker()
        self.kill_others()
        try:
            self.judge = Peer(
                "judge",
                [sys.executable, "-I", "-s", "-B", JUDGE_FILE],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd="/",
            )
            # The worker starts only once the judge has made itself non-dumpable.
            if self.judge.hello(min(deadline, time.monotonic() + WORKER_START_S)).get("ready"):
                self.spawn_worker()
                outcome = self._judge(request, deadline)
            else:
                outcome = _grade_crashed("the judge did not start")
        except (RuntimeError, OSError) as exc:
            outcome = _grade_crashed(str(exc))
        finally:
            if self.judge is not None:
                self.judge.stop()
                self.judge = None
            self.restart_worker()  # a graded namespace is never reused
        return {"id": request["id"], **outcome, "duration_s": round(time.monotonic() - started, 6)}

    def _judge(self, request: dict[str, Any], deadline: float) -> dict[str, Any]:
        reply, _, _, lost = self._execute(
            str(request["code"]), int(request["output_bytes"]), deadline, names=True
        )
        if reply["status"] != OK:
            if reply["status"] == TIMEOUT:
                return {"outcome": TIMEOUT, "error": None}
            error = reply["error"] or {
                "type": reply["status"],
                "message": f"the code stopped: {reply['status']}",
                "traceback": "",
            }
            return {"outcome": CODE_FAILED, "error": error}
        assert self.judge is not None and not lost
        job = {
            "prelude": str(request["prelude"]),
            "tests": str(request["tests"]),
            "entry_point": request["entry_point"],
            "names": reply["names"],
        }
        if not self.judge.send(job, deadline):
            return _not_taken(self.judge)
        return self._serve_judge(int(request["output_bytes"]), deadline)

    def _serve_judge(self, output_bytes: int, deadline: float) -> dict[str, Any]:
        """Relay the judge's calls to the worker until the judge's verdict."""
        assert self.judge is not None and self.worker is not None
        judge, worker = self.judge, self.worker
        pending: tuple[int, str] | None = None  # (the judge's call number, its worker token)
        streams = [self.out_r, self.err_r]
        while True:
            try:
                while (frame := judge.replies.next()) is not None:
                    if "verdict" in frame:
                        return parse_verdict(frame)
                    if pending is not None:
                        raise ProtocolError("the judge called again before an answer")
                    seq, call = parse_judge_call(frame, output_bytes)
                    token = new_token()
                    if not worker.send({**call, "token": token}, deadline):
                        return _not_taken(worker)
                    pending = (seq, token)
                if pending is None:
                    self._drop_replies()  # nothing is asked: whatever the worker sent is stale
                else:
                    answer = self._take_reply(pending[1], parse_call_reply)
                    if answer is not None:
                        if not judge.send({"seq": pending[0], **answer}, deadline):
                            return _not_taken(judge)
                        pending = None
            except ProtocolError as exc:
                return _grade_crashed(f"a reply broke the kernel's protocol ({str(exc)[:500]})")
            now = time.monotonic()
            if now >= deadline:
                return {"outcome": TIMEOUT, "error": None}
            fds = [judge.replies.fd, worker.replies.fd, *streams]
            readable, _, _ = select.select(fds, [], [], min(deadline - now, REAP_EVERY_S))
            self.reap_now_and_then()
            for fd in readable:
                if fd == judge.replies.fd and not judge.replies.fill():
                    return _grade_crashed(f"the judge ended before its verdict ({_how(judge)})")
                if fd == worker.replies.fd and not worker.replies.fill():
                    return _grade_crashed(f"the code's process ended ({_how(worker)})")
                if fd in streams and not os.read(fd, READ_CHUNK):
                    streams.remove(fd)  # output during calls is not kept

    def files(self, request: dict[str, Any]) -> dict[str, Any]:
        found = scan_work_dir()
        return {"files": read_files(sorted(found), int(request["file_bytes"]), found)}

    def ping(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"pong": True, "python": sys.version.split()[0], "pid": os.getpid()}

    def serve(self) -> None:
        stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
        handlers = {"run": self.run, "grade": self.grade, "files": self.files, "ping": self.ping}
        while True:
            request = read_frame(stdin)
            if request is None:
                return
            self.reap_now_and_then()
            op = request.get("op")
            handler = handlers.get(str(op))
            if handler is None:
                reply = {"error": {"type": "ProtocolError", "message": f"unknown op {op!r}"}}
            else:
                reply = handler(request)
            # The nonce goes back to the host and nowhere else: no worker or judge sees it.
            write_frame(stdout, {**reply, "op": op, "nonce": request.get("nonce")})


def _how(peer: Peer) -> str:
    code = peer.exit_status(1.0)
    return describe_exit(code) if code is not None else "its pipe closed"


def _not_taken(peer: Peer) -> dict[str, Any]:
    """The outcome when a peer did not take a frame: it died, or the time ran out."""
    if peer.exit_status(0) is None:
        return {"outcome": TIMEOUT, "error": None}
    what = "the judge" if peer.name == "judge" else "the code's process"
    return _grade_crashed(f"{what} ended ({_how(peer)})")


def _grade_crashed(why: str) -> dict[str, Any]:
    return {"outcome": CRASHED, "error": {"type": "GradeCrashed", "message": why, "traceback": ""}}


def parse_judge_call(frame: dict[str, Any], output_bytes: int) -> tuple[int, dict[str, Any]]:
    _keys(frame, ("call", "name", "args", "kwargs"))
    seq = frame["call"]
    if type(seq) is not int:
        raise ProtocolError("a call number is not an integer")
    call = {
        "op": "call",
        "name": _identifier(frame["name"]),
        "args": _text(frame["args"], VALUE_CHARS, "the arguments"),
        "kwargs": _text(frame["kwargs"], VALUE_CHARS, "the keyword arguments"),
        "output_bytes": output_bytes,
    }
    return seq, call


def parse_verdict(frame: dict[str, Any]) -> dict[str, Any]:
    _keys(frame, ("verdict", "error"))
    if frame["verdict"] == "pass" and frame["error"] is None:
        return {"outcome": PASSED, "error": None}
    if frame["verdict"] == "fail":
        return {"outcome": FAILED, "error": parse_error(frame["error"])}
    raise ProtocolError("a verdict that is neither pass nor fail")


def prepare_tmp() -> None:
    """Seed matplotlib's font cache (built into the image) into the writable /tmp."""
    if os.path.isdir(MPL_CACHE_SRC) and not os.path.exists(MPL_CACHE_DST):
        with contextlib.suppress(OSError):
            shutil.copytree(MPL_CACHE_SRC, MPL_CACHE_DST)


def main(argv: list[str]) -> None:
    if len(argv) == 4 and argv[1] == "--worker":
        worker_main(int(argv[2]), int(argv[3]))
        return
    # First, before any other process exists: nothing of the same uid may open this
    # process's pipes (the host channel) or memory.
    make_non_dumpable()
    # PID 1 gets no signal it has no handler for from inside its namespace; Python's
    # SIGINT handler would let any process interrupt the supervisor. SIG_DFL, not
    # SIG_IGN: an ignored signal stays ignored in the worker and its children.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    prepare_tmp()
    Supervisor().serve()


if __name__ == "__main__":
    main(sys.argv)
