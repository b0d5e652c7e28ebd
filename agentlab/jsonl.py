"""JSON-lines text split into lines: the one rule every reader of traces, suites and
task files shares."""

from __future__ import annotations


def numbered_lines(text: str) -> list[tuple[int, str]]:
    """The non-blank lines of JSON-lines `text`, with their 1-based line numbers.

    Only "\\n" ends a line: JSON leaves U+2028, U+2029 and \\x85 unescaped inside
    strings, and `str.splitlines` would cut a record at them.
    """
    return [(number, line) for number, line in enumerate(text.split("\n"), 1) if line.strip()]
