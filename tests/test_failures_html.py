"""The HTML report is one self-contained file that a browser renders with its tables and plots.

Headless Chromium from Debian's packages (`make test` installs it) takes a screenshot;
the test counts the plots' and the tables' colours in the picture.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from matplotlib.image import imread
from support import finish, plan, step, write_cassette

from agentlab.eval import EvalSettings, Evaluation, cassette_path
from agentlab.eval.report import build_report, render_html, write_plots
from agentlab.eval.suite import Suite, Task

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)
BAR_BLUE = (0x4C, 0x78, 0xA8)  # the baseline's bar in the success plot

SUITE = Suite(
    name="html",
    tasks=tuple(
        Task(id=f"t{i}", prompt=f"What is {i}*3?", tools=("calculator",), answer=str(i * 3))  # type: ignore[call-arg]
        for i in range(1, 7)
    ),
)


def report_file(tmp_path: Path) -> Path:
    root = tmp_path / "cassettes"
    for variant in ("full", "no-reflection", "no-calculator"):
        for task in SUITE.tasks:
            i = int(task.id[1:])
            path = cassette_path(root, variant, task.id)
            path.parent.mkdir(parents=True, exist_ok=True)
            if variant == "no-calculator":
                write_cassette(path, plan(), finish("I cannot compute that"))
            elif variant == "no-reflection":
                write_cassette(path, plan(step("s1", "calculator", expression=f"{i}*3")))
            else:
                answer = str(i * 3) if i % 3 else "0"
                write_cassette(
                    path, plan(step("s1", "calculator", expression=f"{i}*3")), finish(answer)
                )
    variants = ("full", "no-reflection", "no-calculator")
    Evaluation(
        SUITE, EvalSettings(variants=variants, out_dir=tmp_path / "runs", model=f"replay:{root}")
    ).run()
    report = build_report([tmp_path / "runs"])
    plots = write_plots(report, tmp_path / "plots")
    assert [p.name for p in plots] == ["success.png", "categories.png", "tools.png", "removal.png"]
    page = tmp_path / "report.html"
    page.write_text(render_html(report, report.tables(), plots), encoding="utf-8")
    return page


def test_html_is_self_contained(tmp_path: Path) -> None:
    html = report_file(tmp_path).read_text()
    assert html.count('<img alt="') == 4
    assert len(re.findall(r'src="data:image/png;base64,[A-Za-z0-9+/=]+"', html)) == 4
    assert not re.search(r'(src|href)="(?!data:)', html), "the page must not load anything"
    assert "<script" not in html
    assert html.count("<table>") == 7


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (make test installs it from Debian)")
def test_chromium_renders_the_tables_and_plots(tmp_path: Path) -> None:
    page = report_file(tmp_path)
    profile = tmp_path / "chromium-profile"
    common = [CHROMIUM or "chromium", *FLAGS, f"--user-data-dir={profile}"]
    shot = tmp_path / "shot.png"
    done = subprocess.run(
        [*common, f"--screenshot={shot}", "--window-size=1280,2400", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    pixels = (imread(shot)[:, :, :3] * 255).round().astype(int)
    assert pixels.shape[:2] == (2400, 1280)
    blue = ((abs(pixels - BAR_BLUE)).sum(axis=2) < 12).sum()
    assert blue > 2000, "the success plot's bars are not on the page"
    # Table borders (#d0d7de) are drawn too.
    border = ((abs(pixels - (0xD0, 0xD7, 0xDE))).sum(axis=2) < 6).sum()
    assert border > 1000
