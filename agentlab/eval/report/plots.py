"""PNG charts of a failure report (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from agentlab.errors import ConfigError
from agentlab.eval.report.build import FailureReport

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 110
PLOTS = ("success", "categories", "tools", "removal")


def _figure(width: float, height: float) -> Figure:
    # A bare Figure (no pyplot): no global state, safe in threads and embedding apps.
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def success_figure(report: FailureReport) -> Figure | None:
    rows = [v for v in report.variants if v.rate is not None]
    if not rows:
        return None
    fig = _figure(max(5.0, 1.6 + 1.1 * len(rows)), 3.6)
    ax = fig.add_subplot()
    rates = [v.rate or 0.0 for v in rows]
    below = [r - v.interval.low for r, v in zip(rates, rows, strict=True)]
    above = [v.interval.high - r for r, v in zip(rates, rows, strict=True)]
    colors = ["#4C78A8" if v.variant == report.baseline else "#9ecae9" for v in rows]
    ax.bar([v.variant for v in rows], rates, color=colors, yerr=[below, above], capsize=5)
    for x, v in enumerate(rows):
        ax.annotate(f"{v.passed}/{v.graded}", (x, 0.02), ha="center", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("success rate")
    ax.set_title("Success per variant, 95% Wilson interval", fontsize=10)
    ax.tick_params(axis="x", labelrotation=20)
    return fig


def categories_figure(report: FailureReport) -> Figure | None:
    categories = report.category_order
    if not categories:
        return None
    variants = report.variant_order
    fig = _figure(7.5, 1.4 + 0.35 * len(categories) * max(1, len(variants)) ** 0.5)
    from matplotlib.ticker import MaxNLocator

    ax = fig.add_subplot()
    height = 0.8 / max(1, len(variants))
    for i, variant in enumerate(variants):
        counts = [report.categories.get((c, variant), 0) for c in categories]
        positions = [y + i * height for y in range(len(categories))]
        ax.barh(positions, counts, height=height, label=variant)
    ax.set_yticks([y + 0.4 - height / 2 for y in range(len(categories))], categories, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("failure events")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Failures per category and variant")
    ax.legend(fontsize=8)
    return fig


def tools_figure(report: FailureReport) -> Figure | None:
    rows = [t for t in report.tools if t.calls]
    if not rows:
        return None
    fig = _figure(max(5.0, 1.6 + 1.0 * len(rows)), 3.4)
    ax = fig.add_subplot()
    rates = [t.error_rate or 0.0 for t in rows]
    below = [r - t.interval.low for r, t in zip(rates, rows, strict=True)]
    above = [t.interval.high - r for r, t in zip(rates, rows, strict=True)]
    ax.bar([t.tool for t in rows], rates, color="#E45756", yerr=[below, above], capsize=5)
    for x, t in enumerate(rows):
        ax.annotate(f"{t.errors}/{t.calls}", (x, 0.02), ha="center", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("failed calls")
    ax.set_title("Failed tool calls, 95% Wilson interval", fontsize=10)
    return fig


def removal_figure(report: FailureReport) -> Figure | None:
    rows = report.removals
    if not rows:
        return None
    fig = _figure(6.5, 1.2 + 0.6 * len(rows))
    ax = fig.add_subplot()
    labels = [f"without {c.removed_tool}" for c in rows]
    changes = [c.table.difference for c in rows]
    below = [d - c.interval.low for d, c in zip(changes, rows, strict=True)]
    above = [c.interval.high - d for d, c in zip(changes, rows, strict=True)]
    ax.errorbar(changes, labels, xerr=[below, above], fmt="o", capsize=5, color="#54A24B")
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_xlim(-1.05, 1.05)
    ax.set_xlabel(f"success change against {report.baseline} (95% Newcombe interval)")
    ax.set_title("Which tools can be removed")
    return fig


def write_plots(report: FailureReport, directory: Path) -> list[Path]:
    """Write the charts that have data as `<name>.png`; returns their paths."""
    if importlib.util.find_spec("matplotlib") is None:
        raise ConfigError("charts (--plot, --html) need matplotlib: pip install 'agentlab[eval]'")
    directory.mkdir(parents=True, exist_ok=True)
    makers = {
        "success": success_figure,
        "categories": categories_figure,
        "tools": tools_figure,
        "removal": removal_figure,
    }
    written = []
    for name in PLOTS:
        figure = makers[name](report)
        if figure is None:
            continue
        path = directory / f"{name}.png"
        figure.savefig(path, metadata={"Software": None})
        written.append(path)
    return written
