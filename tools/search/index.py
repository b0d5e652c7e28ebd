"""The local backend: a BM25 index (bm25s) over a folder of documents, built once and stored.

Layout of an index store (beside the corpus in `.agentlab-index/`, or under
`AGENTLAB_HOME/index/` when the corpus folder is read-only or installed):

    files.json          size, mtime and sha256 of every file, so unchanged files are not re-read
    <key>/              one immutable build; key = hash of the files' contents and the settings
        manifest.json   written last: a folder without it is an unfinished build
        chunks.json     path, title, chunk number, text and section heading of every chunk
        *.index.*       the bm25s matrices

A build goes to a temporary folder and is renamed into place under a file lock,
so parallel eval workers never read half an index and build it only once. The store
is used only when it is a real folder of ours that nobody else can write (not a
symbolic link planted in the corpus), since builds write and remove folders in it.
bm25s was chosen over SQLite FTS5 by measurement (docs/benchmarks.md, Search):
both found the same documents on the shipped question set, and bm25s answered
queries on 10,000 chunks about a hundred times faster.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import shutil
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from agentlab import settings
from agentlab.errors import ConfigError
from agentlab.tools.search.corpus import (
    SUFFIXES,
    CorpusFile,
    FileSkippedError,
    SkippedFile,
    SkipReason,
    read_corpus_file,
    scan_corpus,
)
from agentlab.tools.search.documents import Chunk, chunk_document, parse_document
from agentlab.tools.search.results import SNIPPET_CHARS, DocHit, clip_snippet

if TYPE_CHECKING:
    import bm25s

INDEX_DIR_NAME = ".agentlab-index"
FORMAT_VERSION = 4
"""Bump when the tokenizer, chunking or stored layout changes: every index then rebuilds."""

DEFAULT_CHUNK_WORDS = 120
DEFAULT_OVERLAP_WORDS = 30

# Common English words carry no signal for BM25 and only slow queries down.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself
    yourselves""".split()  # noqa: SIM905 - a paragraph of words reads better than 130 quoted ones
)
_TOKEN = re.compile(r"[^\W_]+")
_BLOCK_START = re.compile(r"^\s*(?:[-*+|#>]|\d+[.)]\s)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(*])")


def stem(word: str) -> str:
    """Harman's S-stemmer: plurals to singular. Light on purpose; it never merges unrelated words."""
    if len(word) <= 3:
        return word
    if word.endswith("ies") and not word.endswith(("eies", "aies")):
        return word[:-3] + "y"
    if word.endswith("es") and not word.endswith(("aes", "ees", "oes")):
        return word[:-1]
    if word.endswith("s") and not word.endswith(("us", "ss")):
        return word[:-1]
    return word


@functools.lru_cache(maxsize=1 << 18)
def _term(word: str) -> str:
    # Memoised: stemming every occurrence was most of the build time (a corpus repeats words).
    return "" if word in STOPWORDS else stem(word)


def tokenize(text: str) -> list[str]:
    """Lower-cased, stemmed words without stopwords; the same for documents and queries."""
    return [term for word in _TOKEN.findall(text.lower()) if (term := _term(word))]


@dataclass(frozen=True, slots=True)
class IndexStatus:
    """What opening an index did."""

    location: Path
    """The folder of the build in use."""
    built: bool
    """False when a stored build matched the corpus and was reused."""
    files: int
    chunks: int
    seconds: float
    skipped: tuple[SkippedFile, ...] = ()
    """Files of a supported type (and folders) left out of the build, each with its reason."""


@dataclass(frozen=True, slots=True)
class IndexProgress:
    """How far opening an index has got: reported per file while files are read."""

    stage: Literal["hashing", "indexing"]
    """`hashing`: new or changed files are read to see whether the index is current;
    `indexing`: a new build reads, parses and chunks every file."""
    done: int
    """Files of this stage finished."""
    total: int
    """Files this stage reads."""
    chunks: int = 0
    """Chunks made so far (indexing)."""


ProgressCallback = Callable[[IndexProgress], None]
"""Receives an `IndexProgress` after each file a stage reads."""


def _quiet(_: IndexProgress) -> None:
    pass


@dataclass(frozen=True, slots=True)
class _Loaded:
    key: str
    retriever: bm25s.BM25
    chunks: list[Chunk]
    vocabulary: frozenset[str]


def index_location(corpus: Path) -> Path:
    """Where the index of `corpus` is stored: beside it, unless that folder must not be written."""
    corpus = corpus.resolve()
    if not _inside_installed_packages(corpus) and _writable(corpus / INDEX_DIR_NAME):
        return corpus / INDEX_DIR_NAME
    digest = hashlib.sha256(str(corpus).encode()).hexdigest()[:16]
    return settings.home() / "index" / f"{corpus.name}-{digest}"


def _inside_installed_packages(path: Path) -> bool:
    # Even when root could write there, an index must not land inside an installed package.
    return any(part in {"site-packages", "dist-packages"} for part in path.parts)


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(mode=0o755, exist_ok=True)
        if store_problem(folder):
            return False
        probe = folder / f".probe-{os.getpid()}-{threading.get_ident()}"
        probe.touch()
        probe.unlink()
    except OSError:
        return False
    return True


def store_problem(folder: Path) -> str | None:
    """Why `folder` must not hold an index, or None: it must be a real folder (not a link)
    owned by the current user and writable by nobody else, because builds remove folders
    in it and later searches trust what it holds."""
    try:
        info = folder.lstat()
    except OSError as exc:
        return f"cannot be inspected ({exc.strerror})"
    if stat.S_ISLNK(info.st_mode):
        return "is a symbolic link"
    if not stat.S_ISDIR(info.st_mode):
        return "is not a folder"
    if info.st_uid != os.geteuid():
        return "belongs to another user"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "is writable by other users"
    return None


class LocalIndex:
    """A BM25 index over the documents in `corpus`; opened (loaded or built) on first search."""

    def __init__(
        self,
        corpus: str | Path,
        *,
        store: str | Path | None = None,
        chunk_words: int = DEFAULT_CHUNK_WORDS,
        overlap_words: int = DEFAULT_OVERLAP_WORDS,
    ) -> None:
        self.corpus = Path(corpus).expanduser().resolve()
        if not self.corpus.is_dir():
            raise ConfigError(f"corpus folder {self.corpus} does not exist or is not a folder")
        if chunk_words < 1 or not 0 <= overlap_words < chunk_words:
            raise ConfigError(
                f"chunks need at least one word and an overlap below the chunk size; got "
                f"chunk_words={chunk_words}, overlap_words={overlap_words}"
            )
        self.chunk_words = chunk_words
        self.overlap_words = overlap_words
        self._store = Path(store).expanduser() if store is not None else None
        self._loaded: _Loaded | None = None
        self._lock = threading.Lock()

    @property
    def store(self) -> Path:
        """The folder holding this corpus's builds."""
        if self._store is None:
            self._store = index_location(self.corpus)
        return self._store

    def open(self, progress: ProgressCallback | None = None) -> IndexStatus:
        """Check the corpus against the stored build; load it, or build a new one if files
        changed. `progress` hears of every file read (new or changed files, then a build's)."""
        with self._lock:
            started = time.perf_counter()
            for attempt in range(3):
                try:
                    return self._open(started, progress or _quiet)
                except FileNotFoundError:
                    # Another process replaced the build we were about to read (its files
                    # changed meanwhile): look again.
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _open(self, started: float, progress: ProgressCallback) -> IndexStatus:
        self._prepare_store()
        scan = scan_corpus(self.corpus)
        fingerprints, unreadable = self._fingerprints(scan.files, progress)
        left_out = sorted([*scan.skipped, *unreadable], key=lambda s: s.path)
        key = self._key(fingerprints, left_out)
        folder = self.store / key
        built = False
        if not (folder / "manifest.json").is_file():
            with _file_lock(self.store / ".lock"):
                # Another process may have finished the same build while we waited.
                if not (folder / "manifest.json").is_file():
                    self._build(fingerprints, left_out, key, progress)
                    built = True
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        if self._loaded is None or self._loaded.key != key:
            self._loaded = _load(folder, key)
        return IndexStatus(
            location=folder,
            built=built,
            files=int(manifest["files"]),
            chunks=len(self._loaded.chunks),
            seconds=time.perf_counter() - started,
            skipped=tuple(SkippedFile.from_json(record) for record in manifest["skipped"]),
        )

    def _prepare_store(self) -> None:
        self.store.mkdir(mode=0o755, parents=True, exist_ok=True)
        problem = store_problem(self.store)
        if problem:
            raise ConfigError(
                f"index folder {self.store} {problem}; remove it or index a copy of the corpus"
            )

    def search(self, query: str, k: int = 5) -> list[DocHit]:
        """The `k` best chunks for `query`, best first; chunks sharing no word with it never match."""
        loaded = self._current()
        terms = [t for t in dict.fromkeys(tokenize(query)) if t in loaded.vocabulary]
        if not terms:
            return []
        import numpy as np

        scores = loaded.retriever.get_scores(terms)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        # Ties broken by position, so equal scores give the same order on every run.
        order = sorted((int(i) for i in top if scores[i] > 0), key=lambda i: (-scores[i], i))
        return [
            DocHit(
                rank=rank,
                title=loaded.chunks[i].title,
                path=loaded.chunks[i].path,
                chunk=loaded.chunks[i].index,
                score=round(float(scores[i]), 4),
                snippet=best_snippet(loaded.chunks[i].text, terms),
                heading=loaded.chunks[i].heading,
                corpus=str(self.corpus),
            )
            for rank, i in enumerate(order, start=1)
        ]

    def _current(self) -> _Loaded:
        if self._loaded is None:
            self.open()
        if self._loaded is None:  # pragma: no cover - open() loads or raises
            raise RuntimeError("index failed to load")
        return self._loaded

    def _key(self, fingerprints: dict[str, str], left_out: list[SkippedFile]) -> str:
        settings = {
            "format": FORMAT_VERSION,
            "chunk_words": self.chunk_words,
            "overlap_words": self.overlap_words,
            "files": sorted(fingerprints.items()),
            # A file left out counts too: once it becomes readable, the index is rebuilt.
            "left_out": [[s.path, s.reason.value] for s in left_out],
        }
        return hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:20]

    def _fingerprints(
        self, files: tuple[CorpusFile, ...], progress: ProgressCallback
    ) -> tuple[dict[str, str], list[SkippedFile]]:
        """sha256 of every readable file, and the files that could not be read; a file whose
        size and mtime are unchanged is not read again."""
        cache_path = self.store / "files.json"
        try:
            cached: dict[str, list[Any]] = json.loads(cache_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            cached = {}
        fresh: dict[str, list[Any]] = {}
        unreadable: list[SkippedFile] = []
        to_read: list[CorpusFile] = []
        for file in files:
            entry = cached.get(file.path)
            if entry and entry[0] == file.size and entry[1] == file.mtime_ns:
                fresh[file.path] = entry
            else:
                to_read.append(file)
        for done, file in enumerate(to_read, start=1):
            try:
                digest = _sha256(read_corpus_file(self.corpus, file.path))
            except FileSkippedError as exc:
                unreadable.append(exc.record(file.path))
            else:
                fresh[file.path] = [file.size, file.mtime_ns, digest]
            progress(IndexProgress("hashing", done, len(to_read)))
        fresh = {path: fresh[path] for path in sorted(fresh)}
        if fresh != cached:
            _write_atomic(cache_path, json.dumps(fresh, sort_keys=True))
        return {path: entry[2] for path, entry in fresh.items()}, unreadable

    def _build(
        self,
        fingerprints: dict[str, str],
        left_out: list[SkippedFile],
        key: str,
        progress: ProgressCallback,
    ) -> None:
        import bm25s

        chunks: list[Chunk] = []
        skipped = list(left_out)
        indexed = 0
        for done, (path, digest) in enumerate(fingerprints.items(), start=1):
            try:
                data = read_corpus_file(self.corpus, path)
                if _sha256(data) != digest:
                    raise FileSkippedError(SkipReason.CHANGED, "changed while being indexed")
                doc = parse_document(path, data)
            except FileSkippedError as exc:
                skipped.append(exc.record(path))
            else:
                indexed += 1
                chunks.extend(
                    chunk_document(doc, words=self.chunk_words, overlap=self.overlap_words)
                )
            progress(IndexProgress("indexing", done, len(fingerprints), len(chunks)))
        tokens = [tokenize(f"{c.title}\n{c.text}") for c in chunks]
        if not any(tokens):
            raise ConfigError(
                f"nothing to index in {self.corpus}: no readable {', '.join(sorted(SUFFIXES))} "
                f"files with text{_left_out_summary(skipped)}"
            )
        retriever = bm25s.BM25()
        retriever.index(tokens, show_progress=False)
        staging = self.store / f"{key}.tmp-{os.getpid()}-{threading.get_ident()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        retriever.save(str(staging), show_progress=False)
        # One JSON document, not JSON lines: a single parse loads 10,000 chunks 3x faster.
        rows = [[c.path, c.title, c.index, c.text, c.heading] for c in chunks]
        (staging / "chunks.json").write_text(json.dumps(rows, ensure_ascii=False), "utf-8")
        manifest = {
            "format": FORMAT_VERSION,
            "corpus": str(self.corpus),
            "files": indexed,
            "chunks": len(chunks),
            "chunk_words": self.chunk_words,
            "overlap_words": self.overlap_words,
            "skipped": [s.to_json() for s in sorted(skipped, key=lambda s: s.path)],
            "built": time.time(),
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        staging.rename(self.store / key)
        self._remove_stale(key)

    def _remove_stale(self, keep: str) -> None:
        # Called under the store lock; unfinished builds of live processes are never removed
        # because each builder holds the lock until its rename.
        for entry in self.store.iterdir():
            if entry.is_dir() and not entry.is_symlink() and entry.name != keep:
                shutil.rmtree(entry, ignore_errors=True)


def _left_out_summary(skipped: list[SkippedFile], shown: int = 5) -> str:
    if not skipped:
        return ""
    named = ", ".join(f"{s.path} ({s.detail})" for s in skipped[:shown])
    more = f" and {len(skipped) - shown} more" if len(skipped) > shown else ""
    return f"; left out: {named}{more}"


def _load(folder: Path, key: str) -> _Loaded:
    import bm25s

    retriever = bm25s.BM25.load(str(folder), show_progress=False)
    rows = json.loads((folder / "chunks.json").read_text(encoding="utf-8"))
    chunks = [
        Chunk(path, title, index, text, heading) for path, title, index, text, heading in rows
    ]
    vocabulary = frozenset(t for t in retriever.vocab_dict if t)
    return _Loaded(key=key, retriever=retriever, chunks=chunks, vocabulary=vocabulary)


def best_snippet(text: str, terms: list[str], limit: int = SNIPPET_CHARS) -> str:
    """The sentence of `text` that holds most query terms, with what follows it up to `limit`."""
    sentences = list(_sentences(text))
    if not sentences:
        return ""
    wanted = set(terms)
    scores = [len(wanted.intersection(tokenize(s))) for s in sentences]
    best = scores.index(max(scores))
    picked = sentences[best]
    for following in sentences[best + 1 :]:
        if len(picked) + 1 + len(following) > limit:
            break
        picked = f"{picked} {following}"
    return clip_snippet(picked, limit)


def _sentences(text: str) -> Iterator[str]:
    """Sentences, with hard-wrapped lines joined and list items, headings and rows kept apart."""
    blocks: list[list[str]] = []
    for raw in text.splitlines():
        line = raw.strip().lstrip("#").strip()  # a markdown heading reads as plain words
        if not line:
            blocks.append([])
        elif _BLOCK_START.match(raw) or not blocks:
            blocks.append([line])
        else:
            blocks[-1].append(line)
    for block in blocks:
        if block:
            yield from (s for s in _SENTENCE_END.split(" ".join(block)) if s.strip())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    partial = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.part")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (and threads: each call opens its own descriptor)."""
    try:
        import fcntl
    except ImportError:  # Windows: builds still land atomically, only duplicated work is possible
        yield
        return
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
