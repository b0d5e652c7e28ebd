"""The local search backend: retrieval quality on the shipped pairs, index reuse and rebuilds,
where the index is stored, and reading each supported file type."""

from __future__ import annotations

import itertools
import json
import os
import threading
from pathlib import Path

import pytest

from agentlab.errors import ConfigError
from agentlab.tools.search import LocalIndex, SearchResults, index_location, shipped_corpus
from agentlab.tools.search import index as index_module
from agentlab.tools.search.corpus import SkipReason, scan_corpus
from agentlab.tools.search.documents import Document, chunk_document, read_document
from agentlab.tools.search.index import INDEX_DIR_NAME, best_snippet, stem, tokenize

ROOT = Path(__file__).resolve().parents[1]
TASKS = ROOT / "examples" / "researcher" / "tasks.jsonl"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    write(
        folder, "boats/ketch.md", "# Ketch\n\nA ketch has two masts; the mizzen is the aft one.\n"
    )
    write(folder, "boats/sloop.md", "# Sloop\n\nA sloop has one mast and a single headsail.\n")
    write(folder, "food/bread.txt", "Sourdough bread\nBread rises with wild yeast and flour.\n")
    return folder


def test_expected_document_in_top_3_for_at_least_18_of_20_shipped_questions() -> None:
    tasks = [json.loads(line) for line in TASKS.read_text().splitlines()]
    assert len(tasks) == 20
    index = LocalIndex(shipped_corpus())
    found = [
        t["id"] for t in tasks if t["source"] in {h.path for h in index.search(t["prompt"], 3)}
    ]
    assert len(found) >= 18, (
        f"only {len(found)}/20: missed {set(t['id'] for t in tasks) - set(found)}"
    )


def test_every_expected_document_exists_in_the_shipped_corpus() -> None:
    corpus = shipped_corpus()
    for line in TASKS.read_text().splitlines():
        assert (corpus / json.loads(line)["source"]).is_file()


def test_index_is_reused_when_nothing_changed(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = LocalIndex(corpus).open()
    assert first.built
    assert (first.files, first.location.parent) == (3, corpus / INDEX_DIR_NAME)

    def no_build(*_: object) -> None:
        raise AssertionError("rebuilt an index whose files did not change")

    monkeypatch.setattr(LocalIndex, "_build", no_build)
    second = LocalIndex(corpus).open()
    assert not second.built
    assert second.location == first.location
    # A touched file (new mtime, same bytes) is re-hashed, and the hash still matches.
    path = corpus / "boats" / "sloop.md"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert not LocalIndex(corpus).open().built


def test_index_is_rebuilt_after_a_file_changes(corpus: Path) -> None:
    index = LocalIndex(corpus)
    before = index.open()
    assert index.search("schooner", 3) == []
    write(corpus, "boats/sloop.md", "# Sloop\n\nA sloop is smaller than a schooner.\n")
    after = index.open()
    assert after.built
    assert after.location != before.location
    assert not before.location.exists(), "the stale build is removed"
    assert [h.path for h in index.search("schooner", 3)] == ["boats/sloop.md"]


def test_added_and_removed_files_rebuild(corpus: Path) -> None:
    index = LocalIndex(corpus)
    index.open()
    write(corpus, "boats/yawl.md", "# Yawl\n\nA yawl carries its mizzen behind the rudder post.\n")
    assert index.open().built
    assert index.search("yawl rudder", 1)[0].path == "boats/yawl.md"
    (corpus / "boats" / "yawl.md").unlink()
    status = index.open()
    assert status.built and status.files == 3
    assert index.search("yawl", 3) == []


def test_changing_chunk_settings_builds_a_separate_index(corpus: Path) -> None:
    LocalIndex(corpus).open()
    assert LocalIndex(corpus, chunk_words=5, overlap_words=1).open().built


def test_installed_corpus_keeps_its_index_under_agentlab_home(tmp_path: Path) -> None:
    corpus = tmp_path / "venv" / "lib" / "site-packages" / "pkg" / "corpus"
    write(corpus, "a.md", "# A\n\nanchors and chains\n")
    status = LocalIndex(corpus).open()
    home = Path(os.environ["AGENTLAB_HOME"])
    assert status.location.is_relative_to(home / "index")
    assert not (corpus / INDEX_DIR_NAME).exists()


def test_read_only_corpus_keeps_its_index_under_agentlab_home(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests run as root, for whom permission bits do not stop writes: simulate the refusal.
    monkeypatch.setattr(index_module, "_writable", lambda folder: False)
    location = index_location(corpus)
    assert location.is_relative_to(Path(os.environ["AGENTLAB_HOME"]) / "index")
    assert LocalIndex(corpus).open().location.parent == location
    assert index_location(corpus) == location, "the same corpus always maps to the same store"


def test_parallel_opens_build_once(corpus: Path) -> None:
    statuses = []
    barrier = threading.Barrier(4)

    def open_index() -> None:
        barrier.wait()
        statuses.append(LocalIndex(corpus).open())

    threads = [threading.Thread(target=open_index) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(s.built for s in statuses) == [False, False, False, True]
    assert len({s.location for s in statuses}) == 1


def test_hits_are_typed_and_ranked(corpus: Path) -> None:
    hits = LocalIndex(corpus).search("how many masts does a ketch have", 5)
    assert [h.path for h in hits][:1] == ["boats/ketch.md"]
    top = hits[0]
    assert (top.rank, top.kind, top.title, top.chunk) == (1, "doc", "Ketch", 0)
    assert "two masts" in top.snippet
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    text = SearchResults(query="q", backend="local", hits=hits).as_text()
    assert text.startswith("1. boats/ketch.md — Ketch\n")


def test_no_shared_word_means_no_hits(corpus: Path) -> None:
    index = LocalIndex(corpus)
    assert index.search("zeppelin", 5) == []
    assert index.search("the of and", 5) == []  # stopwords only
    text = SearchResults(query="zeppelin", backend="local", hits=[]).as_text()
    assert "no results" in text and "zeppelin" in text


def test_missing_or_empty_corpus_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        LocalIndex(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    write(tmp_path / "empty", "image.png", "not a document")
    with pytest.raises(ConfigError, match="nothing to index"):
        LocalIndex(tmp_path / "empty").open()
    with pytest.raises(ConfigError, match="overlap"):
        LocalIndex(tmp_path / "empty", chunk_words=10, overlap_words=10)


def test_chunks_overlap_and_cover_every_word() -> None:
    words = [f"w{i}" for i in range(25)]
    doc = Document(path="d.txt", title="d", text=" ".join(words))
    chunks = list(chunk_document(doc, words=10, overlap=3))
    spans = [c.text.split() for c in chunks]
    assert [s[0] for s in spans] == ["w0", "w7", "w14", "w21"]
    assert all(a[-3:] == b[:3] for a, b in itertools.pairwise(spans))
    assert spans[-1][-1] == "w24"
    assert [c.index for c in chunks] == [0, 1, 2, 3]
    assert list(chunk_document(Document("e.txt", "e", "  \n"), words=10, overlap=3)) == []


def test_hidden_folders_and_other_file_types_are_skipped(corpus: Path) -> None:
    write(corpus, ".git/notes.md", "secret")
    write(corpus, "boats/photo.jpg", "binary")
    scan = scan_corpus(corpus)
    assert [f.path for f in scan.files] == ["boats/ketch.md", "boats/sloop.md", "food/bread.txt"]
    assert scan.skipped == (), "hidden files and other types are not documents to report"


def test_html_text_and_title_without_scripts(tmp_path: Path) -> None:
    page = write(
        tmp_path,
        "p.html",
        "<html><head><title>Tide tables</title><script>var x = 'hidden';</script>"
        "<style>p {}</style></head><body><h1>Tides</h1><p>High water at 06:12"
        "<p>Low water &amp; slack at 12:30</body></html>",
    )
    doc = read_document(tmp_path, page)
    assert doc.title == "Tide tables"
    assert "High water at 06:12" in doc.text and "Low water & slack" in doc.text
    assert "hidden" not in doc.text and "p {}" not in doc.text


def test_text_and_markdown_titles(tmp_path: Path) -> None:
    assert read_document(tmp_path, write(tmp_path, "n.txt", "\nFirst line\nrest")).title == (
        "First line"
    )
    md = write(tmp_path, "m.md", "intro text\n\n## Real heading ##\nbody")
    assert read_document(tmp_path, md).title == "Real heading"


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF with `text` in Helvetica, written by hand (no PDF writer needed)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return out


def test_pdf_text_is_indexed_and_a_broken_pdf_is_skipped(corpus: Path) -> None:
    (corpus / "manual.pdf").write_bytes(minimal_pdf("Barometer calibration manual"))
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 this is not a pdf")
    index = LocalIndex(corpus)
    status = index.open()
    assert status.files == 4
    assert [(s.path, s.reason) for s in status.skipped] == [("broken.pdf", SkipReason.UNREADABLE)]
    assert index.search("barometer", 1)[0].path == "manual.pdf"


def test_tokenizer_stems_plurals_and_drops_stopwords() -> None:
    assert tokenize("The Devices' batteries and readings") == ["device", "battery", "reading"]
    assert [stem(w) for w in ("status", "glass", "gas", "shoes", "boxes")] == [
        "status",
        "glass",
        "gas",
        "shoe",
        "boxe",  # Harman's rule: -es to -e; light stemming trades this for never over-merging
    ]


def test_snippet_starts_at_the_sentence_with_most_query_terms() -> None:
    text = (
        "# Travel\n\nBook trips early.\nTrains are preferred.\n\n"
        "- The per diem is 55 EUR in Europe.\n- Hotels need approval above 150 EUR."
    )
    assert best_snippet(text, tokenize("per diem europe")).startswith(
        "- The per diem is 55 EUR in Europe."
    )
    assert len(best_snippet("word " * 500, ["word"])) <= 240


def test_each_chunk_knows_the_heading_of_its_section(tmp_path: Path) -> None:
    body = " ".join(f"w{i}" for i in range(30))
    write(tmp_path, "guide.md", f"preamble\n\n# Guide\n\n{body}\n\n## Second part ##\n\n{body}\n")
    doc = read_document(tmp_path, tmp_path / "guide.md")
    assert [h for _, h in doc.headings] == ["Guide", "Second part"]
    chunks = list(chunk_document(doc, words=20, overlap=5))
    # Each chunk takes the section its middle lies in; text before any heading has none.
    assert [c.heading for c in chunks] == ["Guide", "Guide", *["Second part"] * 3]
    assert next(c.heading for c in chunk_document(doc, words=2, overlap=0)) == ""
    write(tmp_path, "guide.md", doc.text + " zephyr")
    [found] = LocalIndex(tmp_path, chunk_words=20, overlap_words=5).search("zephyr", 5)
    assert (found.heading, found.corpus) == ("Second part", str(tmp_path.resolve()))


def test_binary_files_named_as_text_are_skipped_and_listed(corpus: Path) -> None:
    (corpus / "logo.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (corpus / "notes.md").write_bytes("# Notes\n\nplain".encode("utf-16"))
    status = LocalIndex(corpus).open()
    assert [(s.path, s.reason) for s in status.skipped] == [
        ("logo.txt", SkipReason.BINARY),
        ("notes.md", SkipReason.BINARY),
    ]
    assert "UTF-16" in status.skipped[0].detail
    assert status.files == 3


def test_opening_reports_progress_per_file_read(corpus: Path) -> None:
    seen: list[index_module.IndexProgress] = []
    LocalIndex(corpus).open(progress=seen.append)
    assert [(p.stage, p.done, p.total) for p in seen] == [
        ("hashing", 1, 3),
        ("hashing", 2, 3),
        ("hashing", 3, 3),
        ("indexing", 1, 3),
        ("indexing", 2, 3),
        ("indexing", 3, 3),
    ]
    assert seen[-1].chunks == 3
    again: list[index_module.IndexProgress] = []
    assert not LocalIndex(corpus).open(progress=again.append).built
    assert again == [], "a current index reads no file"
    write(corpus, "boats/sloop.md", "# Sloop\n\nA sloop is smaller than a schooner.\n")
    LocalIndex(corpus).open(progress=again.append)
    assert [(p.stage, p.total) for p in again][:1] == [("hashing", 1)], "only the changed file"
