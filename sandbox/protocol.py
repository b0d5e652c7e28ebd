"""The kernel's replies as the host accepts them: strict schemas, and the frame cap.

Everything that comes out of a container is untrusted. A reply must fit in
`max_reply_bytes(limits)`, parse as the model of the request it answers (strict
types, no unknown or missing keys, a status from the enum, sizes within the
session's limits, relative normalized file paths, base64 that decodes, counts
that are not negative) and carry that request's nonce (`KernelChannel.request`
checks the binding). Anything else is a `ProtocolViolation`, which the session
handles as a kernel crash.

The size constants mirror `kernel.py`, which cannot import this module.
"""

from __future__ import annotations

import base64
import binascii
import math
import posixpath
from typing import Annotated, Literal, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from agentlab.sandbox.limits import SandboxLimits

RESULT_REPR_CHARS = 10_000
TRACEBACK_CHARS = 6_000
MESSAGE_CHARS = 2_000
TYPE_CHARS = 200
MAX_LISTED_FILES = 2_000
MAX_PATH_CHARS = 512
MARKER_CHARS = 200
"""Room for the kernel's truncation markers ("[... 12 more bytes dropped ...]")."""
JSON_BYTES_PER_CHAR = 6
"""Worst case in the kernel's ASCII JSON: a control or non-ASCII character is \\u00XX."""
FILE_ENTRY_BYTES = 100
"""The JSON around one file entry, besides its path and data."""
REPLY_SLACK_BYTES = 64 * 1024


def max_reply_bytes(limits: SandboxLimits) -> int:
    """The largest reply frame a kernel under `limits` can legitimately send: both
    output streams at their cap, the longest result and error, the file bytes as
    base64 and the longest file listing, in the worst-case JSON encoding."""
    streams = 2 * (limits.output_bytes + MARKER_CHARS)
    texts = RESULT_REPR_CHARS + TRACEBACK_CHARS + MESSAGE_CHARS + TYPE_CHARS + 4 * MARKER_CHARS
    listing = MAX_LISTED_FILES * (MAX_PATH_CHARS * JSON_BYTES_PER_CHAR + FILE_ENTRY_BYTES)
    base64_bytes = 4 * math.ceil(limits.file_bytes / 3)
    return (streams + texts) * JSON_BYTES_PER_CHAR + base64_bytes + listing + REPLY_SLACK_BYTES


def _decode_base64(value: object) -> object:
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("file data is not base64") from exc
    return value


def _relative_path(value: str) -> str:
    """A path under the work dir, as the kernel lists it: relative and normalized."""
    parts = value.split("/")
    if (
        not value
        or "\x00" in value
        or value.startswith("/")
        or value == "."
        or ".." in parts
        or posixpath.normpath(value) != value
    ):
        raise ValueError(f"not a relative, normalized path: {value[:80]!r}")
    return value


Text = Annotated[str, Field(max_length=MESSAGE_CHARS + MARKER_CHARS)]
Count = Annotated[int, Field(ge=0)]
Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
RelativePath = Annotated[str, Field(max_length=MAX_PATH_CHARS), AfterValidator(_relative_path)]
Base64Data = Annotated[bytes, BeforeValidator(_decode_base64)]
KernelRunStatus = Literal[
    "ok", "error", "timeout", "memory_limit", "pids_limit", "output_limit", "disk_limit", "crashed"
]
"""What a kernel may report for a run (`ExecStatus` also has the host's own outcomes)."""
KernelGradeOutcome = Literal["passed", "failed", "code_failed", "timeout", "crashed"]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class ErrorInfo(_Strict):
    """An exception, as the kernel reports it."""

    type: Annotated[str, Field(max_length=TYPE_CHARS)]
    message: Text
    traceback: Annotated[str, Field(max_length=TRACEBACK_CHARS + MARKER_CHARS)] = ""


class FileEntry(_Strict):
    """A file under the work dir; `data` is None when it was over the byte budget."""

    path: RelativePath
    size: Count
    data: Base64Data | None


class KernelReply(_Strict):
    """What every reply carries: the op and the nonce of the request it answers."""

    op: str
    nonce: Annotated[str, Field(max_length=64)]


def _files_within(files: list[FileEntry], info: ValidationInfo) -> None:
    limits = _limits(info)
    sent = sum(len(f.data) for f in files if f.data is not None)
    if sent > limits.file_bytes:
        raise ValueError(f"{sent:,} bytes of files; the budget is {limits.file_bytes:,}")


def _limits(info: ValidationInfo) -> SandboxLimits:
    context = info.context or {}
    limits = context.get("limits")
    if not isinstance(limits, SandboxLimits):
        raise TypeError("validate kernel replies with context={'limits': SandboxLimits}")
    return limits


class RunReply(KernelReply):
    op: Literal["run"]
    id: int
    status: KernelRunStatus
    result: Annotated[str, Field(max_length=RESULT_REPR_CHARS + MARKER_CHARS)] | None
    error: ErrorInfo | None
    stdout: str
    stderr: str
    stdout_dropped: Count
    stderr_dropped: Count
    state_lost: bool
    duration_s: Seconds
    files: Annotated[list[FileEntry], Field(max_length=MAX_LISTED_FILES)]

    @model_validator(mode="after")
    def _within_limits(self, info: ValidationInfo) -> Self:
        cap = _limits(info).output_bytes + MARKER_CHARS
        for name, text in (("stdout", self.stdout), ("stderr", self.stderr)):
            if len(text) > cap:
                raise ValueError(f"{name} of {len(text):,} characters; the cap is {cap:,}")
        _files_within(self.files, info)
        return self


class FilesReply(KernelReply):
    op: Literal["files"]
    files: Annotated[list[FileEntry], Field(max_length=MAX_LISTED_FILES)]

    @model_validator(mode="after")
    def _within_limits(self, info: ValidationInfo) -> Self:
        _files_within(self.files, info)
        return self


class PingReply(KernelReply):
    op: Literal["ping"]
    pong: Literal[True]
    python: Annotated[str, Field(max_length=40)]
    pid: Annotated[int, Field(gt=0)]


class GradeReply(KernelReply):
    op: Literal["grade"]
    id: int
    outcome: KernelGradeOutcome
    error: ErrorInfo | None
    duration_s: Seconds


ReplyT = TypeVar("ReplyT", bound=KernelReply)


def parse_reply(
    frame: bytes | bytearray, reply_type: type[ReplyT], limits: SandboxLimits
) -> ReplyT:
    """The frame as `reply_type`; ValueError (with a short reason) when it is not one."""
    try:
        return reply_type.model_validate_json(frame, strict=True, context={"limits": limits})
    except ValidationError as exc:
        raise ValueError(_reason(exc)) from None


def _reason(exc: ValidationError) -> str:
    """The first problems, without the input (it may be huge, and it is untrusted)."""
    problems = exc.errors(include_input=False, include_url=False, include_context=False)
    shown = [
        f"{'.'.join(str(p) for p in problem['loc']) or 'frame'}: {problem['msg'][:120]}"
        for problem in problems[:3]
    ]
    more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
    return "; ".join(shown) + more
