"""The host end of the kernel channel against a hostile kernel (issue 12, item 2; Must show 2).

No Docker: a socketpair stands in for the container's attached stdio, and a
thread at its far end plays the kernel, answering each request with what the
test scripts, in the engine's multiplexed framing. `Session` and `KernelChannel`
are the real ones; only the container (`Kernel`) is replaced, at its seam.
Whatever comes back, a run must end by its deadline with a result that is
either the reply to that very request or a failure status, and never raise.
"""

from __future__ import annotations

import base64
import itertools
import json
import socket
import struct
import threading
import time
import tracemalloc
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentlab.failures import FailureCategory
from agentlab.sandbox import ExecStatus, SandboxError, SandboxLimits, Session
from agentlab.sandbox.channel import KernelChannel
from agentlab.sandbox.protocol import max_reply_bytes
from agentlab.tools.python import PythonRunError, to_output

FRAME = struct.Struct(">I")
MUX = struct.Struct(">BxxxI")
STDOUT, STDERR = 1, 2

LIMITS = SandboxLimits(output_bytes=4096, file_bytes=4096, restart_grace_s=0.5)
RUN_TIMEOUT_S = 0.05
DEADLINE_S = RUN_TIMEOUT_S + LIMITS.restart_grace_s
SLACK_S = 2.0  # scheduling on a busy machine; a hang would take far longer


def frame(body: bytes) -> bytes:
    return FRAME.pack(len(body)) + body


def mux(stream: int, payload: bytes) -> bytes:
    return MUX.pack(stream, len(payload)) + payload


def run_reply(request: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A well-formed reply to a run request; its result names the request's id."""
    reply = {
        "op": "run",
        "nonce": request["nonce"],
        "id": request["id"],
        "status": "ok",
        "result": repr(f"r{request['id']}"),
        "error": None,
        "stdout": "out\n",
        "stderr": "",
        "stdout_dropped": 0,
        "stderr_dropped": 0,
        "state_lost": False,
        "duration_s": 0.01,
        "files": [{"path": "out/a.txt", "size": 2, "data": base64.b64encode(b"hi").decode()}],
    }
    reply.update(changes)
    return reply


def encode(reply: dict[str, Any]) -> bytes:
    return frame(json.dumps(reply).encode())


# A behaviour: the request, and every request this kernel saw before it -> the bytes to
# send back, at once or in chunks (None: close the connection; b"": say nothing).
Behaviour = Callable[[dict[str, Any], list[dict[str, Any]]], bytes | Iterator[bytes] | None]

BAD_VALUES = [None, -1, 1.5, "x", [], {}, True, "ok" * 3000]
FIELD_CHANGES: list[dict[str, Any]] = [
    *(
        {key: value}
        for key in ("status", "id", "stdout", "files", "duration_s")
        for value in BAD_VALUES
    ),
    {"stdout_dropped": -5},
    {"status": "protocol_error"},
    {"duration_s": 1e400},  # inf is not JSON; json.dumps writes Infinity
    {"stdout": "x" * (LIMITS.output_bytes + 1000)},
    {"files": [{"path": "../../etc/passwd", "size": 2, "data": None}]},
    {"files": [{"path": "/etc/passwd", "size": 2, "data": None}]},
    {"files": [{"path": "a/./b", "size": 2, "data": None}]},
    {"files": [{"path": "a", "size": -2, "data": None}]},
    {"files": [{"path": "a", "size": 2, "data": "!!not base64!!"}]},
    {"files": [{"path": "a", "size": 9000, "data": base64.b64encode(b"x" * 9000).decode()}]},
    {"error": {"type": "E", "message": "m", "traceback": "t", "extra": 1}},
    {"extra_key": 1},
    {"op": "files"},
]


@st.composite
def behaviours(draw: st.DrawFn) -> tuple[str, Behaviour]:
    kind = draw(
        st.sampled_from(
            [
                "valid",
                "valid",
                "valid",
                "split",
                "wrong nonce",
                "previous reply",
                "two replies",
                "truncated then closed",
                "truncated then silent",
                "silent",
                "closed",
                "oversized frame header",
                "huge mux frame of garbage",
                "unknown mux stream",
                "stderr flood",
                "garbage bytes",
                "bad utf-8",
                "bad json",
                "not an object",
                "field changed",
                "key missing",
            ]
        )
    )
    junk = draw(st.binary(min_size=1, max_size=64))
    cut = draw(st.integers(min_value=1, max_value=200))
    change = draw(st.sampled_from(FIELD_CHANGES))
    missing = draw(st.sampled_from(sorted(run_reply({"nonce": "", "id": 0}))))
    pieces = draw(st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=6))

    def behave(request: dict[str, Any], seen: list[dict[str, Any]]) -> bytes | None:
        good = encode(run_reply(request))
        match kind:
            case "valid":
                return mux(STDOUT, good)
            case "split":  # one frame over many mux frames, with stderr in between
                out, rest = b"", good
                for size in itertools.cycle(pieces):
                    if not rest:
                        return out
                    out += mux(STDOUT, rest[:size]) + mux(STDERR, b"warning\n")
                    rest = rest[size:]
                return out
            case "wrong nonce":
                return mux(STDOUT, encode(run_reply(request, nonce="0" * 32)))
            case "previous reply":
                earlier = seen[-1] if seen else {**request, "nonce": "f" * 32}
                return mux(STDOUT, encode(run_reply(earlier)))
            case "two replies":
                return mux(STDOUT, good + good)
            case "truncated then closed":
                return mux(STDOUT, good[:cut]) + b"\0CLOSE"
            case "truncated then silent":
                return mux(STDOUT, good[:cut])
            case "silent":
                return b""
            case "closed":
                return None
            case "oversized frame header":
                return mux(STDOUT, FRAME.pack(600 * 1024 * 1024) + junk * 100)
            case "huge mux frame of garbage":
                return MUX.pack(STDOUT, 0xFFFFFFFF) + junk * 100
            case "unknown mux stream":
                return mux(3, good)
            case "stderr flood":
                return mux(STDERR, b"e" * (2 * 1024 * 1024))
            case "garbage bytes":
                return mux(STDOUT, frame(junk))
            case "bad utf-8":
                return mux(STDOUT, frame(b'{"op": "run", "x": "\xff\xfe"}'))
            case "bad json":
                return mux(STDOUT, frame(b'{"op": "run", '))
            case "not an object":
                return mux(STDOUT, frame(b"[1, 2, 3]"))
            case "field changed":
                return mux(STDOUT, encode(run_reply(request, **change)))
            case "key missing":
                reply = run_reply(request)
                del reply[missing]
                return mux(STDOUT, encode(reply))
        raise AssertionError(kind)

    return kind, behave


@dataclass
class Script:
    """What the fake kernels answer, in order, and what each request got."""

    behaviours: deque[tuple[str, Behaviour]]
    answered: dict[int, str] = field(default_factory=dict)
    """run id -> the behaviour that answered it."""


class FakeKernel:
    """A `Kernel` whose container is a thread at the far end of a socketpair."""

    ids = itertools.count()

    def __init__(self, script: Script, limits: SandboxLimits = LIMITS) -> None:
        host, self._far = socket.socketpair()
        self.channel = KernelChannel(host, limits)
        self.limits = limits
        self.id = f"fake-{next(self.ids)}"
        self.clean = True
        self._script = script
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def oom_killed(self) -> bool:
        return False

    def close(self) -> None:
        self.channel.close()
        self._thread.join(timeout=5)
        assert not self._thread.is_alive(), "the fake kernel did not stop"

    def _serve(self) -> None:
        seen: list[dict[str, Any]] = []
        buffer = b""
        try:
            while True:
                while (
                    len(buffer) < FRAME.size
                    or len(buffer) < FRAME.size + FRAME.unpack_from(buffer)[0]
                ):
                    data = self._far.recv(65536)
                    if not data:
                        return
                    buffer += data
                (size,) = FRAME.unpack_from(buffer)
                request = json.loads(buffer[FRAME.size : FRAME.size + size])
                buffer = buffer[FRAME.size + size :]
                kind, behave = self._script.behaviours.popleft()
                if request.get("op") == "run":
                    self._script.answered[request["id"]] = kind
                out = behave(request, seen)
                seen.append(request)
                if out is None:
                    return
                if not isinstance(out, bytes):
                    for chunk in out:
                        self._far.sendall(chunk)
                    continue
                closing = out.endswith(b"\0CLOSE")
                self._far.sendall(out.removesuffix(b"\0CLOSE"))
                if closing:
                    return
        except (OSError, IndexError):
            return  # the host closed its end, or the script ran out
        finally:
            self._far.close()


def new_session(script: Script) -> Session:
    return Session(FakeKernel(script), lambda: FakeKernel(script))  # type: ignore[arg-type]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
@given(st.lists(behaviours(), min_size=1, max_size=6))
def test_a_hostile_kernel_never_hangs_raises_or_misattributes(
    script_items: list[tuple[str, Behaviour]],
) -> None:
    script = Script(deque(script_items + [("valid", behaviours_valid)] * 8))
    session = new_session(script)
    try:
        for run_id in range(1, len(script_items) + 2):  # a session numbers its runs 1, 2, ...
            started = time.monotonic()
            result = session.run("code", timeout=RUN_TIMEOUT_S)  # never raises
            elapsed = time.monotonic() - started
            assert elapsed < DEADLINE_S + SLACK_S, (elapsed, script.answered.get(run_id))
            if result.ok:
                # Only ever the reply to this request: its result names this run's id.
                assert result.result == repr(f"r{run_id}"), (result, script.answered)
            else:
                assert result.status in (
                    ExecStatus.PROTOCOL_ERROR,
                    ExecStatus.TIMEOUT,
                    ExecStatus.CRASHED,
                ), result
                assert result.result is None and result.container_replaced
            kind = script.answered.get(run_id)
            if kind in ("valid", "split") and result.status is ExecStatus.PROTOCOL_ERROR:
                # A clean answer is refused only for what an earlier one left behind.
                assert result.error is not None and "outside a reply" in result.error.message
    finally:
        session.close()


def behaviours_valid(request: dict[str, Any], seen: list[dict[str, Any]]) -> bytes:
    return mux(STDOUT, encode(run_reply(request)))


def scripted(*kinds: Behaviour) -> Session:
    return new_session(Script(deque((k.__name__, k) for k in kinds)))


def test_a_valid_reply_in_pieces_is_accepted() -> None:
    with scripted(behaviours_valid, behaviours_valid) as session:
        first = session.run("code", timeout=1)
        second = session.run("code", timeout=1)
    assert first.ok and first.result == "'r1'" and first.stdout == "out\n"
    assert [(f.path, f.data) for f in first.files] == [("out/a.txt", b"hi")]
    assert second.ok and second.result == "'r2'"


def forged_first(request: dict[str, Any], seen: list[dict[str, Any]]) -> bytes:
    """What the shown attack produced: a forged frame ahead of the real reply."""
    forged = {"status": "ok", "result": "'forged'", "stdout": "", "stderr": "", "files": []}
    return mux(STDOUT, encode(forged) + encode(run_reply(request)))


def test_a_forged_frame_ahead_of_the_reply_is_a_protocol_error_and_nothing_shifts() -> None:
    with scripted(forged_first, behaviours_valid, behaviours_valid) as session:
        forged = session.run("code", timeout=1)
        later = [session.run("code", timeout=1) for _ in range(2)]
    assert forged.status is ExecStatus.PROTOCOL_ERROR and forged.container_replaced
    assert forged.result is None
    assert [r.result for r in later] == ["'r2'", "'r3'"]  # each its own, none shifted
    with pytest.raises(PythonRunError) as info:
        to_output(forged, LIMITS)  # what the python tool reports
    assert info.value.category is FailureCategory.EXECUTION_TOOL_ERROR
    assert "could not be trusted" in info.value.message and "replaced" in info.value.message
    assert "Files written by earlier calls are gone too." in info.value.message


def undecodable(request: dict[str, Any], seen: list[dict[str, Any]]) -> bytes:
    return mux(STDOUT, frame(b'{"status": "ok", "result": "\xff"}'))


def missing_status(request: dict[str, Any], seen: list[dict[str, Any]]) -> bytes:
    reply = run_reply(request)
    del reply["status"]
    return mux(STDOUT, encode(reply))


@pytest.mark.parametrize("behave", [undecodable, missing_status], ids=["utf-8", "missing key"])
def test_a_malformed_reply_is_a_protocol_error_not_a_traceback(behave: Behaviour) -> None:
    # Shown before the fix: UnicodeDecodeError and KeyError out of Session.run.
    with scripted(behave, behaviours_valid) as session:
        broken = session.run("code", timeout=1)
        after = session.run("code", timeout=1)
    assert broken.status is ExecStatus.PROTOCOL_ERROR
    assert broken.error is not None and "malformed" in broken.error.message
    assert after.ok and after.result == "'r2'"


STREAMED_BYTES = 64 * 1024 * 1024
ZEROS = bytes(64 * 1024)


def stream_after(header: bytes) -> Behaviour:
    """`header`, then 64 MiB of zeros (sent in chunks: this side holds 64 KiB)."""

    def behave(request: dict[str, Any], seen: list[dict[str, Any]]) -> Iterator[bytes]:
        yield header
        for _ in range(STREAMED_BYTES // len(ZEROS)):
            yield ZEROS

    return behave


@pytest.mark.parametrize(
    "header",
    [
        MUX.pack(STDOUT, 0xFFFFFFFF) + FRAME.pack(600 * 1024 * 1024),
        MUX.pack(STDOUT, 0xFFFFFFFF) + FRAME.pack(max_reply_bytes(LIMITS)),
        MUX.pack(STDERR, 0xFFFFFFFF),
    ],
    ids=["600 MiB frame header", "frame at the cap, then more", "endless stderr"],
)
def test_a_huge_stream_never_grows_host_memory_past_the_cap(header: bytes) -> None:
    # Shown before the fix: a 600 MiB stream grew the host process by ~600 MB.
    cap = max_reply_bytes(LIMITS)
    tracemalloc.start()
    try:
        with scripted(stream_after(header)) as session:
            result = session.run("code", timeout=5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.status is ExecStatus.PROTOCOL_ERROR, result
    assert peak < 2 * cap, f"peak {peak:,} bytes for a cap of {cap:,}"


def test_the_frame_cap_follows_the_limits() -> None:
    small = max_reply_bytes(SandboxLimits(output_bytes=1024, file_bytes=1024))
    more_output = max_reply_bytes(SandboxLimits(output_bytes=1024 * 1024, file_bytes=1024))
    more_files = max_reply_bytes(SandboxLimits(output_bytes=1024, file_bytes=3 * 1024 * 1024))
    assert more_output - small == 2 * (1024 * 1024 - 1024) * 6  # both streams, escaped
    assert more_files - small == 4 * 1024 * 1024 - 4 * 342  # base64 of the file bytes
    assert max_reply_bytes(SandboxLimits()) < 64 * 1024 * 1024


def test_files_refuses_a_hostile_listing() -> None:
    def listing(request: dict[str, Any], seen: list[dict[str, Any]]) -> bytes:
        files = [{"path": "../outside", "size": 1, "data": None}]
        return mux(STDOUT, encode({"op": "files", "nonce": request["nonce"], "files": files}))

    with scripted(listing) as session, pytest.raises(SandboxError, match="protocol"):
        session.files()
