"""The judge: runs a check's trusted tests INSIDE the container, apart from the code under test.

The supervisor (`kernel.py`) starts it for a `grade` request as
`python3 -I -s -B judge.py REQ REP`: isolated mode, so nothing writable is on
sys.path. Its first act is to make itself non-dumpable, and the supervisor
starts the worker only after that, so the code under test (same uid, in the
worker) can neither read the judge's memory nor write to its pipes.

The check's prelude and tests run here. Each top-level function the code under
test defined is a `Proxy` here, and a call through it is a request to the
worker, relayed by the supervisor: the arguments go as repr() and are parsed
with `ast.literal_eval` in the worker, the return value comes back the same way
and is parsed here, so a test only ever compares plain literals (an object
equal to everything cannot cross). An exception comes back by type name and is
raised here as that builtin type when it is on a short list, else as
RuntimeError. The verdict (the tests ran to their end, or the exception that
stopped them) goes to the supervisor on the judge's own pipe, which the worker
never holds.

Stdlib only, like `kernel.py`; must run on the image's Python (3.11 offline,
3.12 online).
"""

from __future__ import annotations

import ast
import builtins
import ctypes
import json
import keyword
import os
import struct
import sys
import traceback
from typing import Any

HEADER = struct.Struct(">I")
MAX_FRAME = 8 * 1024 * 1024
VALUE_CHARS = 1_000_000
MESSAGE_CHARS = 2_000
TYPE_CHARS = 200
TRACEBACK_CHARS = 6_000
TRACEBACK_FRAMES = 12
PR_SET_DUMPABLE = 4

RAISABLE = {
    name: getattr(builtins, name)
    for name in (
        "ArithmeticError",
        "AssertionError",
        "AttributeError",
        "BufferError",
        "EOFError",
        "Exception",
        "FloatingPointError",
        "ImportError",
        "IndexError",
        "KeyError",
        "LookupError",
        "ModuleNotFoundError",
        "NameError",
        "NotImplementedError",
        "OSError",
        "OverflowError",
        "RecursionError",
        "RuntimeError",
        "TypeError",
        "UnboundLocalError",
        "UnicodeError",
        "ValueError",
        "ZeroDivisionError",
    )
}
"""Exception types a call of the code under test may raise in the judge, by name."""


def make_non_dumpable() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")


def write_frame(fd: int, obj: dict[str, Any]) -> None:
    data = json.dumps(obj, ensure_ascii=True).encode("ascii")
    view = memoryview(HEADER.pack(len(data)) + data)
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


def read_frame(fd: int) -> dict[str, Any]:
    """The supervisor's next frame; the judge ends when the supervisor is gone."""
    header = read_exact(fd, HEADER.size)
    if header is None:
        os._exit(0)
    (size,) = HEADER.unpack(header)
    body = read_exact(fd, size) if size <= MAX_FRAME else None
    if body is None:
        os._exit(1)
    frame: dict[str, Any] = json.loads(body.decode("ascii"))
    return frame


class Link:
    """The judge's end of the calls to the code under test."""

    def __init__(self, req_fd: int, rep_fd: int) -> None:
        self.req_fd = req_fd
        self.rep_fd = rep_fd
        self.calls = 0

    def call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        args_text, kwargs_text = repr(args), repr(kwargs)
        if max(len(args_text), len(kwargs_text)) > VALUE_CHARS:
            raise ValueError(f"the arguments of {name} are over {VALUE_CHARS:,} characters")
        self.calls += 1
        write_frame(
            self.rep_fd,
            {"call": self.calls, "name": name, "args": args_text, "kwargs": kwargs_text},
        )
        answer = read_frame(self.req_fd)
        if answer.get("seq") != self.calls:
            raise RuntimeError(f"the answer to call {self.calls} of {name} is out of order")
        if "value" in answer:
            return literal(name, answer["value"])
        raised = answer["raised"]
        kind = RAISABLE.get(raised["type"])
        if kind is None:
            raise RuntimeError(f"{name} raised {raised['type']}: {raised['message']}")
        raise kind(raised["message"])


def literal(name: str, text: str) -> Any:
    """The value a call returned, which must be a plain literal."""
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        shown = text if len(text) <= 200 else text[:200] + "..."
        raise TypeError(f"{name} returned a value that is not a plain literal: {shown}") from None


class Proxy:
    """A function of the code under test, as the tests see it: calls run in the worker."""

    def __init__(self, name: str, link: Link) -> None:
        self.__name__ = self.__qualname__ = name
        self._link = link

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._link.call(self.__name__, args, kwargs)

    def __repr__(self) -> str:
        return f"<function {self.__name__} under test>"


def proxied_names(names: list[str], entry_point: str | None, prelude: set[str]) -> set[str]:
    """The names the tests see as proxies: the entry point, and every top-level
    callable the code defined that is a plain identifier, not a builtin (the tests'
    own `abs` or `len` stay the judge's) and not something the check's prelude
    defined (its helpers stay the check's, whatever the code redefined)."""
    chosen = {entry_point} if entry_point else set()
    for name in names:
        if (
            isinstance(name, str)
            and name.isidentifier()
            and not keyword.iskeyword(name)
            and not name.startswith("__")
            and not hasattr(builtins, name)
            and name not in prelude
        ):
            chosen.add(name)
    return chosen


def verdict_of(exc: BaseException) -> dict[str, Any]:
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-TRACEBACK_FRAMES)
    text = "".join(lines)
    if len(text) > TRACEBACK_CHARS:
        text = "[... traceback truncated ...]\n" + text[-TRACEBACK_CHARS:]
    try:
        message = str(exc)[:MESSAGE_CHARS]
    except Exception:
        message = ""
    return {
        "verdict": "fail",
        "error": {"type": type(exc).__name__[:TYPE_CHARS], "message": message, "traceback": text},
    }


def judge(job: dict[str, Any], link: Link) -> dict[str, Any]:
    """Run the check's prelude, bind the proxies, run the tests: the verdict."""
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    try:
        exec(compile(job["prelude"], "<prelude>", "exec"), namespace)
        prelude = set(namespace) - {"__name__", "__builtins__"}
        for name in proxied_names(job["names"], job["entry_point"], prelude):
            namespace[name] = Proxy(name, link)
        exec(compile(job["tests"], "<tests>", "exec"), namespace)
    except BaseException as exc:  # the tests failed, however they failed
        return verdict_of(exc)
    return {"verdict": "pass", "error": None}


def main(argv: list[str]) -> None:
    make_non_dumpable()
    req_fd, rep_fd = int(argv[1]), int(argv[2])
    write_frame(rep_fd, {"ready": True, "pid": os.getpid()})
    link = Link(req_fd, rep_fd)
    write_frame(rep_fd, judge(read_frame(req_fd), link))


if __name__ == "__main__":
    main(sys.argv)
