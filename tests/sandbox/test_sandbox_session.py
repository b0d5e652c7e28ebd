"""A session keeps one namespace; runs return output, values, errors and files (Must show 1, 2)."""

from __future__ import annotations

import time

import pytest

from agentlab.sandbox import ExecStatus, SandboxError, Session

pytestmark = pytest.mark.docker

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_state_persists_and_a_plot_comes_back_as_png(session: Session) -> None:
    assert session.run("data = [3, 1, 2]\nscale = 10").ok
    second = session.run("total = sum(data) * scale\nprint('total', total)")
    assert second.ok and second.stdout == "total 60\n"
    plot = session.run(
        "import matplotlib.pyplot as plt\n"
        "fig, ax = plt.subplots()\n"
        "ax.plot(data)\n"
        "fig.savefig('plot.png')\n"
        "total"
    )
    assert plot.ok, plot.error
    assert plot.result == "60"  # variables from both earlier runs are still there
    [png] = [f for f in plot.files if f.path == "plot.png"]
    assert png.data is not None and png.data.startswith(PNG_MAGIC)
    assert png.size == len(png.data) > 1000


def test_last_expression_streams_and_subprocess_output(session: Session) -> None:
    result = session.run(
        "import sys, subprocess\n"
        "print('out')\n"
        "print('err', file=sys.stderr)\n"
        "subprocess.run(['echo', 'from a child'])\n"
        "{'a': 1}"
    )
    assert result.ok
    assert result.stdout == "out\nfrom a child\n"
    assert result.stderr == "err\n"
    assert result.result == "{'a': 1}"
    assert session.run("None").result is None


def test_an_exception_keeps_the_namespace(session: Session) -> None:
    session.run("kept = 'yes'")
    failed = session.run("print('before')\nx = 1\nx / 0")
    assert failed.status is ExecStatus.ERROR and not failed.state_lost
    assert failed.error is not None and failed.error.type == "ZeroDivisionError"
    assert "x / 0" in failed.error.traceback  # the offending line is shown
    assert "kernel.py" not in failed.error.traceback  # the kernel's frames are not
    assert failed.stdout == "before\n"
    assert session.run("kept").result == "'yes'"
    syntax = session.run("def broken(:")
    assert syntax.status is ExecStatus.ERROR and syntax.error is not None
    assert syntax.error.type == "SyntaxError"
    exited = session.run("import sys; sys.exit(3)")
    assert exited.status is ExecStatus.ERROR and exited.error is not None
    assert exited.error.type == "SystemExit"
    assert session.run("kept").result == "'yes'"


def test_timeout_stops_the_run_and_the_session_recovers(session: Session) -> None:
    session.run("before = 1")
    started = time.monotonic()
    result = session.run("while True: pass", timeout=2)
    elapsed = time.monotonic() - started
    assert elapsed < 30, "the run was not stopped"  # generous: only catches a hang
    assert result.status is ExecStatus.TIMEOUT
    assert result.state_lost and not result.container_replaced
    assert 2 <= result.duration_s < 10
    after = session.run("print('next run works')")
    assert after.ok and after.stdout == "next run works\n"
    lost = session.run("before")
    assert lost.status is ExecStatus.ERROR and lost.error is not None
    assert lost.error.type == "NameError"  # the result said so: variables are gone


def test_files_written_by_earlier_runs_survive_a_timeout(session: Session) -> None:
    session.run("open('notes.csv', 'w').write('a,b\\n1,2\\n')")
    session.run("import time\nwhile True: time.sleep(0.1)", timeout=1)
    files = {f.path: f.data for f in session.files()}
    assert files == {"notes.csv": b"a,b\n1,2\n"}


def test_only_changed_files_are_returned(session: Session) -> None:
    first = session.run("import os\nos.makedirs('out')\nopen('out/a.txt', 'w').write('a')")
    assert [f.path for f in first.files] == ["out/a.txt"]
    second = session.run("open('b.txt', 'w').write('b')")
    assert [f.path for f in second.files] == ["b.txt"]


def test_a_closed_session_refuses_runs(session: Session) -> None:
    session.close()
    session.close()  # idempotent
    with pytest.raises(SandboxError, match="closed"):
        session.run("1")
