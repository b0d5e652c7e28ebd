"""Naming a suite on the command line: a file, a shipped suite, or a benchmark adapter."""

from __future__ import annotations

from pathlib import Path

from agentlab.errors import ConfigError
from agentlab.eval.suite import Suite, load_suite, shipped_suites

ADAPTERS = ("humaneval", "bfcl:simple_python", "bfcl:multiple")


def open_suite(spec: str) -> Suite:
    """`path/to/suite.jsonl`, a shipped suite (`math`, `code`, `search`), `humaneval`,
    or `bfcl:CATEGORY` (`bfcl` alone is `bfcl:simple_python`)."""
    name, _, option = spec.partition(":")
    if not Path(spec).exists():
        if name == "humaneval" and not option:
            from agentlab.eval.adapters.humaneval import humaneval_suite

            return humaneval_suite()
        if name == "bfcl":
            from agentlab.eval.adapters.bfcl import bfcl_suite

            return bfcl_suite(option or "simple_python")
        if ":" in spec:
            raise ConfigError(f"unknown suite {spec!r}; adapters: {', '.join(ADAPTERS)}")
    try:
        return load_suite(spec)
    except ConfigError as exc:
        if Path(spec).exists() or "/" in spec:
            raise
        raise ConfigError(
            f"{exc}. Suites: a .jsonl/.yaml file, shipped ({', '.join(shipped_suites())}), "
            f"or {', '.join(ADAPTERS)}"
        ) from None
