"""The host end of the kernel protocol: framed JSON over a container's attached stdio.

A frame is a 4-byte big-endian length and UTF-8 JSON, in both directions (the
kernel side is in `kernel.py`, which is copied alone into the image and so
cannot share this code). The container runs without a TTY, so what the engine
sends back is its multiplexed stream: 8-byte headers saying stdout or stderr and
a length. The kernel writes frames to stdout; its stderr is kept (a short tail)
only to explain a crash.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import time
from typing import Any

from docker.models.containers import Container

FRAME = struct.Struct(">I")
MUX_HEADER = struct.Struct(">BxxxI")
STDOUT, STDERR = 1, 2
STDERR_TAIL_BYTES = 4096


class ChannelClosed(Exception):
    """The kernel's end went away (the container stopped or the kernel died)."""


class ChannelTimeout(Exception):
    """No reply arrived before the deadline."""


class KernelChannel:
    """Send requests to the kernel and read its replies, with deadlines."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._pending = bytearray()  # raw bytes from the engine, not yet demultiplexed
        self._stdout = bytearray()  # demultiplexed kernel stdout, not yet a full frame
        self.stderr_tail = bytearray()

    @classmethod
    def attach(cls, container: Container) -> KernelChannel:
        """Attach to a running container's stdin, stdout and stderr."""
        wrapped = container.attach_socket(
            params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
        )
        # The SDK returns a SocketIO around the hijacked connection; use the socket.
        sock: socket.socket = getattr(wrapped, "_sock", wrapped)
        return cls(sock)

    def send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message).encode("utf-8")
        try:
            self._sock.settimeout(30.0)
            self._sock.sendall(FRAME.pack(len(data)) + data)
        except OSError as exc:
            raise ChannelClosed(f"cannot write to the kernel: {exc}") from exc

    def receive(self, deadline: float) -> dict[str, Any]:
        """The next reply frame; raises ChannelTimeout at `deadline` (time.monotonic)."""
        while True:
            frame = self._take_frame()
            if frame is not None:
                result: dict[str, Any] = json.loads(frame.decode("utf-8"))
                return result
            self._read_more(deadline)

    def request(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.send(message)
        return self.receive(time.monotonic() + timeout)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()

    def stderr_text(self) -> str:
        return self.stderr_tail.decode("utf-8", "replace")

    def _take_frame(self) -> bytes | None:
        if len(self._stdout) < FRAME.size:
            return None
        (size,) = FRAME.unpack_from(self._stdout)
        end = FRAME.size + size
        if len(self._stdout) < end:
            return None
        frame = bytes(self._stdout[FRAME.size : end])
        del self._stdout[:end]
        return frame

    def _read_more(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ChannelTimeout
        self._sock.settimeout(remaining)
        try:
            data = self._sock.recv(1 << 20)
        except TimeoutError:
            raise ChannelTimeout from None
        except OSError as exc:
            raise ChannelClosed(f"the kernel connection failed: {exc}") from exc
        if not data:
            raise ChannelClosed("the kernel's output ended")
        self._pending += data
        self._demultiplex()

    def _demultiplex(self) -> None:
        while len(self._pending) >= MUX_HEADER.size:
            stream, size = MUX_HEADER.unpack_from(self._pending)
            end = MUX_HEADER.size + size
            if len(self._pending) < end:
                return
            payload = self._pending[MUX_HEADER.size : end]
            del self._pending[:end]
            if stream == STDOUT:
                self._stdout += payload
            elif stream == STDERR:
                self.stderr_tail = (self.stderr_tail + payload)[-STDERR_TAIL_BYTES:]
