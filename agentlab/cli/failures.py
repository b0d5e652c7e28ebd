"""`agentlab failures RUNS...`: success rates, paired tests and failure tables from traces."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

from agentlab.errors import ConfigError
from agentlab.eval.report import (
    SECTIONS,
    Section,
    Table,
    build_report,
    render_html,
    render_markdown,
    write_csv,
    write_plots,
)
from agentlab.eval.report.render import display, summary_line

TERMINAL_ROWS = 40

out = Console()
err = Console(stderr=True)


def _print_table(table: Table, *, max_rows: int | None) -> None:
    rich = RichTable(
        title=escape(table.title), title_justify="left", caption=escape(table.note) or None
    )
    columns, formatted = display(table)
    for i, column in enumerate(columns):
        rich.add_column(escape(column), justify="left" if i == 0 else "right", overflow="fold")
    rows = formatted if max_rows is None else formatted[:max_rows]
    for row in rows:
        # Cells hold task ids, tool names and details read from traces: never markup.
        rich.add_row(*(escape(cell) for cell in row))
    out.print(rich)
    if len(rows) < len(table.rows):
        out.print(
            f"… {len(table.rows) - len(rows)} more rows (--by task shows all; --csv or --html "
            "exports them)",
            highlight=False,
            markup=False,
        )


def failures(
    runs: Annotated[
        list[Path],
        typer.Argument(help="Trace files or directories of traces (searched recursively)."),
    ],
    by: Annotated[
        list[str] | None,
        typer.Option(help="Only these sections (repeatable): variant, task, tool, category."),
    ] = None,
    baseline: Annotated[
        str, typer.Option(help="The variant others are compared with (paired tests, removals).")
    ] = "full",
    csv: Annotated[
        Path | None, typer.Option("--csv", help="Write every table as DIR/NAME.csv.")
    ] = None,
    plot: Annotated[Path | None, typer.Option(help="Write PNG charts into DIR.")] = None,
    html: Annotated[
        Path | None, typer.Option(help="Write one self-contained HTML report (tables and charts).")
    ] = None,
    markdown: Annotated[
        Path | None,
        typer.Option(help="Write the report as Markdown (charts beside it with --plot)."),
    ] = None,
) -> None:
    """Read traces and report success per variant (95% Wilson intervals), paired tests
    against the baseline (McNemar exact), failures per category, task and tool, costs
    per task, and which tools can be removed."""
    unknown = [s for s in by or () if s not in SECTIONS]
    if unknown:
        err.print(
            f"[red]error:[/red] unknown --by {escape(repr(unknown[0]))}; use {', '.join(SECTIONS)}",
            highlight=False,
        )
        raise typer.Exit(2)
    sections: list[Section] = [s for s in SECTIONS if s in (by or SECTIONS)]
    try:
        report = build_report(runs, baseline=baseline)
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    out.print(summary_line(report), highlight=False, markup=False)
    if report.variants and baseline not in report.variant_order:
        err.print(
            f"no runs of the baseline variant {baseline!r}: paired tests are skipped",
            highlight=False,
            markup=False,
        )
    shown = report.tables(sections)
    for table in shown:
        _print_table(table, max_rows=None if by else TERMINAL_ROWS)
    everything = report.tables()
    if csv is not None:
        paths = write_csv(everything, csv)
        out.print(f"csv: {len(paths)} tables in {csv}", highlight=False, markup=False)
    plots: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="agentlab-plots-") as scratch:
        if plot is not None or html is not None:
            try:
                plots = write_plots(report, plot or Path(scratch))
            except ConfigError as exc:
                err.print(f"[red]error:[/red] {exc}", highlight=False)
                raise typer.Exit(2) from None
            if plot is not None:
                out.print(
                    f"plots: {', '.join(p.name for p in plots)} in {plot}",
                    highlight=False,
                    markup=False,
                )
        if html is not None:
            html.parent.mkdir(parents=True, exist_ok=True)
            html.write_text(render_html(report, everything, plots), encoding="utf-8")
            out.print(f"html: {html}", highlight=False, markup=False)
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        linked = [os.path.relpath(p, markdown.parent) for p in plots] if plot is not None else []
        markdown.write_text(render_markdown(report, everything, linked), encoding="utf-8")
        out.print(f"markdown: {markdown}", highlight=False, markup=False)
