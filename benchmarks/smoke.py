"""What every benchmark's `--smoke` mode shares.

`--smoke` runs a script end to end at tiny sizes on a replayed model (never the
embedded one, except `local_model.py`, which measures it and takes the smallest),
in seconds: it checks that the script still works, it measures nothing, and it
never writes docs/benchmarks.md. tests/test_benchmarks_smoke.py runs each script
this way as a real process, so a change that breaks a benchmark fails the tests.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agentlab.errors import TraceError
from agentlab.trace import read_ends, read_trace

HELP = "tiny sizes, replayed model: check the script runs (seconds); measures nothing"


def add_smoke(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--smoke", action="store_true", help=HELP)


def refuse_write(args: argparse.Namespace, *flags: str) -> None:
    """A smoke run's figures mean nothing: it must not write them into the docs."""
    given = [f for f in flags if getattr(args, f.lstrip("-").replace("-", "_"), False)]
    if args.smoke and given:
        raise SystemExit(f"--smoke measures nothing: it cannot be combined with {given[0]}")


def check_traces(folder: Path) -> int:
    """Parse every trace under `folder` against the typed events; returns how many.

    A smoke run ends with this, so a benchmark that writes traces proves they are
    current ones (the report and eval read nothing else). Files that do not start
    with a header (cassettes, suites) are not traces."""
    parsed = 0
    for path in sorted(folder.rglob("*.jsonl")):
        try:
            header, _ = read_ends(path)
            if header is None:
                continue
            read_trace(path)
        except TraceError as exc:
            raise SystemExit(f"smoke: a trace does not parse: {exc}") from None
        parsed += 1
    if not parsed:
        raise SystemExit(f"smoke: no trace was written under {folder}")
    print(f"smoke: {parsed} traces parse as typed events")
    return parsed
