"""Turning a corpus file's bytes into plain text, and cutting documents into overlapping chunks.

The bytes are untrusted (a corpus file may be hostile), so every step is linear in its
input and bounded: HTML goes through libxml2's parser (lxml) in streaming mode, PDFs
through pypdf with page, time and text limits, and the text is cleaned of control
characters and runs of whitespace before it is chunked, so no title, chunk or snippet
can carry a terminal escape or grow without bound.
"""

from __future__ import annotations

import bisect
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path, PurePosixPath
from typing import Any

from agentlab.tools.search.corpus import (
    MAX_FILE_BYTES,
    UNSAFE_CHARS,
    FileSkippedError,
    SkipReason,
    printable,
    read_corpus_file,
)

MAX_TEXT_CHARS = MAX_FILE_BYTES
"""Text kept of one document (a small PDF can expand to far more text than its size)."""

MAX_PDF_PAGES = 2000
"""Pages of a PDF that are read; the rest is left out."""

PDF_SECONDS = 30.0
"""Time after which a PDF's remaining pages are left out (checked after each page)."""

BINARY_DETAIL = "binary data (NUL bytes), not text; UTF-16 text must be saved as UTF-8"

MAX_TITLE_CHARS = 200
MAX_WORD_CHARS = 128
"""Longer runs of non-space characters count as several words, so a chunk stays bounded."""

_WORD_SPAN = re.compile(rf"\S{{1,{MAX_WORD_CHARS}}}")
# Linear by construction: anchored at line starts, every repetition bounded.
_MD_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+([^\n]{1,300})", re.M)
_MD_CLOSING = re.compile(r"[ \t]+#+[ \t]*$")
# UNSAFE_CHARS but for the line break; a tab becomes a space like any other run of blanks.
_UNSAFE_IN_TEXT = re.compile(
    r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_SPACES = re.compile(r"[^\S\n]+")
_LINE_EDGE = re.compile(r" ?\n ?")
_BLANK_LINES = re.compile(r"\n{3,}")

# pypdf's warnings quote the file's own bytes (names, values); with no handler anywhere,
# Python's last-resort handler would print them, escapes included, on the user's terminal.
logging.getLogger("pypdf").addHandler(logging.NullHandler())


@dataclass(frozen=True, slots=True)
class Document:
    """A file's text and title; `path` is relative to the corpus root, `/`-separated."""

    path: str
    title: str
    text: str
    headings: tuple[tuple[int, str], ...] = ()
    """Where each section starts in `text` and its heading (Markdown), in order."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """A window of a document's words."""

    path: str
    title: str
    index: int
    text: str
    heading: str = ""
    """The heading of the section the chunk's middle lies in; empty when none (the text
    before a document's first heading, formats without headings)."""


class UnreadableDocumentError(FileSkippedError):
    """A file of a supported type whose text could not be extracted."""

    def __init__(self, detail: str) -> None:
        super().__init__(SkipReason.UNREADABLE, printable(detail))


def read_document(root: Path, path: Path) -> Document:
    """The text and title of the file at `path` under `root`, read without following links.

    Raises `FileSkippedError` (or its `UnreadableDocumentError`) for a file left out.
    """
    relative = path.relative_to(root).as_posix()
    return parse_document(relative, read_corpus_file(root, relative))


def parse_document(path: str, data: bytes) -> Document:
    """The text and title of a file's bytes; `path` (relative) decides the format."""
    name = PurePosixPath(path)
    suffix = name.suffix.lower()
    if suffix == ".pdf":
        title, text = _read_pdf(data)
    elif b"\x00" in data:
        # Text never holds NUL; decoding an image or archive would index garbage.
        raise FileSkippedError(SkipReason.BINARY, BINARY_DETAIL)
    elif suffix in {".html", ".htm"}:
        title, text = _read_html(data.decode("utf-8", errors="replace"))
    else:
        text = clean_text(data.decode("utf-8", errors="replace"))
        if suffix in {".md", ".markdown"}:
            headings = markdown_headings(text)
            title = headings[0][1] if headings else _first_line(text)
            return Document(path, _clean_title(title) or name.stem, text, headings)
        title = _first_line(text)
    return Document(path=path, title=_clean_title(title) or name.stem, text=text)


def markdown_headings(text: str) -> tuple[tuple[int, str], ...]:
    """Each Markdown heading of `text` with the offset where its section starts."""
    found = []
    for match in _MD_HEADING.finditer(text):
        heading = _clean_title(_MD_CLOSING.sub("", match.group(1)))
        if heading:
            found.append((match.start(), heading))
    return tuple(found)


def clean_text(text: str) -> str:
    """`text` without control characters, with runs of spaces as one and at most one blank
    line in a row; cut to `MAX_TEXT_CHARS`."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _UNSAFE_IN_TEXT.sub(" ", text)
    text = _SPACES.sub(" ", text)
    text = _LINE_EDGE.sub("\n", text)
    return _BLANK_LINES.sub("\n\n", text).strip()[:MAX_TEXT_CHARS]


def chunk_document(doc: Document, *, words: int, overlap: int) -> Iterator[Chunk]:
    """Windows of `words` words, each sharing `overlap` words with the one before.

    Chunks are slices of the original text, so line breaks survive for snippets.
    """
    spans = [m.span() for m in _WORD_SPAN.finditer(doc.text)]
    if not spans:
        return
    step = max(1, words - overlap)
    starts = [offset for offset, _ in doc.headings]
    start = 0
    index = 0
    while True:
        end = min(start + words, len(spans))
        first, last = spans[start][0], spans[end - 1][1]
        section = bisect.bisect_right(starts, (first + last) // 2) - 1
        heading = doc.headings[section][1] if section >= 0 else ""
        text = doc.text[first:last]
        yield Chunk(path=doc.path, title=doc.title, index=index, text=text, heading=heading)
        if end == len(spans):
            return
        start += step
        index += 1


def _first_line(text: str) -> str:
    return text[: MAX_TITLE_CHARS * 4].lstrip().partition("\n")[0].strip()[:120]


def _clean_title(title: str) -> str:
    flat = " ".join(UNSAFE_CHARS.sub(" ", title[: MAX_TITLE_CHARS * 4]).split())
    return flat[:MAX_TITLE_CHARS]


class _TextTarget:
    """Receives lxml's parse events and keeps the visible text; scripts and styles are dropped.

    libxml2 closes unclosed tags itself and reports every end, so counters replace the
    stack of open tags that made the old extractor quadratic on unclosed tags.
    """

    _SKIP = frozenset({"script", "style", "noscript", "template"})
    _BLOCK = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table"})

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.title: list[str] = []
        self.heading: list[str] = []
        self._title_chars = 0
        self._heading_chars = 0
        self._skipping = 0
        self._in_title = 0
        self._in_h1 = 0
        self._h1_seen = False

    def start(self, tag: str, attrib: Any) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag == "title":
            self._in_title += 1
        elif tag == "h1":
            self._in_h1 += 1
        if tag in self._BLOCK:
            self.parts.append("\n")

    def end(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag == "title":
            self._in_title = max(0, self._in_title - 1)
        elif tag == "h1":
            self._in_h1 = max(0, self._in_h1 - 1)
            self._h1_seen = True
        if tag in self._BLOCK:
            self.parts.append("\n")

    def data(self, data: str) -> None:
        if self._skipping:
            return
        if self._in_title:
            if self._title_chars < MAX_TITLE_CHARS * 4:
                self.title.append(data)
                self._title_chars += len(data)
            return
        if self._in_h1 and not self._h1_seen and self._heading_chars < MAX_TITLE_CHARS * 4:
            self.heading.append(data)
            self._heading_chars += len(data)
        self.parts.append(data)

    def close(self) -> _TextTarget:
        return self


def _read_html(source: str) -> tuple[str, str]:
    from lxml import etree

    target = _TextTarget()
    parser = etree.HTMLParser(target=target, no_network=True)
    try:
        parser.feed(source)
        parser.close()
    except (etree.LxmlError, ValueError) as exc:
        raise UnreadableDocumentError(f"HTML: {exc}") from exc
    title = "".join(target.title) or "".join(target.heading)
    return title, clean_text("".join(target.parts))


def _read_pdf(data: bytes) -> tuple[str, str]:
    from pypdf import PdfReader

    pages: list[str] = []
    chars = 0
    deadline = time.monotonic() + PDF_SECONDS
    try:
        reader = PdfReader(BytesIO(data))
        for number, page in enumerate(reader.pages):
            text = page.extract_text() or ""
            pages.append(text)
            chars += len(text)
            if (
                number + 1 >= MAX_PDF_PAGES
                or chars >= MAX_TEXT_CHARS
                or time.monotonic() > deadline
            ):
                break
        title = str(reader.metadata.title or "") if reader.metadata else ""
    # pypdf on a malformed file raises far more than its own errors (IndexError, TypeError,
    # RecursionError...); any of them means this one file is unreadable, never the build.
    except Exception as exc:
        raise UnreadableDocumentError(f"PDF: {type(exc).__name__}: {exc}") from None
    text = clean_text("\n\n".join(pages))
    if not text:
        raise UnreadableDocumentError("PDF without a text layer (a scanned PDF needs OCR)")
    return title or _first_line(text), text
