"""Rendering a failure report: cell formatting, CSV files, Markdown, one self-contained HTML file."""

from __future__ import annotations

import base64
import csv
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agentlab.eval.report.build import FailureReport, Table

MISSING = "–"

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 72rem; padding: 0 1rem; color: #1d232a; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d0d7de; padding: .25rem .55rem; text-align: right; }
th { background: #f3f5f7; } td:first-child, th:first-child { text-align: left; }
.note, .meta { color: #57606a; font-size: .9rem; } .plots img { max-width: 100%; margin: .5rem 0; }
"""


def format_cell(value: Any) -> str:
    """How every renderer shows a value: floats to 3 places, None as a dash."""
    if value is None:
        return MISSING
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def display(table: Table) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """Columns and formatted rows for reading: `ci_low`/`ci_high` become one `95% CI` cell."""
    columns = list(table.columns)
    if "ci_low" in columns and columns.index("ci_low") + 1 == columns.index("ci_high"):
        at = columns.index("ci_low")
        shown = (*columns[:at], "95% CI", *columns[at + 2 :])
        rows = []
        for row in table.rows:
            low, high = row[at], row[at + 1]
            ci = MISSING if low is None else f"[{format_cell(low)}, {format_cell(high)}]"
            cells = (*row[:at], ci, *row[at + 2 :])
            rows.append(tuple(c if i == at else format_cell(c) for i, c in enumerate(cells)))
        return shown, rows
    return tuple(columns), [tuple(format_cell(v) for v in row) for row in table.rows]


def write_csv(tables: Sequence[Table], directory: Path) -> list[Path]:
    """One `<name>.csv` per table (raw values, full precision)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for table in tables:
        path = directory / f"{table.name}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(table.columns)
            writer.writerows(["" if v is None else v for v in row] for row in table.rows)
        paths.append(path)
    return paths


def summary_line(report: FailureReport) -> str:
    s = report.stats
    return (
        f"{s.files} trace files, {s.events} events read, {s.runs} runs "
        f"({s.incomplete} incomplete, {s.superseded} superseded by a later run)"
    )


def render_markdown(
    report: FailureReport, tables: Sequence[Table], plots: Sequence[str] = ()
) -> str:
    """The report as Markdown (pipe tables; `plots` are image links, relative to the file)."""
    lines = ["# Failure report", "", summary_line(report), ""]
    for table in tables:
        lines += [f"## {table.title}", ""]
        columns, rows = display(table)
        lines.append("| " + " | ".join(columns) + " |")
        lines.append("|" + "---|" * len(columns))
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        if table.note:
            lines += ["", table.note]
        lines.append("")
    for plot in plots:
        lines += [f"![{Path(plot).stem}]({plot})", ""]
    return "\n".join(lines)


def _html_table(table: Table) -> str:
    columns, rows = display(table)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in rows
    )
    note = f'<p class="note">{html.escape(table.note)}</p>' if table.note else ""
    return (
        f'<h2 id="{table.name}">{html.escape(table.title)}</h2>\n'
        f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>\n{note}"
    )


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def render_html(report: FailureReport, tables: Sequence[Table], plots: Sequence[Path] = ()) -> str:
    """One self-contained HTML page: inline CSS, plots embedded as data URIs, no scripts."""
    images = "\n".join(f'<img alt="{html.escape(p.stem)}" src="{_data_uri(p)}">' for p in plots)
    sections = "\n".join(_html_table(t) for t in tables)
    sources = ", ".join(html.escape(s) for s in report.sources)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>agentlab failure report</title>
<style>{_CSS}</style>
</head>
<body>
<h1>agentlab failure report</h1>
<p class="meta">{html.escape(summary_line(report))}. Baseline: {html.escape(report.baseline)}.
Traces: {sources}.</p>
<div class="plots">
{images}
</div>
{sections}
</body>
</html>
"""
