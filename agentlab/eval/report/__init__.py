"""The failure report: read traces with DuckDB, compute rates, intervals and paired
tests, and render tables, PNG plots, CSV and one self-contained HTML file."""

from agentlab.eval.report.build import (
    SECTIONS,
    FailureReport,
    Section,
    Table,
    build_report,
)
from agentlab.eval.report.plots import write_plots
from agentlab.eval.report.render import (
    format_cell,
    render_html,
    render_markdown,
    write_csv,
)

__all__ = [
    "SECTIONS",
    "FailureReport",
    "Section",
    "Table",
    "build_report",
    "format_cell",
    "render_html",
    "render_markdown",
    "write_csv",
    "write_plots",
]
