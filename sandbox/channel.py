"""The host end of the kernel protocol: framed JSON over a container's attached stdio.

A frame is a 4-byte big-endian length and JSON, in both directions (the kernel
side is in `kernel.py`, which is copied alone into the image and so cannot share
this code). The container runs without a TTY, so what the engine sends back is
its multiplexed stream: 8-byte headers saying stdout or stderr and a length.
The kernel writes frames to stdout; its stderr is kept (a short tail) only to
explain a crash.

What comes back is untrusted. The stream is demultiplexed as it arrives, so no
engine header and no frame header can make the host hold more than one frame of
at most `max_reply_bytes(limits)`; every request carries a fresh nonce, and its
reply must be exactly one frame that validates as the request's reply model and
echoes that nonce (and the request's op and id). Anything else raises
`ProtocolViolation`, and the channel is dead from then on.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import select
import socket
import struct
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from docker.models.containers import Container

from agentlab.sandbox.limits import SandboxLimits
from agentlab.sandbox.protocol import ReplyT, max_reply_bytes, parse_reply

FRAME = struct.Struct(">I")
MUX_HEADER = struct.Struct(">BxxxI")
STDOUT, STDERR = 1, 2
STDERR_TAIL_BYTES = 4096
STDERR_BYTES_PER_REQUEST = 1024 * 1024
"""The kernel's stderr is its own tracebacks: more than this per request is a flood."""
RECV_BYTES = 256 * 1024


class ChannelError(Exception):
    """The channel to a kernel failed; the kernel must be replaced."""


class ChannelClosed(ChannelError):
    """The kernel's end went away (the container stopped or the kernel died)."""


class ChannelTimeout(ChannelError):
    """No reply arrived before the deadline."""


class ProtocolViolation(ChannelError):
    """What came back is not the reply to this request: malformed, oversized, out of
    order, or not bound to the request's nonce. Handled as a kernel crash."""


class FrameAssembler:
    """Kernel frames out of demultiplexed stdout bytes; a header announcing more than
    `limit` bytes is refused before any of its body is held."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.buffer = bytearray()
        self.frames: deque[bytearray] = deque()

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= FRAME.size:
            (size,) = FRAME.unpack_from(self.buffer)
            if size > self.limit:
                raise ProtocolViolation(
                    f"the kernel announced a reply of {size:,} bytes; the cap is {self.limit:,}"
                )
            end = FRAME.size + size
            if len(self.buffer) < end:
                return
            # The frame is handed over, not copied: only what follows it (at most one
            # read's worth) moves to a new buffer.
            rest = self.buffer[end:]
            del self.buffer[end:]
            del self.buffer[: FRAME.size]  # cheap: a bytearray drops its head in place
            self.frames.append(self.buffer)
            self.buffer = rest

    @property
    def idle(self) -> bool:
        """No frame and no part of one is held."""
        return not self.frames and not self.buffer


class Demultiplexer:
    """The engine's stream (8-byte header: stream and length, then the payload), split
    as it arrives: a payload is passed on in pieces, never gathered whole."""

    def __init__(self, on_stdout: Callable[[bytes], None], on_stderr: Callable[[bytes], None]):
        self._sinks = {STDOUT: on_stdout, STDERR: on_stderr}
        self._header = bytearray()
        self._stream = 0
        self._left = 0

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._left == 0:
                take = MUX_HEADER.size - len(self._header)
                self._header += view[:take]
                view = view[take:]
                if len(self._header) < MUX_HEADER.size:
                    return
                stream, size = MUX_HEADER.unpack(self._header)
                self._header.clear()
                if stream not in self._sinks:
                    raise ProtocolViolation(f"the engine's stream has a frame for stream {stream}")
                self._stream, self._left = stream, size
                continue
            piece = view[: self._left]
            view = view[len(piece) :]
            self._left -= len(piece)
            self._sinks[self._stream](bytes(piece))


class KernelChannel:
    """Send requests to the kernel and read its replies, with deadlines and a frame cap."""

    def __init__(self, sock: socket.socket, limits: SandboxLimits) -> None:
        self._sock = sock
        self.limits = limits
        self.max_frame = max_reply_bytes(limits)
        self._frames = FrameAssembler(self.max_frame)
        self._demux = Demultiplexer(self._frames.feed, self._on_stderr)
        self._stderr_seen = 0
        self._broken: str | None = None
        self.stderr_tail = bytearray()

    @classmethod
    def attach(cls, container: Container, limits: SandboxLimits) -> KernelChannel:
        """Attach to a running container's stdin, stdout and stderr."""
        wrapped = container.attach_socket(
            params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
        )
        # The SDK returns a SocketIO around the hijacked connection; use the socket.
        sock: socket.socket = getattr(wrapped, "_sock", wrapped)
        return cls(sock, limits)

    def request(self, message: dict[str, Any], reply_type: type[ReplyT], timeout: float) -> ReplyT:
        """Send `message` with a fresh nonce; its reply, validated and bound to it.

        Raises ChannelTimeout, ChannelClosed or ProtocolViolation (all ChannelError).
        """
        deadline = time.monotonic() + timeout
        if self._broken is not None:
            raise ProtocolViolation(f"the channel is dead: {self._broken}")
        try:
            self._expect_quiet()
            nonce = secrets.token_hex(16)
            self.send({**message, "nonce": nonce})
            frame = self._receive(deadline)
            if not self._frames.idle:
                raise ProtocolViolation("the kernel wrote more than one reply to a request")
            reply = self._bind(frame, message, nonce, reply_type)
        except ProtocolViolation as exc:
            self._broken = str(exc)
            raise
        return reply

    def send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message).encode("utf-8")
        try:
            self._sock.settimeout(30.0)
            self._sock.sendall(FRAME.pack(len(data)) + data)
        except OSError as exc:
            raise ChannelClosed(f"cannot write to the kernel: {exc}") from exc

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()

    def stderr_text(self) -> str:
        return self.stderr_tail.decode("utf-8", "replace")

    # -- machinery

    def _bind(
        self,
        frame: bytearray,
        message: dict[str, Any],
        nonce: str,
        reply_type: type[ReplyT],
    ) -> ReplyT:
        op = message["op"]
        try:
            reply = parse_reply(frame, reply_type, self.limits)
        except ValueError as exc:
            raise ProtocolViolation(f"the reply to {op!r} is malformed: {exc}") from None
        if not secrets.compare_digest(reply.nonce, nonce):
            raise ProtocolViolation(f"the reply to {op!r} does not carry the request's nonce")
        if reply.op != op or getattr(reply, "id", None) != message.get("id"):
            raise ProtocolViolation(f"the reply to {op!r} answers another request")
        return reply

    def _expect_quiet(self) -> None:
        """Between requests the kernel says nothing: what it wrote since the last reply
        (a second reply, a frame from anyone else) breaks the protocol."""
        self._stderr_seen = 0
        for _ in range(16):
            if not select.select([self._sock], [], [], 0)[0]:
                break
            if not self._read_once(0.5):
                break  # closed: the request itself reports it
        if not self._frames.idle:
            raise ProtocolViolation("the kernel wrote to its channel outside a reply")

    def _receive(self, deadline: float) -> bytearray:
        while not self._frames.frames:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChannelTimeout
            if not self._read_once(remaining):
                raise ChannelClosed("the kernel's output ended")
        return self._frames.frames.popleft()

    def _read_once(self, timeout: float) -> bool:
        """Read and demultiplex one chunk; False when the stream ended."""
        self._sock.settimeout(timeout)
        try:
            data = self._sock.recv(RECV_BYTES)
        except TimeoutError:
            raise ChannelTimeout from None
        except OSError as exc:
            raise ChannelClosed(f"the kernel connection failed: {exc}") from exc
        if data:
            self._demux.feed(data)
        return bool(data)

    def _on_stderr(self, data: bytes) -> None:
        self._stderr_seen += len(data)
        self.stderr_tail = (self.stderr_tail + data)[-STDERR_TAIL_BYTES:]
        if self._stderr_seen > STDERR_BYTES_PER_REQUEST:
            raise ProtocolViolation(
                f"the kernel wrote over {STDERR_BYTES_PER_REQUEST:,} bytes to stderr"
            )
