"""A hostile corpus folder: links out of it, FIFOs and devices, oversized and changing files,
HTML and PDFs built to be slow, names and text carrying terminal escapes, and a planted index
folder. Every build must finish, list what it left out with a reason, and never show a byte
from outside the corpus."""

from __future__ import annotations

import functools
import os
import socket
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from support import agentlab
from typer.testing import CliRunner

from agentlab.errors import ConfigError
from agentlab.tools.search import LocalIndex, index_location
from agentlab.tools.search import corpus as corpus_module
from agentlab.tools.search import documents as documents_module
from agentlab.tools.search import index as index_module
from agentlab.tools.search.corpus import FileSkippedError, SkipReason, read_corpus_file
from agentlab.tools.search.documents import chunk_document, read_document
from agentlab.tools.search.index import INDEX_DIR_NAME

T = TypeVar("T")

SECRET = "zanzibarsecret"
GUARD_S = 20.0
"""Far above what any of these builds takes (well under a second each); a hang or quadratic
parse on main runs for minutes or forever."""


def finishes(work: Callable[[], T], what: str, seconds: float = GUARD_S) -> T:
    """`work()`, failing the test clearly (instead of hanging the suite) if it does not return."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run, name="hostile-corpus", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"{what} did not finish in {seconds:.0f} s: it hangs or is not linear")
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def build(corpus: Path) -> tuple[LocalIndex, dict[str, SkipReason]]:
    """The index of `corpus`, built under the guard, and what the build left out."""
    index = LocalIndex(corpus)
    status = finishes(index.open, f"building the index of {corpus}")
    return index, {s.path: s.reason for s in status.skipped}


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.md").write_text(f"# Secret\n\nalpha {SECRET} payroll\n")
    return folder


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "ok.md").write_text("# Harbour\n\nalpha the harbour master keeps the tide log\n")
    return folder


def test_links_out_of_the_corpus_are_skipped_and_never_hits(corpus: Path, outside: Path) -> None:
    (corpus / "leak.md").symlink_to(outside / "secret.md")
    (corpus / "passwd.txt").symlink_to("/etc/passwd")
    (corpus / "sub").mkdir()
    (corpus / "sub" / "up.md").symlink_to("../../outside/secret.md")
    index, skipped = build(corpus)
    assert skipped == {
        "leak.md": SkipReason.LINK_OUTSIDE,
        "passwd.txt": SkipReason.LINK_OUTSIDE,
        "sub/up.md": SkipReason.LINK_OUTSIDE,
    }
    assert index.search(SECRET) == []
    assert index.search("root bin daemon nologin") == []
    assert [h.path for h in index.search("harbour")] == ["ok.md"]


def test_linked_folders_and_link_loops_are_not_followed(corpus: Path, outside: Path) -> None:
    (corpus / "loop").symlink_to(corpus)
    (corpus / "away").symlink_to(outside)
    (corpus / "self.md").symlink_to("self.md")
    (corpus / "ping.md").symlink_to("pong.md")
    (corpus / "pong.md").symlink_to("ping.md")
    (corpus / "alias.md").symlink_to("ok.md")
    index, skipped = build(corpus)
    assert skipped == {
        "alias.md": SkipReason.LINK,
        "away": SkipReason.LINK_OUTSIDE,
        "loop": SkipReason.LINK,
        "ping.md": SkipReason.LINK,
        "pong.md": SkipReason.LINK,
        "self.md": SkipReason.LINK,
    }
    # A link inside the corpus adds nothing: its target is indexed once, under its own path.
    assert [h.path for h in index.search("harbour", 10)] == ["ok.md"]
    assert index.search(SECRET) == []


def test_fifos_sockets_and_devices_are_skipped_without_being_opened(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    os.mkfifo(corpus / "pipe.md")
    (corpus / "zero.txt").symlink_to("/dev/zero")
    (corpus / "null.md").symlink_to("/dev/null")
    # A socket's path must be short: bind it from inside the folder.
    monkeypatch.chdir(corpus)
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind("sock.md")
        index, skipped = build(corpus)
    assert skipped == {
        "null.md": SkipReason.LINK_OUTSIDE,
        "pipe.md": SkipReason.NOT_REGULAR,
        "sock.md": SkipReason.NOT_REGULAR,
        "zero.txt": SkipReason.LINK_OUTSIDE,
    }
    assert index.open().files == 1


def test_an_oversized_file_is_skipped_by_its_size_before_it_is_read(corpus: Path) -> None:
    # 64 GiB, sparse: reading or hashing it takes minutes, looking at its size takes nothing.
    with (corpus / "huge.txt").open("wb") as sparse:
        sparse.truncate(64 << 30)
    index, skipped = build(corpus)
    assert skipped == {"huge.txt": SkipReason.TOO_LARGE}
    assert index.open().files == 1


def test_a_file_is_read_up_to_the_cap_and_a_change_while_reading_is_noticed(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (corpus / "grow.txt").write_text("0123456789")
    with pytest.raises(FileSkippedError) as larger:
        read_corpus_file(corpus, "grow.txt", limit=9)
    assert larger.value.reason is SkipReason.TOO_LARGE
    real_read = os.read
    appended: list[int] = []

    def read_while_appending(fd: int, size: int) -> bytes:
        if not appended:
            with (corpus / "grow.txt").open("a") as writer:
                appended.append(writer.write("more"))
        return real_read(fd, size)

    monkeypatch.setattr(corpus_module.os, "read", read_while_appending)
    with pytest.raises(FileSkippedError) as changed:
        read_corpus_file(corpus, "grow.txt")
    assert changed.value.reason is SkipReason.CHANGED


def test_a_file_or_folder_swapped_for_a_link_after_the_walk_is_not_followed(
    corpus: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (corpus / "sub").mkdir()
    (corpus / "sub" / "secret.md").write_text("alpha inside, harmless\n")
    (corpus / "notes.md").write_text("alpha notes\n")
    real_scan = index_module.scan_corpus

    def scan_then_swap(root: Path) -> Any:
        scan = real_scan(root)
        monkeypatch.setattr(index_module, "scan_corpus", real_scan)
        # What an attacker racing the build does between the walk and the read.
        (corpus / "sub" / "secret.md").unlink()
        (corpus / "sub").rmdir()
        (corpus / "sub").symlink_to(outside)
        (corpus / "notes.md").unlink()
        (corpus / "notes.md").symlink_to(outside / "secret.md")
        return scan

    monkeypatch.setattr(index_module, "scan_corpus", scan_then_swap)
    index, skipped = build(corpus)
    assert skipped == {"notes.md": SkipReason.LINK, "sub/secret.md": SkipReason.LINK}
    assert index.search(SECRET) == []


HOSTILE_HTML = {
    "unclosed blocks": "<div>x ",  # the old extractor scanned its stack of open tags per text
    "unterminated tags": "<a ",  # the standard library's parser rescans the rest per tag
    "unclosed comments": "<!--x",
    "unclosed formatting": "<b>x",
}


@pytest.mark.parametrize("unit", HOSTILE_HTML.values(), ids=HOSTILE_HTML.keys())
def test_html_of_unclosed_tags_is_read_in_linear_time(tmp_path: Path, unit: str) -> None:
    # 160 KB took 47 s on main and 8x that input would take ~64x as long: both must come
    # back well inside the guard (they take a fraction of a second), text intact.
    for size in (160_000, 1_280_000):
        page = tmp_path / f"{size}.html"
        page.write_text(unit * (size // len(unit)))
        doc = finishes(functools.partial(read_document, tmp_path, page), f"{size} B of {unit!r}")
        if unit == "<div>x ":
            assert doc.text.count("x") == size // len(unit), "text after a deep nest was lost"


def test_long_words_long_lines_and_heading_bombs_stay_bounded(tmp_path: Path) -> None:
    word = "y" * 3_000_000
    spaces = "a" + " " * 3_000_000 + "b"
    bomb = "# x" + "#" * 200_000 + "y\n"
    for name, text in {"w.txt": word, "s.txt": spaces, "h.md": bomb}.items():
        path = tmp_path / name
        path.write_text(text)
        doc = finishes(functools.partial(read_document, tmp_path, path), name)
        longest = max(len(c.text) for c in chunk_document(doc, words=120, overlap=30))
        assert longest <= 120 * 200, f"{name}: a chunk of {longest} characters"
        assert len(doc.title) <= 200


def pdf(*objects: bytes) -> bytes:
    """A PDF from its numbered objects (1 is the catalog), with a correct cross-reference table."""
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


def pdf_of_pages(count: int, *, resources: bytes = b"<< /Font << /F1 5 0 R >> >>") -> bytes:
    """`count` pages that all point at one page object showing the word `pagemark`."""
    stream = b"BT /F1 12 Tf 72 720 Td (pagemark) Tj ET"
    return pdf(
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join([b"3 0 R"] * count), count),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources " + resources + b" >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    )


def test_pdfs_pypdf_cannot_read_are_skipped_and_long_ones_are_cut(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = pdf_of_pages(1)
    (corpus / "truncated.pdf").write_bytes(whole[: len(whole) // 2])
    (corpus / "garbage.pdf").write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 64)
    (corpus / "cyclic.pdf").write_bytes(whole.replace(b"/Kids [3 0 R]", b"/Kids [2 0 R]"))
    (corpus / "long.pdf").write_bytes(pdf_of_pages(60))
    monkeypatch.setattr(documents_module, "MAX_PDF_PAGES", 25, raising=False)
    _, skipped = build(corpus)
    assert skipped == {
        "cyclic.pdf": SkipReason.UNREADABLE,
        "garbage.pdf": SkipReason.UNREADABLE,
        "truncated.pdf": SkipReason.UNREADABLE,
    }
    long = read_document(corpus, corpus / "long.pdf")
    assert long.text.count("pagemark") == 25
    monkeypatch.setattr(documents_module, "PDF_SECONDS", 0.0, raising=False)
    assert read_document(corpus, corpus / "long.pdf").text.count("pagemark") == 1


def test_names_and_text_with_escapes_never_reach_the_terminal(corpus: Path) -> None:
    (corpus / "\x1b[31mred.md").write_text("alpha hidden by its name\n")
    (corpus / os.fsdecode(b"caf\xe9.md")).write_text("alpha latin-1 name\n")
    (corpus / "[bold]notes[dim].md").write_text("# [red]Marked\x1b]0;pwned\x07\n\nalpha ahoy\n")
    (corpus / "page.html").write_text(
        "<title>\x1b[2J wiped</title><p>alpha \x9b31m lighthouse\u202eevil</p>"
    )
    _, skipped = build(corpus)
    assert skipped == {
        "\\x1b[31mred.md": SkipReason.UNSAFE_NAME,
        "caf\\udce9.md": SkipReason.UNSAFE_NAME,
    }
    from agentlab.cli.app import app

    for args in (["index", "build", str(corpus)], ["search", "alpha", "--corpus", str(corpus)]):
        shown = CliRunner().invoke(app, args)
        assert shown.exit_code == 0, shown.output
        assert not any(c in shown.output for c in "\x1b\x07\x9b\u202e"), repr(shown.output)
    found = CliRunner().invoke(app, ["search", "ahoy", "--corpus", str(corpus)])
    assert "[bold]notes[dim].md" in found.output and "[red]Marked" in found.output


def test_pdf_warnings_quoting_the_file_are_not_printed(corpus: Path, tmp_path: Path) -> None:
    # /#1b is ESC in a PDF name; pypdf warns that these resources are not a dictionary.
    (corpus / "w.pdf").write_bytes(pdf_of_pages(1, resources=b"/#1b[2Jwiped"))
    done = agentlab("index", "build", str(corpus), cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stderr + done.stdout, repr(done.stderr)


@pytest.fixture
def precious(outside: Path) -> Iterator[Path]:
    keep = outside / "store" / "precious"
    keep.mkdir(parents=True)
    (keep / "keep.txt").write_text("do not delete")
    yield keep


def test_a_linked_index_folder_is_never_written_or_cleaned(
    corpus: Path, outside: Path, precious: Path
) -> None:
    (corpus / INDEX_DIR_NAME).symlink_to(outside / "store")
    status = finishes(LocalIndex(corpus).open, "build")
    assert not status.location.is_relative_to(outside)
    assert status.location.is_relative_to(Path(os.environ["AGENTLAB_HOME"]))
    assert (precious / "keep.txt").read_text() == "do not delete"
    assert sorted(p.name for p in (outside / "store").iterdir()) == ["precious"]
    with pytest.raises(ConfigError, match="is a symbolic link"):
        LocalIndex(corpus, store=corpus / INDEX_DIR_NAME).open()


def test_an_index_folder_others_can_write_is_not_used(corpus: Path) -> None:
    planted = corpus / INDEX_DIR_NAME
    planted.mkdir()
    planted.chmod(0o777)
    assert index_location(corpus).is_relative_to(Path(os.environ["AGENTLAB_HOME"]))
    assert not any(planted.iterdir())
    with pytest.raises(ConfigError, match="writable by other users"):
        LocalIndex(corpus, store=planted).open()
    fresh = finishes(LocalIndex(corpus).open, "build")
    assert stat.S_IMODE(fresh.location.parent.stat().st_mode) & 0o022 == 0
