"""Reading a corpus folder into plain text, and cutting documents into overlapping chunks."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

SUFFIXES = frozenset({".md", ".markdown", ".txt", ".html", ".htm", ".pdf"})
"""File types the local index reads; anything else in the folder is ignored."""

MAX_FILE_BYTES = 20 * 1024 * 1024
"""Larger files are skipped: they are rarely documents and would dominate the index."""

_WORD_SPAN = re.compile(r"\S+")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.M)


@dataclass(frozen=True, slots=True)
class Document:
    """A file's text and title; `path` is relative to the corpus root, `/`-separated."""

    path: str
    title: str
    text: str


@dataclass(frozen=True, slots=True)
class Chunk:
    """A window of a document's words."""

    path: str
    title: str
    index: int
    text: str


class UnreadableDocumentError(ValueError):
    """A file of a supported type whose text could not be extracted."""


def corpus_files(root: Path) -> list[Path]:
    """Supported files under `root`, sorted by relative path; hidden files and folders (the
    index itself, `.git`) are skipped without being walked."""
    found: list[tuple[str, Path]] = []
    # os.walk with string paths: pathlib's per-file overhead dominated reopening a large corpus.
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        prefix = os.path.relpath(folder, root).replace(os.sep, "/")
        for name in names:
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in SUFFIXES:
                continue
            relative = name if prefix == "." else f"{prefix}/{name}"
            found.append((relative, Path(folder, name)))
    return [path for _, path in sorted(found, key=lambda item: item[0])]


def read_document(root: Path, path: Path) -> Document:
    """The text and title of one file."""
    relative = path.relative_to(root).as_posix()
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        title, text = _read_pdf(path)
    elif suffix in {".html", ".htm"}:
        title, text = _read_html(path.read_text(encoding="utf-8", errors="replace"))
    else:
        text = path.read_text(encoding="utf-8", errors="replace")
        title = _markdown_title(text) if suffix in {".md", ".markdown"} else _first_line(text)
    return Document(path=relative, title=title or path.stem, text=text)


def chunk_document(doc: Document, *, words: int, overlap: int) -> Iterator[Chunk]:
    """Windows of `words` words, each sharing `overlap` words with the one before.

    Chunks are slices of the original text, so line breaks survive for snippets.
    """
    spans = [m.span() for m in _WORD_SPAN.finditer(doc.text)]
    if not spans:
        return
    step = max(1, words - overlap)
    start = 0
    index = 0
    while True:
        end = min(start + words, len(spans))
        text = doc.text[spans[start][0] : spans[end - 1][1]]
        yield Chunk(path=doc.path, title=doc.title, index=index, text=text)
        if end == len(spans):
            return
        start += step
        index += 1


def _markdown_title(text: str) -> str:
    match = _MD_HEADING.search(text)
    return match.group(1).strip() if match else _first_line(text)


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:120]
    return ""


class _TextExtractor(HTMLParser):
    """Visible text of an HTML page; script and style contents are dropped."""

    _SKIP = frozenset({"script", "style", "noscript", "template"})
    _BLOCK = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self.heading = ""
        self._stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._stack.append(tag)
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._stack:
            # Pop to the matching tag: real pages leave tags such as <p> unclosed.
            while self._stack and self._stack.pop() != tag:
                pass
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if any(tag in self._SKIP for tag in self._stack):
            return
        if "title" in self._stack:
            self.title += data
            return
        if "h1" in self._stack and not self.heading:
            self.heading = data.strip()
        self.parts.append(data)


def _read_html(source: str) -> tuple[str, str]:
    parser = _TextExtractor()
    parser.feed(source)
    parser.close()
    text = re.sub(r"[ \t]*\n\s*", "\n", "".join(parser.parts)).strip()
    return " ".join(parser.title.split()) or parser.heading, text


def _read_pdf(path: Path) -> tuple[str, str]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(path)
        pages = [page.extract_text() or "" for page in reader.pages]
        title = str(reader.metadata.title or "") if reader.metadata else ""
    except (PyPdfError, ValueError, KeyError, OSError) as exc:
        raise UnreadableDocumentError(f"{path.name}: {exc}") from exc
    text = "\n\n".join(pages).strip()
    if not text:
        raise UnreadableDocumentError(f"{path.name}: no text layer (a scanned PDF needs OCR)")
    return title or _first_line(text), text
