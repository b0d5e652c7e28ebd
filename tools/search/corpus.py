"""Finding and reading the files of a corpus folder without trusting what is in it.

A corpus is untrusted input: whoever can write into the folder can plant symbolic links
out of it, FIFOs and devices that block a reader forever, files that grow or change while
they are read, and names that carry terminal escapes. So the folder is walked through
directory descriptors, never following a link (`O_NOFOLLOW` on every component, and each
entry is checked with `lstat` before anything opens it); a file is opened without following
links and without blocking (`O_NONBLOCK`), checked again on the open descriptor (`fstat`:
a regular file, under the size cap) so a swap between the check and the open cannot trick
the reader, and read up to the cap only. Every file left out is reported as a
`SkippedFile` with a reason, never raised: one bad file never stops a build.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

SUFFIXES = frozenset({".md", ".markdown", ".txt", ".html", ".htm", ".pdf"})
"""File types the local index reads; anything else in the folder is ignored."""

MAX_FILE_BYTES = 20 * 1024 * 1024
"""Larger files are skipped: they are rarely documents and would dominate the index."""

MAX_DEPTH = 32
"""Folders nested deeper are not walked (each level holds an open descriptor)."""

_SUFFIX_ENDINGS = tuple(SUFFIXES)
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
_READ_BLOCK = 1 << 20

UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
"""Control characters (terminal escapes), bidirectional overrides (text that displays
differently from what it is) and lone surrogates (a name that is not UTF-8)."""


class SkipReason(StrEnum):
    """Why a file of the corpus is not in the index."""

    LINK_OUTSIDE = "link_outside"
    """A symbolic link whose target is outside the corpus."""
    LINK = "link"
    """A symbolic link inside the corpus: not followed, its target is indexed under its own path."""
    NOT_REGULAR = "not_regular"
    """A FIFO, socket or device: reading it could block or never end."""
    TOO_LARGE = "too_large"
    """Larger than `MAX_FILE_BYTES`."""
    TOO_DEEP = "too_deep"
    """A folder nested deeper than `MAX_DEPTH`."""
    UNSAFE_NAME = "unsafe_name"
    """A name with control characters, bidirectional overrides, or bytes that are not UTF-8."""
    CHANGED = "changed"
    """Replaced, grown or removed while it was being read."""
    UNREADABLE = "unreadable"
    """Could not be opened, or its text could not be extracted."""
    BINARY = "binary"
    """Named like a text file but holding binary data (NUL bytes: an image, an archive,
    UTF-16 text)."""


@dataclass(frozen=True, slots=True)
class SkippedFile:
    """A file (or folder) left out of the index, and why; `path` is printable and relative."""

    path: str
    reason: SkipReason
    detail: str
    """One line for people, printable (no control characters)."""

    def to_json(self) -> dict[str, str]:
        """The record as a JSON object."""
        return {"path": self.path, "reason": self.reason.value, "detail": self.detail}

    @classmethod
    def from_json(cls, record: dict[str, str]) -> SkippedFile:
        """The record `to_json` wrote."""
        return cls(record["path"], SkipReason(record["reason"]), record["detail"])


class FileSkippedError(Exception):
    """Raised by the reader for a file that must be left out; the build records it."""

    def __init__(self, reason: SkipReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail

    def record(self, relative: str) -> SkippedFile:
        """The `SkippedFile` for the file at `relative` this error was raised for."""
        return _skip(relative, self.reason, self.detail)


@dataclass(frozen=True, slots=True)
class CorpusFile:
    """A regular file of a supported type, as the walk saw it (`lstat`)."""

    path: str
    """Relative to the corpus root, `/`-separated; every component is a safe name."""
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class CorpusScan:
    """What walking a corpus found: files to read, sorted by path, and what was left out."""

    files: tuple[CorpusFile, ...]
    skipped: tuple[SkippedFile, ...]


def printable(text: str, limit: int = 300) -> str:
    """`text` with unsafe characters written as escapes (`\\x1b`), cut to `limit` characters."""
    shown = UNSAFE_CHARS.sub(lambda m: ascii(m.group())[1:-1], text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def scan_corpus(root: Path) -> CorpusScan:
    """Supported files under `root` (a resolved folder); hidden files and folders (the index
    itself, `.git`) and other file types are ignored without being reported."""
    skipped: list[SkippedFile] = []
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        files = sorted(_walk(root, root_fd, "", 0, skipped), key=lambda f: f.path)
    finally:
        os.close(root_fd)
    skipped.sort(key=lambda s: s.path)
    return CorpusScan(files=tuple(files), skipped=tuple(skipped))


def _walk(
    root: Path, folder_fd: int, prefix: str, depth: int, skipped: list[SkippedFile]
) -> Iterator[CorpusFile]:
    with os.scandir(folder_fd) as entries:
        listing = sorted(entries, key=lambda e: e.name)
    for entry in listing:
        name = entry.name
        if name.startswith("."):
            continue
        relative = f"{prefix}{name}"
        if not _folder_or_link_to_one(entry) and not name.lower().endswith(_SUFFIX_ENDINGS):
            continue
        if UNSAFE_CHARS.search(name):
            skipped.append(_skip(relative, SkipReason.UNSAFE_NAME, "unsafe characters in name"))
            continue
        try:
            info = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
        except OSError as exc:
            skipped.append(_skip(relative, SkipReason.CHANGED, f"vanished: {exc.strerror}"))
            continue
        if stat.S_ISLNK(info.st_mode):
            skipped.append(_link(root, relative))
        elif stat.S_ISDIR(info.st_mode):
            yield from _walk_folder(root, folder_fd, name, relative, info, depth, skipped)
        elif not stat.S_ISREG(info.st_mode):
            skipped.append(_skip(relative, SkipReason.NOT_REGULAR, _kind(info.st_mode)))
        elif info.st_size > MAX_FILE_BYTES:
            skipped.append(_too_large(relative))
        else:
            yield CorpusFile(path=relative, size=info.st_size, mtime_ns=info.st_mtime_ns)


def _folder_or_link_to_one(entry: os.DirEntry[str]) -> bool:
    # is_dir() follows a link (a stat, no open), so links to folders are reported too.
    try:
        return entry.is_dir()
    except OSError:  # a loop of links
        return False


def _walk_folder(
    root: Path,
    parent_fd: int,
    name: str,
    relative: str,
    seen: os.stat_result,
    depth: int,
    skipped: list[SkippedFile],
) -> Iterator[CorpusFile]:
    if depth + 1 >= MAX_DEPTH:
        skipped.append(_skip(relative, SkipReason.TOO_DEEP, f"nested over {MAX_DEPTH} levels"))
        return
    try:
        folder_fd = os.open(name, _OPEN_FLAGS | os.O_DIRECTORY, dir_fd=parent_fd)
    except OSError as exc:
        skipped.append(_open_failure(relative, exc, is_link=_is_link(name, parent_fd)))
        return
    try:
        if os.path.samestat(seen, os.fstat(folder_fd)):
            yield from _walk(root, folder_fd, f"{relative}/", depth + 1, skipped)
        else:
            skipped.append(_skip(relative, SkipReason.CHANGED, "replaced while being walked"))
    finally:
        os.close(folder_fd)


def read_corpus_file(root: Path, relative: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the regular file at `relative` under `root`, at most `limit` of them.

    Raises `FileSkippedError` when a component is a link, the file is not a regular file,
    is larger than `limit`, or changes while it is read.
    """
    fd = _open_beneath(root, relative)
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            raise FileSkippedError(SkipReason.NOT_REGULAR, _kind(before.st_mode))
        if before.st_size > limit:
            raise FileSkippedError(SkipReason.TOO_LARGE, _too_large(relative).detail)
        # One byte past the size seen: a file that grows is noticed without reading on.
        data = _read_at_most(fd, before.st_size + 1)
        after = os.fstat(fd)
    finally:
        os.close(fd)
    if len(data) != before.st_size or (after.st_size, after.st_mtime_ns) != (
        before.st_size,
        before.st_mtime_ns,
    ):
        raise FileSkippedError(SkipReason.CHANGED, "changed while being read")
    return data


def _open_beneath(root: Path, relative: str) -> int:
    """A descriptor of `relative` opened one component at a time, following no link."""
    parts = relative.split("/")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    for depth, part in enumerate(parts):
        folder = os.O_DIRECTORY if depth < len(parts) - 1 else 0
        try:
            next_fd = os.open(part, _OPEN_FLAGS | folder, dir_fd=fd)
        except OSError as exc:
            failure = _open_failure(relative, exc, is_link=_is_link(part, fd))
            raise FileSkippedError(failure.reason, failure.detail) from None
        finally:
            os.close(fd)
        fd = next_fd
    return fd


def _is_link(name: str, folder_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=folder_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _read_at_most(fd: int, limit: int) -> bytes:
    parts: list[bytes] = []
    remaining = limit
    while remaining > 0:
        block = os.read(fd, min(_READ_BLOCK, remaining))
        if not block:
            break
        parts.append(block)
        remaining -= len(block)
    return b"".join(parts)


def _open_failure(relative: str, exc: OSError, *, is_link: bool) -> SkippedFile:
    if is_link or exc.errno == errno.ELOOP:
        # O_NOFOLLOW met a link that was not there when the folder was walked.
        return _skip(relative, SkipReason.LINK, "became a symbolic link while being read")
    if exc.errno in {errno.ENOENT, errno.ENOTDIR}:
        return _skip(relative, SkipReason.CHANGED, "removed or replaced while being read")
    if exc.errno == errno.ENXIO:
        return _skip(relative, SkipReason.NOT_REGULAR, "a socket or device, not a regular file")
    return _skip(relative, SkipReason.UNREADABLE, exc.strerror or "cannot be opened")


def _link(root: Path, relative: str) -> SkippedFile:
    target = Path(os.path.realpath(root / relative))
    if not target.is_relative_to(root):
        return _skip(relative, SkipReason.LINK_OUTSIDE, "symbolic link out of the corpus")
    return _skip(
        relative, SkipReason.LINK, "symbolic link (not followed; its target is read in place)"
    )


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO, not a regular file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a regular file"
    return "not a regular file"


def _too_large(relative: str) -> SkippedFile:
    return _skip(relative, SkipReason.TOO_LARGE, f"larger than {MAX_FILE_BYTES >> 20} MiB")


def _skip(relative: str, reason: SkipReason, detail: str) -> SkippedFile:
    return SkippedFile(path=printable(relative), reason=reason, detail=printable(detail))
